"""Test-only ``tts``: the real contract, a tone instead of a voice, and injectable faults.

Audio: 40 ms of a 440 Hz tone per character of text, 16 kHz, in 0.4 s chunks, then an empty FINAL.
Faults (``tts`` in the control file, replies only): ``raise_after:N`` raises inside the model after N
chunks (the shell turns it into an error response, as model_repository/tts does); ``hang_after:N``
sends nothing more until the client cancels. The log says ``tts: request '<id>' ...`` for each.
"""

import os
import sys
import time

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from control import read_control

from serving.python_backend import RequestThreads

RATE = 16_000
CHUNK = RATE * 2 // 5
FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
WORKERS = 8  # requests at once: more than a fault test's calls have in flight


class InjectedFault(RuntimeError):
    pass


def _tensor(name, value):
    return pb_utils.Tensor(name, value)


class TritonPythonModel:
    def initialize(self, args):
        # The real model's request threads, so its metrics (how each request ended) are the real ones.
        self.threads = RequestThreads("tts", WORKERS)
        pb_utils.Logger.log_info("fault tts ready")

    def execute(self, requests):
        self.threads.submit(requests, self._serve)
        return None

    def finalize(self):
        self.threads.shutdown()

    def _serve(self, request, sender):
        rid = request.request_id()
        try:
            self._speak(request, sender, rid)
        except InjectedFault as exc:
            pb_utils.Logger.log_info(f"tts: request '{rid}' failed: {exc}")
            error = pb_utils.TritonError(f"tts: {exc}", pb_utils.TritonError.INTERNAL)
            sender.send(pb_utils.InferenceResponse(error=error), flags=FINAL)

    def _speak(self, request, sender, rid):
        text = pb_utils.get_input_tensor_by_name(request, "text").as_numpy().reshape(-1)[0]
        text = text.decode() if isinstance(text, bytes) else str(text)
        fault = "ok" if rid.startswith("line-") else str(read_control().get("tts", "ok"))
        kind, _, count = fault.partition("_after:")
        limit = int(count) if count else -1
        samples = len(text) * RATE * 40 // 1000
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / RATE)).astype(np.float32)
        sent = 0
        for start in range(0, samples, CHUNK):
            if sent == limit and kind == "raise":
                raise InjectedFault(f"injected failure after {sent} chunks")
            if sent == limit and kind == "hang":
                pb_utils.Logger.log_info(f"tts: request '{rid}' hangs after {sent} chunks")
                while not request.is_cancelled():
                    time.sleep(0.05)
            if request.is_cancelled():
                error = pb_utils.TritonError("cancelled", pb_utils.TritonError.CANCELLED)
                sender.send(pb_utils.InferenceResponse(error=error), flags=FINAL)
                pb_utils.Logger.log_info(f"tts: request '{rid}' cancelled after {sent} chunks")
                return
            outputs = [
                _tensor("audio", tone[start : start + CHUNK]),
                _tensor("sample_rate", np.array([RATE], dtype=np.int32)),
                _tensor("text_start", np.array([0], dtype=np.int32)),
                _tensor("text_end", np.array([len(text)], dtype=np.int32)),
            ]
            sender.send(pb_utils.InferenceResponse(output_tensors=outputs))
            sent += 1
            time.sleep(0.05)
        sender.send(flags=FINAL)
        pb_utils.Logger.log_info(f"tts: request '{rid}' finished after {sent} chunks")
