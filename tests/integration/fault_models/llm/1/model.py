"""Test-only ``llm``: the vLLM-backend contract with a fixed streamed answer (see ../config.pbtxt).

One response per word (``text_output``, ``finish_reason`` "None"), the last with ``stop``, then FINAL.
A cancelled request stops at the next word with a CANCELLED error.
"""

import os
import sys
import threading
import time

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from control import read_control

ANSWER = "We open at nine in the morning. Is there anything else I can help you with today?"
FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


def _response(text, reason):
    return pb_utils.InferenceResponse(
        output_tensors=[
            pb_utils.Tensor("text_output", np.array([text.encode()], dtype=np.object_)),
            pb_utils.Tensor("finish_reason", np.array([reason.encode()], dtype=np.object_)),
        ]
    )


class TritonPythonModel:
    def initialize(self, args):
        pb_utils.Logger.log_info("fault llm ready")

    def execute(self, requests):
        for request in requests:
            threading.Thread(target=self._serve, args=(request,), daemon=True).start()
        return None

    def _serve(self, request):
        sender = request.get_response_sender()
        control = read_control()
        time.sleep(float(control.get("llm_first_token_delay_s", 0.0)))
        words = ANSWER.split(" ")
        for index, word in enumerate(words):
            if request.is_cancelled():
                error = pb_utils.TritonError("cancelled", pb_utils.TritonError.CANCELLED)
                sender.send(pb_utils.InferenceResponse(error=error), flags=FINAL)
                pb_utils.Logger.log_info(f"llm request '{request.request_id()}' ended: cancelled")
                return
            last = index == len(words) - 1
            sender.send(_response(word if index == 0 else " " + word, "stop" if last else "None"))
            time.sleep(0.02)
        sender.send(flags=FINAL)
        pb_utils.Logger.log_info(f"llm request '{request.request_id()}' ended: finish")
