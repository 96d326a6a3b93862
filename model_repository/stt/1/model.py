"""Triton shell of the speech-to-text model (faster-whisper, decoupled, Python backend).

Contract (see docs/ARCHITECTURE.md):
  inputs   audio            FP32   [N]  16 kHz mono utterance, 0 < N <= max_audio_s * 16000
           sample_rate      INT32  [1]  must be 16000
           language         BYTES  [1]  optional, e.g. "en"
           prompt           BYTES  [1]  optional, previous turns' text
  outputs  text             BYTES  [1]  one response per transcribed segment
           start, end       FP32   [1]  seconds into the audio
           avg_logprob      FP32   [1]
           no_speech_prob   FP32   [1]
           words            BYTES  [W]  word timestamps: text, start, end, probability per word
           word_start       FP32   [W]
           word_end         FP32   [W]
           word_probability FP32   [W]
Each request gets zero or more segment responses, then an empty response with the FINAL flag. Bad
input gets one error response (INVALID_ARG) with FINAL; a cancelled request stops before its next
segment and ends with a CANCELLED error. Requests run in their own threads, so a long utterance does
not hold up the others (see serving/stt_engine.py on CTranslate2's workers). Each worker transcribes
~1 s of quiet noise when the model loads (warm-up): the first caller is served as fast as the later
ones, and a model the device cannot run (e.g. CUDA libraries missing) fails to load instead of failing
its first caller.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from serving.model_parameters import read_options
from serving.python_backend import FINAL, RequestThreads, error_response
from serving.stt_engine import SttEngine, SttInputError, SttOptions, validate_request


def _optional_text(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    values = tensor.as_numpy().reshape(-1)
    if values.size == 0:
        return None
    value = values[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _error(message, code=None):
    return error_response("stt", message, code)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        if not pb_utils.using_decoupled_model_transaction_policy(config):
            raise pb_utils.TritonModelException("stt must use the decoupled transaction policy")
        try:
            self.options = read_options(config, SttOptions)
        except ValueError as exc:
            raise pb_utils.TritonModelException(str(exc)) from None
        self.engine = SttEngine(self.options)
        try:
            self.engine.warm_up()
        except Exception as exc:
            raise pb_utils.TritonModelException(f"stt: warm-up failed: {exc!r}") from exc
        # More threads than CTranslate2 workers would only queue inside CTranslate2.
        self.threads = RequestThreads("stt", self.options.num_workers)
        pb_utils.Logger.log_info(f"stt ready (warmed up): {self.options}")

    def execute(self, requests):
        self.threads.submit(requests, self._transcribe)
        return None

    def _transcribe(self, request, sender):
        audio = pb_utils.get_input_tensor_by_name(request, "audio").as_numpy()
        rate = pb_utils.get_input_tensor_by_name(request, "sample_rate").as_numpy().reshape(-1)
        try:
            stt_request = validate_request(
                audio,
                int(rate[0]) if rate.size else 0,
                _optional_text(request, "language"),
                _optional_text(request, "prompt"),
                self.options,
            )
        except SttInputError as exc:
            sender.send(_error(str(exc)), flags=FINAL)
            return
        for sent, segment in enumerate(self.engine.transcribe(stt_request)):
            if request.is_cancelled():
                pb_utils.Logger.log_info(
                    f"stt: request {request.request_id()!r} cancelled after {sent} segments"
                )
                sender.send(_error("cancelled", pb_utils.TritonError.CANCELLED), flags=FINAL)
                return
            sender.send(self._segment_response(segment))
        sender.send(flags=FINAL)

    @staticmethod
    def _segment_response(segment):
        words = segment.words
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("text", np.array([segment.text.encode()], dtype=np.object_)),
                pb_utils.Tensor("start", np.array([segment.start], dtype=np.float32)),
                pb_utils.Tensor("end", np.array([segment.end], dtype=np.float32)),
                pb_utils.Tensor("avg_logprob", np.array([segment.avg_logprob], dtype=np.float32)),
                pb_utils.Tensor(
                    "no_speech_prob", np.array([segment.no_speech_prob], dtype=np.float32)
                ),
                pb_utils.Tensor(
                    "words", np.array([w.text.encode() for w in words], dtype=np.object_)
                ),
                pb_utils.Tensor("word_start", np.array([w.start for w in words], dtype=np.float32)),
                pb_utils.Tensor("word_end", np.array([w.end for w in words], dtype=np.float32)),
                pb_utils.Tensor(
                    "word_probability", np.array([w.probability for w in words], dtype=np.float32)
                ),
            ]
        )

    def finalize(self):
        self.threads.shutdown()
        self.engine = None
