"""Triton Python-backend model ``turn_detector``: Smart Turn v3.2 on the caller's voice at a pause.

Tensor contract (decoupled):
  inputs   audio        FP32  [N]  16 kHz mono, the caller's last <= 8 s (N <= 128000), ending at the pause
           sample_rate  INT32 [1]  must be 16000
  outputs  probability  FP32  [1]  P(the caller's turn is complete)
Each request gets one response, flagged FINAL. Bad input gets one
INVALID_ARG error response with FINAL; a request cancelled before it is scored ends with CANCELLED.
The model scores one second of silence when it loads (warm-up).
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from serving.model_parameters import read_options
from serving.python_backend import FINAL, RequestThreads, error_response
from serving.turn_detector_engine import RATE, TurnAudioError, TurnDetector, TurnDetectorOptions


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        if not pb_utils.using_decoupled_model_transaction_policy(config):
            raise pb_utils.TritonModelException("turn_detector must be decoupled")
        try:
            self.options = read_options(config, TurnDetectorOptions)
            self.engine = TurnDetector(self.options)
            self.engine.probability(np.zeros(RATE, dtype=np.float32))  # warm-up
        except Exception as exc:
            raise pb_utils.TritonModelException(f"turn_detector: {exc}") from exc
        self.threads = RequestThreads("turn_detector", self.options.num_workers)
        pb_utils.Logger.log_info(f"turn_detector ready (warmed up): {self.options}")

    def execute(self, requests):
        self.threads.submit(requests, self._score)
        return None

    def _score(self, request, sender):
        audio = pb_utils.get_input_tensor_by_name(request, "audio").as_numpy()
        rate = pb_utils.get_input_tensor_by_name(request, "sample_rate").as_numpy().reshape(-1)
        if rate.size != 1 or int(rate[0]) != RATE:
            sender.send(error_response("turn_detector", f"sample_rate must be {RATE}"), flags=FINAL)
            return
        if request.is_cancelled():
            sender.send(
                error_response("turn_detector", "cancelled", pb_utils.TritonError.CANCELLED),
                flags=FINAL,
            )
            return
        try:
            probability = self.engine.probability(audio)
        except TurnAudioError as exc:
            sender.send(error_response("turn_detector", str(exc)), flags=FINAL)
            return
        tensor = pb_utils.Tensor("probability", np.array([probability], dtype=np.float32))
        sender.send(pb_utils.InferenceResponse(output_tensors=[tensor]), flags=FINAL)

    def finalize(self):
        self.threads.shutdown()
        self.engine = None
