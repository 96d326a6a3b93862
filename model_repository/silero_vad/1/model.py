"""Triton shell of Silero VAD (decoupled, Python backend).

Contract (see docs/ARCHITECTURE.md):
  inputs   audio       FP32 [N*512]  16 kHz mono, 1 <= N <= max_windows
           state       FP32 [320]    optional; the previous response's next_state
  outputs  speech_prob FP32 [N]      speech probability per 32 ms window
           next_state  FP32 [320]    pass with the call's next request
Each request gets exactly one response, sent with the FINAL flag; bad input gets a response carrying an
error that says what is wrong, and the model keeps serving. The model processes one window when it
loads (warm-up): its first caller is served as fast as the later ones, and a model that cannot run
fails to load.
"""

import json

import triton_python_backend_utils as pb_utils

from serving.model_parameters import read_options
from serving.vad_engine import SileroVadEngine, VadInputError, VadOptions

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        if not pb_utils.using_decoupled_model_transaction_policy(config):
            raise pb_utils.TritonModelException(
                "silero_vad must use the decoupled transaction policy"
            )
        try:
            options = read_options(config, VadOptions)
        except ValueError as exc:
            raise pb_utils.TritonModelException(str(exc)) from None
        self.engine = SileroVadEngine(
            model_path=options.model_path,
            threads=options.threads,
            max_windows=options.max_windows,
        )
        try:
            self.engine.warm_up()
        except Exception as exc:
            raise pb_utils.TritonModelException(f"silero_vad: warm-up failed: {exc!r}") from exc
        pb_utils.Logger.log_info(f"silero_vad ready (warmed up): {options}")

    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            if request.is_cancelled():
                error = pb_utils.TritonError("cancelled", pb_utils.TritonError.CANCELLED)
                sender.send(pb_utils.InferenceResponse(error=error), flags=FINAL)
                continue
            sender.send(self._respond(request), flags=FINAL)
        return None

    def _respond(self, request):
        audio = pb_utils.get_input_tensor_by_name(request, "audio").as_numpy()
        state = pb_utils.get_input_tensor_by_name(request, "state")
        try:
            probs, next_state = self.engine.process(
                audio, None if state is None else state.as_numpy()
            )
        except VadInputError as exc:
            error = pb_utils.TritonError(f"silero_vad: {exc}", pb_utils.TritonError.INVALID_ARG)
            return pb_utils.InferenceResponse(error=error)
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("speech_prob", probs),
                pb_utils.Tensor("next_state", next_state),
            ]
        )

    def finalize(self):
        self.engine = None
