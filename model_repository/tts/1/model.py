"""Triton shell of the text-to-speech model (CSM-1B or Piper, decoupled, Python backend).

Contract (see docs/ARCHITECTURE.md):
  inputs   text                  BYTES [1]  1..max_text_chars characters
           speaker_id            INT32 [1]  optional, default 0
           context_text          BYTES [T]  optional: previous turns, oldest first
           context_speaker       INT32 [T]
           context_audio         FP32  [S]  the turns' audio, concatenated
           context_audio_lengths INT32 [T]  samples of each turn in context_audio
           context_sample_rate   INT32 [1]
  outputs  audio                 FP32  [N]  one chunk; the first is short (first_chunk_frames x 80 ms)
           sample_rate           INT32 [1]
           text_start, text_end  INT32 [1]  the character span of `text` this chunk voices
Each request gets one or more audio responses, then an empty response with the FINAL flag. Bad input
gets one INVALID_ARG error response with FINAL. A cancelled request stops within one frame (CSM) or one
chunk (Piper) and ends with a CANCELLED error; Triton's metrics count how requests ended and the
responses sent (cc_model_requests_ended{model,outcome}, cc_model_responses: serving/python_backend.py),
and the server log says how many chunks it had sent ("tts: request <id> cancelled after <n> chunks").
The model synthesises one short sentence when it loads (warm-up): the first caller is served as fast
as the later ones, and an engine the device cannot run fails to load.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from serving.model_parameters import read_options
from serving.python_backend import FINAL, RequestThreads, error_response
from serving.tts.contract import TtsInputError, TtsOptions, validate_request, warm_up
from serving.tts.engines import build_engine


def _values(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy().reshape(-1)


def _texts(values):
    if values is None:
        return []
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def _ints(values):
    return [] if values is None else [int(v) for v in values]


def _error(message, code=None):
    return error_response("tts", message, code)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        if not pb_utils.using_decoupled_model_transaction_policy(config):
            raise pb_utils.TritonModelException("tts must use the decoupled transaction policy")
        try:
            self.options = read_options(config, TtsOptions)
        except ValueError as exc:
            raise pb_utils.TritonModelException(str(exc)) from None
        self.engine = build_engine(self.options)
        try:
            warm_up(self.engine)
        except Exception as exc:
            raise pb_utils.TritonModelException(f"tts: warm-up failed: {exc!r}") from exc
        self.threads = RequestThreads("tts", self.options.max_concurrent)
        pb_utils.Logger.log_info(
            f"tts ready ({self.options.engine.value}, {self.engine.sample_rate} Hz, warmed up): "
            f"{self.options}"
        )

    def execute(self, requests):
        self.threads.submit(requests, self._synthesize)
        return None

    def _parse(self, request):
        texts = _texts(_values(request, "text"))
        speaker = _ints(_values(request, "speaker_id"))
        context_audio = _values(request, "context_audio")
        rate = _ints(_values(request, "context_sample_rate"))
        return validate_request(
            text=texts[0] if texts else "",
            speaker_id=speaker[0] if speaker else 0,
            context_text=_texts(_values(request, "context_text")),
            context_speaker=_ints(_values(request, "context_speaker")),
            context_audio=np.zeros(0, np.float32) if context_audio is None else context_audio,
            context_audio_lengths=_ints(_values(request, "context_audio_lengths")),
            context_sample_rate=rate[0] if rate else 0,
            engine_sample_rate=self.engine.sample_rate,
            options=self.options,
        )

    def _synthesize(self, request, sender):
        request_id = request.request_id()
        try:
            tts_request = self._parse(request)
        except TtsInputError as exc:
            sender.send(_error(str(exc)), flags=FINAL)
            return
        sent = 0
        for chunk in self.engine.synthesize(tts_request, request.is_cancelled):
            if request.is_cancelled():
                break
            sender.send(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("audio", chunk.samples.astype(np.float32, copy=False)),
                        pb_utils.Tensor("sample_rate", np.array([chunk.sample_rate], np.int32)),
                        pb_utils.Tensor("text_start", np.array([chunk.span.start], np.int32)),
                        pb_utils.Tensor("text_end", np.array([chunk.span.end], np.int32)),
                    ]
                )
            )
            sent += 1
        if request.is_cancelled():
            pb_utils.Logger.log_info(f"tts: request {request_id!r} cancelled after {sent} chunks")
            sender.send(_error("cancelled", pb_utils.TritonError.CANCELLED), flags=FINAL)
            return
        pb_utils.Logger.log_info(f"tts: request {request_id!r} finished after {sent} chunks")
        sender.send(flags=FINAL)

    def finalize(self):
        self.threads.shutdown()
        close = getattr(self.engine, "close", None)  # csm: its frame loop's thread
        if close is not None:
            close()
        self.engine = None
