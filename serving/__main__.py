"""``python -m serving``: run tritonserver with our model repository until Ctrl-C.

Examples::

    python -m serving                       # every model in model_repository/, production settings
    python -m serving --profile cpu         # the same models on this machine's CPU (see serving/profiles.py)
    python -m serving --models silero_vad   # just the VAD
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from serving.launcher import TritonLaunchError, TritonServer
from serving.paths import MODEL_REPOSITORY
from serving.profiles import PROFILES, build_profile, server_options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__.splitlines()[0])
    parser.add_argument("--model-repository", type=Path, default=MODEL_REPOSITORY)
    parser.add_argument(
        "--profile", choices=PROFILES, default="production", help="model settings and weights"
    )
    parser.add_argument("--models", nargs="*", help="load only these models (default: all)")
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--log-verbose", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    if args.profile != "production":
        print(f"preparing the {args.profile} profile (weights, stand-in backends) ...", flush=True)
    options = server_options(
        build_profile(args.profile),
        args.model_repository,
        models=args.models,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        metrics_port=args.metrics_port,
        log_verbose=args.log_verbose,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with TritonServer(options) as server:
            print(f"tritonserver ready: gRPC {server.grpc_url}, log {server.log_path}", flush=True)
            while not stop.wait(1.0):
                if not server.is_running():
                    print(f"tritonserver exited; log {server.log_path}:\n{server.log_tail()}")
                    return 1
    except TritonLaunchError as exc:
        print(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
