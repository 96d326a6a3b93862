"""One gRPC connection to Triton per process, shared by every call.

``triton_url`` is ``host:port`` or several comma-separated addresses (``10.0.0.5:8001,10.0.0.6:8001``) or a gRPC
target such as ``dns:///triton-headless:8001``. With several addresses or a DNS name, gRPC's built-in
``round_robin`` policy spreads requests over every server and skips one that is down; each request is
self-contained (e.g. the VAD's state travels with the call), so any server can take any request.
"""

from __future__ import annotations

import tritonclient.grpc.aio as grpcclient_aio

# Keepalive notices a dead server within seconds instead of at the next request's timeout.
_CHANNEL_ARGS = [
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Reconnect soon after a restarted server is back: gRPC's default backoff grows to 120 s, and a
    # channel in backoff fails every request at once (VAD included) however long the server is up.
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


def grpc_target(triton_url: str) -> str:
    """``a:1,b:2`` -> ``ipv4:a:1,b:2`` (gRPC's multi-address syntax); anything else unchanged."""
    addresses = [a.strip() for a in triton_url.split(",") if a.strip()]
    if len(addresses) > 1:
        return "ipv4:" + ",".join(addresses)
    return triton_url


def connect(triton_url: str) -> grpcclient_aio.InferenceServerClient:
    """An async Triton client on one shared channel (close it with ``await client.close()``)."""
    return grpcclient_aio.InferenceServerClient(
        url=grpc_target(triton_url), channel_args=_CHANNEL_ARGS
    )
