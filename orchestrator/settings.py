"""All orchestrator settings, from environment variables (prefix ``CC_``) or a ``.env`` file.

Triton model settings are not here: they live in each model's ``config.pbtxt`` parameters, overridden by
``CC_MODEL_<MODEL>_<KEY>`` in tritonserver's environment (see serving/model_parameters.py).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.conversation.answer_guard import AnswerGuardParams
from orchestrator.conversation.phrase_chunker import ChunkerParams
from orchestrator.conversation.prompts import SPECIAL_TOKENS, PromptFormat
from orchestrator.conversation.speech_segmenter import SegmenterParams
from orchestrator.conversation.stt_prompt import SttPrompt
from orchestrator.conversation.tool_guidance import ToolChoice
from orchestrator.conversation.turn_taking import TurnParams
from orchestrator.edge_options import (
    MediaBudgetParams,
    OutboundOptions,
    ResamplerQuality,
    SessionOptions,
)
from orchestrator.triton.llm_client import LlmClient, SamplingOptions
from orchestrator.triton.turn_detector_client import TurnDetectorClient
from orchestrator.triton.vad_stream import MODEL_NAME as VAD_MODEL

# Where a setting feeds a package's params (orchestrator/params.py), its default is that package's.
_SEGMENTER = SegmenterParams()
_TURNS = TurnParams()
_CHUNKER = ChunkerParams()
_GUARD = AnswerGuardParams()
_SAMPLING = SamplingOptions()
_OUTBOUND = OutboundOptions()
_MEDIA = MediaBudgetParams()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CC_", env_file=".env", extra="ignore")

    # Triton
    triton_url: str = Field("127.0.0.1:8001", description="host:port of Triton's gRPC endpoint")
    vad_model: str = VAD_MODEL

    # Voice activity -> speech segments (see orchestrator/conversation/speech_segmenter.py)
    vad_threshold: float = Field(
        _SEGMENTER.threshold, ge=0.0, le=1.0, description="speech probability that opens speech"
    )
    vad_min_speech_ms: int = Field(
        _SEGMENTER.min_speech_ms, ge=0, description="speech shorter than this is ignored"
    )
    vad_pause_ms: int = Field(
        _SEGMENTER.pause_ms,
        ge=0,
        description="silence that closes a segment: the caller's words so far are transcribed and "
        "a reply prepared (held until the end of the turn is confirmed)",
    )

    # Turn-taking (see orchestrator/conversation/turn_taking.py)
    turn_end_short_ms: float = Field(
        _TURNS.end_of_turn.short_ms,
        ge=0,
        description="silence that ends the caller's turn when their words are a complete sentence",
    )
    turn_end_long_ms: float = Field(
        _TURNS.end_of_turn.long_ms,
        ge=0,
        description="silence that ends the turn when the words stop mid-thought ('and', 'my email is')",
    )
    turn_end_both_done_ms: float = Field(
        _TURNS.end_of_turn.both_done_ms,
        ge=0,
        description="silence that ends the turn when the words are complete and the audio "
        "end-of-turn model hears the caller done too",
    )
    turn_end_audio_done: float = Field(
        _TURNS.end_of_turn.audio_done,
        ge=0.0,
        le=1.0,
        description="the audio end-of-turn model's P(done) at or above which the voice says done",
    )
    turn_end_audio_more: float = Field(
        _TURNS.end_of_turn.audio_more,
        ge=0.0,
        le=1.0,
        description="P(done) below which the voice says more is coming (the turn waits longer)",
    )
    turn_detector_enabled: bool = Field(
        _TURNS.hear_turn_end,
        description="ask the audio end-of-turn model (Triton's turn_detector) at each pause; off: "
        "the words alone decide",
    )
    turn_detector_model: str = Field(
        TurnDetectorClient.model_name,
        description="Triton model name of the audio end-of-turn model",
    )
    turn_interrupt_min_speech_ms: float = Field(
        _TURNS.interrupt_min_speech_ms,
        ge=0,
        description="caller speech over the agent this long clears its audio (0: as soon as the "
        "VAD confirms speech); the transcript then decides between cancel and resume",
    )
    turn_interrupt_min_confidence: float = Field(
        _TURNS.interrupt_min_confidence,
        ge=0.0,
        le=1.0,
        description="over the agent, a transcript of a few words with a lower mean word probability "
        "is taken for noise (the STT's guess at an 'mm-hmm' or a cough) and the reply resumes",
    )
    turn_backchannel_words: list[str] = Field(
        default_factory=lambda: sorted(_TURNS.backchannel_words),
        description="a transcript of only these over the agent is a false interruption",
    )
    turn_goodbye_phrases: list[str] = Field(
        default_factory=lambda: list(_TURNS.goodbye_phrases),
        description="an utterance ending with one of these ends the call (closing line)",
    )
    turn_transcription_timeout_ms: float = Field(
        _TURNS.transcription_timeout_ms, gt=0, description="STT deadline per utterance"
    )
    turn_first_audio_timeout_ms: float = Field(
        _TURNS.first_audio_timeout_ms,
        gt=0,
        description="reply requested -> first audio out, else apology",
    )
    turn_silence_timeout_ms: float = Field(
        _TURNS.silence_timeout_ms,
        gt=0,
        description="caller silent this long -> closing line and hang-up",
    )
    turn_closing_timeout_ms: float = Field(
        _TURNS.closing_timeout_ms,
        gt=0,
        description="hang up even if the closing line never finishes",
    )
    greeting_text: str = Field(
        "Hello! How can I help you today?", description="said at call start; empty: no greeting"
    )
    apology_text: str = Field(
        "Sorry, I had a problem there. Could you say that again?",
        description="said when STT, LLM or TTS fails mid-turn",
    )
    closing_text: str = Field(
        "Thank you for calling. Goodbye!", description="said before hanging up"
    )
    fallback_text: str = Field(
        "Sorry, we can't take your call right now. Please try again later. Goodbye.",
        description="said when the models are unreachable at call start",
    )

    stt_prompt: SttPrompt = Field(
        SttPrompt.CALLER,
        description="the earlier turns Whisper is prompted with: none, caller (the caller's "
        "only), full (the agent's too; a small Whisper copies them into the caller's transcript)",
    )

    # LLM (see orchestrator/triton/llm_client.py; the model is served by Triton's vLLM backend)
    llm_model: str = Field(LlmClient.model_name, description="Triton model name of the LLM")
    llm_system_prompt: str = Field(
        "You are a friendly phone assistant. Answer in one or two short spoken sentences, "
        "without lists, markdown or emojis.",
        description="folded into the first user turn (Gemma has no system role)",
    )
    llm_max_tokens: int = Field(
        _SAMPLING.max_tokens, ge=1, description="cap on the tokens of one agent turn"
    )
    llm_min_tokens: int = Field(
        _SAMPLING.min_tokens,
        ge=0,
        description="answers run at least this many tokens (benchmarks, tests); 0: off",
    )
    llm_temperature: float = Field(_SAMPLING.temperature, ge=0.0, le=2.0, description="0 = greedy")
    llm_top_p: float = Field(_SAMPLING.top_p, gt=0.0, le=1.0)
    llm_repetition_penalty: float = Field(
        _SAMPLING.repetition_penalty,
        gt=0.0,
        description="vLLM repetition_penalty (1: off; >1 discourages tokens already in the text)",
    )
    llm_frequency_penalty: float = Field(
        _SAMPLING.frequency_penalty, ge=-2.0, le=2.0, description="vLLM frequency_penalty"
    )
    llm_presence_penalty: float = Field(
        _SAMPLING.presence_penalty, ge=-2.0, le=2.0, description="vLLM presence_penalty"
    )
    llm_stop: list[str] = Field(
        default_factory=lambda: list(_SAMPLING.stop),
        description="generation stops before any of these texts (never a special token: those are "
        "not in the output text; each stop string delays every streamed delta by its length)",
    )
    llm_stop_token_ids: list[int] = Field(
        default_factory=lambda: list(_SAMPLING.stop_token_ids),
        description="generation stops at any of these token ids (the model's end-of-turn tokens)",
    )
    llm_system_prompt_file: str = Field(
        "", description="a persona file; when set, its text replaces llm_system_prompt"
    )
    # Tools during a call (see orchestrator/tools/catalog.py for the file)
    tools_file: str = Field(
        "",
        description="the persona's tools file (JSON: personas/restaurant_host.tools.json); empty: "
        "the agent only talks",
    )
    tools_allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost"],
        description="the only hosts a tool's webhook may reach (the caller never chooses a URL)",
    )
    tools_base_url: str = Field(
        "", description="replaces {base_url} in the tools file's webhook URLs"
    )
    tool_filler_ms: float = Field(
        700.0,
        ge=0,
        description="a tool not answered this long after the caller's turn ended: the filler line "
        "is spoken (never when the answer comes first)",
    )
    tool_result_max_chars: int = Field(
        1500, gt=20, description="a tool's answer is cut to this many characters for the prompt"
    )
    tool_max_rounds: int = Field(
        3, ge=1, le=8, description="tool calls one reply may make before it must answer"
    )
    tool_choice: ToolChoice = Field(
        ToolChoice.AUTO,
        description="auto: the model decides whether to call a tool; required: every reply's first "
        "round calls one (OpenAI's tool_choice=required: for a model too small to decide)",
    )
    tool_call_max_tokens: int = Field(
        128,
        ge=16,
        description="tokens a reply's round may add to llm_max_tokens for a tool call it writes",
    )
    tool_guided_decoding: bool = Field(
        True,
        description="constrain a call the model writes to a declared tool and its schema (vLLM "
        "structured outputs; ChatML only, see orchestrator/conversation/tool_guidance.py)",
    )
    transfer_number: str = Field(
        "",
        description="the number transfer_call dials (E.164); required when the tools file has "
        "transfer_call",
    )
    transfer_text: str = Field(
        "Let me put you through to a member of staff.",
        description="said before a transfer when the model said nothing first",
    )
    llm_prompt_format: PromptFormat = Field(
        PromptFormat.GEMMA,
        description="chat template the LLM was tuned on (chatml: the CPU profile's SmolLM2)",
    )
    llm_first_token_timeout_ms: float = Field(
        LlmClient.first_token_timeout_s * 1000,
        gt=0,
        description="no first token by then -> the turn fails (apology)",
    )

    # Phrase chunker: LLM text -> TTS requests (see orchestrator/conversation/phrase_chunker.py)
    chunk_first_min_words: int = Field(
        _CHUNKER.first_min_words,
        ge=1,
        description="the first chunk may end at a clause once it has this many words",
    )
    chunk_first_max_chars: int = Field(
        _CHUNKER.first_max_chars,
        ge=10,
        description="a first clause without punctuation is cut at a word after this",
    )
    chunk_min_chars: int = Field(
        _CHUNKER.min_chars, ge=1, description="later chunks end at a sentence after this"
    )
    chunk_max_chars: int = Field(
        _CHUNKER.max_chars,
        ge=20,
        description="a later chunk without punctuation is cut at a word after this",
    )
    # What of the answer is spoken (see orchestrator/conversation/answer_guard.py)
    answer_max_sentences: int = Field(
        _GUARD.max_sentences,
        ge=0,
        description="the answer ends after this many sentences (0: no limit); the LLM is stopped",
    )
    answer_repeat_min_words: int = Field(
        _GUARD.repeat_min_words,
        ge=1,
        description="a clause of this many words said twice in one answer ends it (a looping LLM)",
    )

    # Caller memory across calls (see orchestrator/memory/ and orchestrator/engine/caller_memory.py)
    memory_enabled: bool = Field(
        False,
        description="remember each caller across calls: a summary and facts written at hang-up, "
        "the last few loaded into the next call's prompt",
    )
    memory_database_url: str = Field(
        "",
        description="SQLAlchemy URL: sqlite:///path (one orchestrator) or "
        "postgresql+psycopg://user:password@host/db (several sharing callers); empty: "
        "<recordings_dir>/caller-memory.sqlite3",
    )
    memory_secret: str = Field(
        "",
        description="key of the HMAC that turns a phone number into the stored caller key; "
        "required with memory_enabled (the database keeps no raw numbers)",
    )
    memory_recent_calls: int = Field(3, ge=1, le=20, description="earlier calls loaded, at most")
    memory_token_budget: int = Field(
        400, ge=50, description="estimated tokens of memory in the system prompt, at most"
    )
    memory_retention_days: int = Field(
        90, ge=1, description="memory older than this is deleted (checked hourly and at start)"
    )
    memory_summary_max_tokens: int = Field(
        160, ge=16, description="tokens the LLM may write for a call's summary and facts"
    )

    # Caller sentiment (see orchestrator/conversation/caller_sentiment.py)
    sentiment_enabled: bool = Field(True, description="score how each caller turn feels")
    sentiment_acknowledge_after: int = Field(
        2,
        ge=1,
        description="negative caller turns in a row after which the reply's prompt carries "
        "sentiment_instruction (once per run of negative turns)",
    )
    sentiment_instruction: str = Field(
        "The caller sounds frustrated. Briefly acknowledge it, and offer to have a person from the "
        "team call them back.",
        description="added to the reply's prompt after sentiment_acknowledge_after negative turns",
    )

    # Twilio edge (see orchestrator/app.py)
    twilio_account_sid: str = Field(
        "", description="Account SID for the REST client (outbound calls)"
    )
    twilio_auth_token: str = Field(
        "",
        description="checks the X-Twilio-Signature of webhooks and stream handshakes, signs REST "
        "calls; without it the app refuses to start unless twilio_allow_unsigned is set",
    )
    twilio_allow_unsigned: bool = Field(
        False,
        description="DEVELOPMENT ONLY: accept webhooks and stream handshakes without a valid "
        "signature (streams must still come through our TwiML); logged loudly at start-up",
    )
    stream_start_timeout_s: float = Field(
        5.0, gt=0, description="a media stream with no valid start by then is closed"
    )
    stream_grant_ttl_s: float = Field(
        600.0,
        gt=0,
        description="a stream URL we answered with must be opened within this long (outbound "
        "calls ring and pass answering-machine detection first)",
    )
    twilio_api_base_url: str = Field(
        "", description="replaces https://api.twilio.com for REST calls (a proxy or a test fake)"
    )
    twilio_from_number: str = Field("", description="caller ID for outbound calls (E.164)")
    public_base_url: str = Field(
        "", description="https URL Twilio reaches us at; signatures are checked against it"
    )
    api_bearer_token: str = Field(
        "", description="protects POST /calls; empty disables the endpoint"
    )
    machine_message: str = Field(
        "Hello, this is an automated call. We will try again later. Goodbye.",
        description="said after the beep when an outbound call's policy is leave_message",
    )
    required_models: list[str] = Field(
        default_factory=lambda: [VAD_MODEL], description="models /readyz requires ready"
    )
    readiness_timeout_s: float = Field(1.0, gt=0, description="deadline of /readyz's Triton checks")
    playout_chunk_ms: int = Field(
        _OUTBOUND.chunk_ms,
        ge=20,
        le=2000,
        description="outbound audio between two marks (playout precision)",
    )
    playout_max_lead_ms: int = Field(
        _OUTBOUND.max_lead_ms,
        ge=100,
        le=10_000,
        description="agent audio sent ahead of real time, at most",
    )
    outbound_queue_chunks: int = Field(
        _OUTBOUND.queue_chunks,
        ge=1,
        description="outbound chunks queued before send_audio waits (backpressure)",
    )
    resampler_quality: ResamplerQuality = Field(
        _OUTBOUND.resampler_quality,
        description="soxr quality of both directions; higher adds lag (soxr buffers blocks)",
    )
    max_message_bytes: int = Field(
        SessionOptions.max_message_bytes,
        ge=1024,
        description="larger WebSocket messages are dropped as oversized",
    )
    media_max_rate: float = Field(
        _MEDIA.max_rate,
        ge=1.0,
        description="caller audio above this multiple of real time (after a burst) is dropped",
    )
    media_flood_close_ms: float = Field(
        _MEDIA.close_after_dropped_ms,
        gt=0,
        description="a stream closed (1008) once this much of its audio was dropped as flooding",
    )
    max_concurrent_calls: int = Field(
        10, ge=1, description="calls beyond this are told so and hung up (webhook and stream)"
    )
    busy_text: str = Field(
        "Sorry, all our lines are busy right now. Please call again in a few minutes. Goodbye.",
        description="said (Twilio <Say>) to a call refused by max_concurrent_calls or draining",
    )
    shutdown_drain_s: float = Field(
        30.0,
        ge=0.0,
        description="on SIGTERM, refuse new calls and let active ones end for up to this long",
    )
    recordings_dir: str = Field("recordings", description="per-call stereo WAV + JSONL event log")
    recording_flush_ms: int = Field(
        SessionOptions.recording_flush_ms,
        ge=20,
        le=1000,
        description="recording files are flushed at least this often",
    )
    log_json: bool = Field(True, description="JSON log lines (False: plain text)")
    log_level: str = "INFO"

    @field_validator("llm_stop")
    @classmethod
    def _stop_strings_are_text(cls, stop: list[str]) -> list[str]:
        special = sorted(set(stop) & SPECIAL_TOKENS)
        if special:
            raise ValueError(
                f"{special} are special tokens: vLLM leaves them out of the text, so as stop strings "
                "they never match and only delay every streamed delta; put their ids in "
                "llm_stop_token_ids"
            )
        return stop


def system_prompt(settings: Settings) -> str:
    """The persona: the file's text when ``llm_system_prompt_file`` is set, else the setting."""
    if settings.llm_system_prompt_file:
        return Path(settings.llm_system_prompt_file).read_text(encoding="utf-8").strip()
    return settings.llm_system_prompt


# Names a file of CC_* lines under .env and the environment: a serving profile's orchestrator
# settings (scripts/serve.sh sets it to serving/cpu_orchestrator.env for the CPU profile).
SETTINGS_FILE_VAR = "CC_SETTINGS_FILE"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, then ``.env``, then the file ``CC_SETTINGS_FILE`` names."""
    profile = os.environ.get(SETTINGS_FILE_VAR)
    return Settings(_env_file=(profile, ".env") if profile else ".env")
