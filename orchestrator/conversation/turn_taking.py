"""Who has the floor: the call's turn-taking state machine. Pure; time comes in as monotonic ms.

``step(state, event, now_ms, params)`` returns the next :class:`TurnState` and the :class:`Action` s the
engine must carry out, in order. The engine feeds it the speech segmenter's events, what the models
report (transcripts, first audio, playback done, failures) and a :class:`Tick` every VAD window so
thresholds and timeouts are checked on the injected clock.

Phases::

    IDLE --call--> PROCESSING (greeting) --first audio--> SPEAKING --playback done--> LISTENING
    LISTENING --caller pauses--> PROCESSING (transcribe; speculative reply, held)
        --end of turn confirmed--> reply released --first audio--> SPEAKING
    SPEAKING --caller speaks >= interrupt_min_speech_ms--> INTERRUPTED (clear sent, reply held)
    INTERRUPTED --transcript with words--> reply cancelled, heard part committed, caller's words answered
    INTERRUPTED --no words / only backchannel--> SPEAKING (reply resumed where it was cut)
    goodbye / silence timeout / models down --> CLOSING (closing line) --playback done--> ENDED

The silence after the caller's last word does the work. The segmenter reports a *pause* (a short
silence, ``SpeechEnded``); the caller's turn so far is transcribed at once, and on the transcript the
reply starts (LLM, chunker, TTS) but is held: nothing reaches the caller or the history. How much
silence ends the turn depends on the words (:mod:`~orchestrator.conversation.end_of_turn`): a finished
question, a short wait; "my number is five five five", a long one. When the silence is long enough the
turn is confirmed: the user turn is committed and the held reply released, its audio usually ready.
With ``hear_turn_end`` the voice has a say too: the audio end-of-turn model is asked at each pause
(``HearTurnEnd``) and :mod:`~orchestrator.conversation.end_of_turn_fusion` weighs its verdict with the
words', so the wait shrinks when both hear the caller done and grows (never past the long silence)
when the voice hears more coming; the speculative reply still starts at the pause. If the caller speaks again first, the transcription and the speculative reply are cancelled and the
whole turn is transcribed again at the next pause.

Barge-in pauses before it cancels (livekit-agents' false-interruption handling): ``SendClear`` stops the
caller's audio as soon as their speech is confirmed while the reply keeps generating; only a transcript
with real words cancels it; a cough or an "uh-huh" resumes it from the first unheard word.

Events that do not apply to the current state (a stale id, a transcript nobody waits for) leave the
state unchanged and come back with ``ignored`` set to the reason, for the engine to log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import Enum

from orchestrator.conversation.end_of_turn import EndOfTurnParams, classify
from orchestrator.conversation.end_of_turn_fusion import turn_is_over
from orchestrator.conversation.speech_segmenter import (
    HYSTERESIS,
    SegmenterParams,
    SpeechEnded,
    SpeechStarted,
)


class Phase(Enum):
    IDLE = "idle"  # call not started
    LISTENING = "listening"  # the caller has the floor; nothing in flight for them
    PROCESSING = "processing"  # transcribing and/or composing a reply; no agent audio yet
    SPEAKING = "speaking"  # agent audio is playing
    INTERRUPTED = "interrupted"  # caller barged in: agent audio cleared, reply held until we know
    CLOSING = "closing"  # the closing line is playing; the call ends after it
    ENDED = "ended"


class CannedLine(Enum):
    """Pre-synthesised lines; their texts are settings (``greeting_text`` ...)."""

    GREETING = "greeting"
    APOLOGY = "apology"  # a stage failed or timed out mid-turn
    CLOSING = "closing"  # caller said goodbye, or stayed silent too long
    FALLBACK = "fallback"  # the models are unreachable at call start
    # Said by a reply, never ordered by the core: while a slow tool runs, and before a transfer the
    # model wrote no words for.
    FILLER = "filler"
    TRANSFER = "transfer"


class Ending(Enum):
    """How the agent ends the call when it decides to (a tool: ``end_call``, ``transfer_call``)."""

    HANG_UP = "hang_up"
    TRANSFER = "transfer"  # to a person: the call is redirected, not ended


# ---- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallStarted:
    models_ready: bool = True


@dataclass(frozen=True)
class Tick:
    """Time passed; thresholds and timeouts are checked against ``now_ms``. Sent after each VAD
    window with its speech probability: the segmenter reports the end of speech only after the
    end-of-turn silence, so the voiced length of speech in progress is tracked here."""

    speech_probability: float = 0.0


@dataclass(frozen=True)
class TranscriptReady:
    utterance_id: int
    text: str
    confidence: float = 1.0  # the STT's mean word probability


@dataclass(frozen=True)
class TurnEndHeard:
    """The audio end-of-turn model's verdict on utterance ``utterance_id``'s pause: the probability
    that the caller is done (``orchestrator.conversation.end_of_turn_fusion``), or None when the model
    could not say (an error or a timeout: the words decide alone)."""

    utterance_id: int
    probability: float | None


@dataclass(frozen=True)
class TranscriptionFailed:
    utterance_id: int


@dataclass(frozen=True)
class FirstAudioOut:
    """The reply's first audio went out to Twilio."""

    reply_id: int


@dataclass(frozen=True)
class PlaybackDone:
    """The reply is complete and its last mark came back: the caller heard all of it."""

    reply_id: int


@dataclass(frozen=True)
class ReplyFailed:
    """LLM or TTS error mid-reply (the engine's streams for it are already gone)."""

    reply_id: int


@dataclass(frozen=True)
class CallerHungUp:
    pass


@dataclass(frozen=True)
class DigitPressed:
    """A keypad key the caller pressed (DTMF): ``0``-``9``, ``*``, ``#``."""

    digit: str


@dataclass(frozen=True)
class CallEndRequested:
    """Reply ``reply_id`` ended the call (``end_call``) or handed it to a person (``transfer_call``):
    once it has played out, the call ends that way."""

    reply_id: int
    ending: Ending


Event = (
    CallStarted
    | Tick
    | SpeechStarted
    | SpeechEnded
    | TranscriptReady
    | TurnEndHeard
    | TranscriptionFailed
    | FirstAudioOut
    | PlaybackDone
    | ReplyFailed
    | CallerHungUp
    | DigitPressed
    | CallEndRequested
)

# ---- actions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartTranscription:
    """Transcribe the caller's turn so far (``speech`` spans it; the engine adds its pre-roll); answer
    with ``TranscriptReady``."""

    utterance_id: int
    speech: SpeechEnded


@dataclass(frozen=True)
class HearTurnEnd:
    """Ask the audio end-of-turn model whether the caller sounds done at this pause (their voice up to
    ``speech.detected_ms``); answer with ``TurnEndHeard``. Released with the utterance."""

    utterance_id: int
    speech: SpeechEnded


@dataclass(frozen=True)
class CancelTranscription:
    """The caller spoke again: the transcription of their turn so far is superseded."""

    utterance_id: int


@dataclass(frozen=True)
class CommitUserTurn:
    utterance_id: int  # the transcription it came from (the turn's timings are keyed by it)
    text: str


@dataclass(frozen=True)
class CommittedTurn:
    """A reply to the history as it stands, whose last turn is the caller's ``utterance_id``."""

    utterance_id: int


@dataclass(frozen=True)
class SpeculativeWords:
    """A reply to the caller's words ``text`` (utterance ``utterance_id``) before their turn is
    confirmed over: the prompt ends with them (they are not in the history), and the reply is held,
    generating and synthesising but sending nothing, until ``ReleaseReply``."""

    utterance_id: int
    text: str


@dataclass(frozen=True)
class StartReply:
    """LLM -> chunker -> TTS -> Twilio, answering what ``answers`` says."""

    reply_id: int
    answers: CommittedTurn | SpeculativeWords

    @property
    def utterance_id(self) -> int:
        return self.answers.utterance_id


@dataclass(frozen=True)
class ReleaseReply:
    """The end of the caller's turn is confirmed: send the speculative reply."""

    reply_id: int


@dataclass(frozen=True)
class SpeakLine:
    reply_id: int
    line: CannedLine


@dataclass(frozen=True)
class SendClear:
    """Twilio ``clear``; the engine snapshots the playout position as it sends it."""

    reply_id: int


@dataclass(frozen=True)
class CancelReply:
    """Cancel the reply's LLM and TTS streams on the server."""

    reply_id: int


@dataclass(frozen=True)
class ResumeReply:
    """False interruption: send the held reply again from the first word the caller did not hear."""

    reply_id: int


@dataclass(frozen=True)
class CommitAssistantTurn:
    """Store what the caller heard of the reply (all of it unless ``interrupted``)."""

    reply_id: int
    interrupted: bool


@dataclass(frozen=True)
class HangUp:
    pass


@dataclass(frozen=True)
class TransferCall:
    """The call's last action when it ends by a transfer: redirect it to the person (instead of
    ``HangUp``)."""


Action = (
    StartTranscription
    | HearTurnEnd
    | CancelTranscription
    | CommitUserTurn
    | StartReply
    | ReleaseReply
    | SpeakLine
    | SendClear
    | CancelReply
    | ResumeReply
    | CommitAssistantTurn
    | HangUp
    | TransferCall
)

# ---- params and state -----------------------------------------------------------------------------

_WORD = re.compile(r"[\w']+(?:-[\w']+)*")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class TurnParams:
    """Turn-taking thresholds. VAD probability, the minimum speech that opens a turn and the pause that
    closes a segment are the speech segmenter's (``segmenter``); the silence that ends a turn is
    ``end_of_turn``'s, judged from the words."""

    segmenter: SegmenterParams = field(default_factory=SegmenterParams)
    end_of_turn: EndOfTurnParams = field(default_factory=EndOfTurnParams)
    # Caller speech over the agent this long clears its audio (0: as soon as the VAD confirms speech).
    interrupt_min_speech_ms: float = 0.0
    # Over the agent, a transcript of a few words the STT is this unsure of is taken for noise: Whisper
    # guesses words into an "mm-hmm" or a cough ("in the month", "go").
    interrupt_min_confidence: float = 0.5
    interrupt_confidence_words: int = (
        3  # ... up to this many words (longer speech is an interruption)
    )
    # A transcript made only of these is a false interruption (and not a turn while the agent speaks).
    backchannel_words: frozenset[str] = frozenset(
        {"uh-huh", "uh", "huh", "mhm", "mm", "mmm", "hmm", "um", "mm-hmm"}
    )
    goodbye_phrases: tuple[str, ...] = ("bye", "goodbye", "bye-bye", "talk to you later")
    greet: bool = True
    # Ask the audio end-of-turn model at each pause (HearTurnEnd) and fuse its verdict with the words'.
    hear_turn_end: bool = False
    transcription_timeout_ms: float = 3_000.0
    first_audio_timeout_ms: float = 5_000.0  # reply requested -> first audio out
    silence_timeout_ms: float = 30_000.0  # caller silent this long while listening -> closing line
    closing_timeout_ms: float = 15_000.0  # closing line never finishes -> hang up anyway
    # Keypad digits become the caller's turn at this key, or after this long without another.
    digits_end_key: str = "#"
    digits_pause_ms: float = 3_000.0

    def has_words(self, text: str) -> bool:
        """Whether ``text`` says something beyond backchannel ("uh-huh") and noise."""
        return any(word not in self.backchannel_words for word in _words(text))

    def interrupts(self, text: str, confidence: float) -> bool:
        """Whether caller speech over the agent, transcribed as ``text``, says something: words
        beyond backchannel, and not a short guess the STT is unsure of."""
        if not self.has_words(text):
            return False
        short = len(_words(text)) <= self.interrupt_confidence_words
        return not short or confidence >= self.interrupt_min_confidence

    def is_goodbye(self, text: str) -> bool:
        """The utterance ends with a goodbye phrase ("ok, bye!"; not "I said goodbye to him")."""
        words = _words(text)
        return any(
            words[-len(phrase) :] == phrase
            for phrase in (_words(p) for p in self.goodbye_phrases)
            if phrase
        )


@dataclass(frozen=True)
class PendingTranscription:
    utterance_id: int
    requested_ms: float  # our clock
    speech: SpeechEnded  # what it transcribes, in call-audio ms


@dataclass(frozen=True)
class Reply:
    """The agent reply in flight: speculative (not released), requested, playing, or held by an
    interruption."""

    reply_id: int
    line: CannedLine | None  # None: an LLM answer
    requested_ms: (
        float  # when it was requested or released (the first-audio deadline runs from here)
    )
    audio_out: bool = False
    released: bool = True  # False: speculative, waiting for the end of the caller's turn
    utterance_id: int | None = None  # the caller's words it answers


@dataclass(frozen=True)
class CallerTurn:
    """What the caller has said since taking the floor, until the end of the turn is confirmed."""

    utterance_id: int  # the latest transcription of the turn
    speech: SpeechEnded  # the turn in call-audio ms: its first speech's onset to the last's end
    stopped_at_ms: float  # our clock: when the caller last stopped speaking
    transcript: str | None = None  # once that transcription is back
    # The audio end-of-turn model's P(done) once back; awaited (the turn waits for it, up to the long
    # end-of-turn silence) while ``audio_pending``.
    audio_done: float | None = None
    audio_pending: bool = False


@dataclass(frozen=True)
class CallerSpeech:
    """Caller speech in progress, on our clock: its onset and its last voiced window."""

    onset_ms: float
    voiced_until_ms: float

    @property
    def voiced_ms(self) -> float:
        return self.voiced_until_ms - self.onset_ms


@dataclass(frozen=True)
class TurnState:
    phase: Phase = Phase.IDLE
    reply: Reply | None = None
    # Transcriptions in flight, oldest first (the engine runs a call's transcriptions in order).
    pending: tuple[PendingTranscription, ...] = ()
    caller_speech: CallerSpeech | None = None  # set while the caller is speaking
    turn: CallerTurn | None = None  # the caller's turn, not yet confirmed over
    unanswered: int | None = (
        None  # the committed caller turn (its utterance) no reply was heard for
    )
    quiet_since_ms: float = 0.0  # last time the caller or the agent stopped talking
    next_id: int = 1
    digits: str = ""  # keypad digits the caller is entering, not yet a turn
    digit_at_ms: float = 0.0  # when the last one came
    ending: Ending | None = None  # CLOSING with the agent's own last reply: how the call ends


@dataclass(frozen=True)
class Step:
    state: TurnState
    actions: tuple[Action, ...] = ()
    ignored: str | None = None  # why the event changed nothing


def utterances_held(state: TurnState) -> frozenset[int]:
    """The caller's utterances the call still works on: transcriptions in flight, the unconfirmed
    turn, the committed turn no reply was heard for, the one the reply in flight answers. Whatever
    the engine keeps for any other utterance (its task, timing marks, voice analysis) is released."""
    held = {p.utterance_id for p in state.pending}
    if state.turn is not None:
        held.add(state.turn.utterance_id)
    if state.unanswered is not None:
        held.add(state.unanswered)
    if state.reply is not None and state.reply.utterance_id is not None:
        held.add(state.reply.utterance_id)
    return frozenset(held)


# ---- transitions ----------------------------------------------------------------------------------


def step(state: TurnState, event: Event, now_ms: float, params: TurnParams) -> Step:
    """Apply one event at ``now_ms`` (monotonic). Never raises for an event out of place."""
    if state.phase is Phase.ENDED:
        return Step(state, ignored="call ended")
    if isinstance(event, CallerHungUp):
        return _hung_up(state)
    if state.phase is Phase.IDLE:
        if isinstance(event, CallStarted):
            return _call_started(state, event, now_ms, params)
        return Step(state, ignored="call not started")
    if isinstance(event, CallStarted):
        return Step(state, ignored="call already started")
    if state.phase is Phase.CLOSING:
        return _closing(state, event, now_ms, params)
    match event:
        case DigitPressed():
            return _on_digit(state, event, now_ms, params)
        case CallEndRequested():
            return _on_call_end_requested(state, event, now_ms)
        case Tick():
            return _on_tick(state, event, now_ms, params)
        case SpeechStarted():
            return _on_speech_started(state, event, now_ms, params)
        case SpeechEnded():
            return _on_speech_ended(state, event, now_ms, params)
        case TranscriptReady():
            return _on_transcript(state, event, now_ms, params)
        case TurnEndHeard():
            return _on_turn_end_heard(state, event, now_ms, params)
        case TranscriptionFailed():
            return _on_transcription_failed(state, event, now_ms)
        case FirstAudioOut():
            return _on_first_audio(state, event, now_ms, params)
        case PlaybackDone():
            return _on_playback_done(state, event, now_ms)
        case ReplyFailed():
            return _on_reply_failed(state, event, now_ms)


def _call_started(state: TurnState, event: CallStarted, now_ms: float, params: TurnParams) -> Step:
    if not event.models_ready:
        return _close(state, CannedLine.FALLBACK, now_ms)
    if params.greet:
        return _speak_line(replace(state, quiet_since_ms=now_ms), CannedLine.GREETING, now_ms)
    return Step(replace(state, phase=Phase.LISTENING, quiet_since_ms=now_ms))


def _hung_up(state: TurnState) -> Step:
    actions: list[Action] = []
    if state.reply is not None:
        actions.append(CancelReply(state.reply.reply_id))
        if state.reply.audio_out:
            actions.append(CommitAssistantTurn(state.reply.reply_id, interrupted=True))
    ended = TurnState(phase=Phase.ENDED, next_id=state.next_id)
    return Step(ended, tuple(actions))


def _closing(state: TurnState, event: Event, now_ms: float, params: TurnParams) -> Step:
    """Caller speech and transcripts no longer matter; only the closing line's fate does."""
    reply = state.reply
    assert reply is not None  # CLOSING always has its line in flight
    if isinstance(event, PlaybackDone) and event.reply_id == reply.reply_id:
        heard = CommitAssistantTurn(reply.reply_id, interrupted=False)
        if reply.line is None and not reply.audio_out:  # the agent's last reply said nothing
            return _end(state)
        return _end(state, heard)
    if isinstance(event, ReplyFailed) and event.reply_id == reply.reply_id:
        return _end(state)
    if isinstance(event, FirstAudioOut) and event.reply_id == reply.reply_id:
        return Step(replace(state, reply=replace(reply, audio_out=True)))
    if isinstance(event, Tick) and now_ms - reply.requested_ms >= params.closing_timeout_ms:
        return _end(state, CancelReply(reply.reply_id))
    return Step(state, ignored="closing")


def _end(state: TurnState, *actions: Action) -> Step:
    last: Action = TransferCall() if state.ending is Ending.TRANSFER else HangUp()
    return Step(TurnState(phase=Phase.ENDED, next_id=state.next_id), (*actions, last))


def _on_tick(state: TurnState, event: Tick, now_ms: float, params: TurnParams) -> Step:
    heard = state
    # Voiced at the segmenter's "still speaking" level, so both agree on what speech is.
    voiced = event.speech_probability >= params.segmenter.threshold - HYSTERESIS
    if state.caller_speech is not None and voiced:
        state = replace(state, caller_speech=replace(state.caller_speech, voiced_until_ms=now_ms))
    for pending in state.pending:
        if now_ms - pending.requested_ms >= params.transcription_timeout_ms:
            return _transcription_failed(state, pending.utterance_id, now_ms)
    reply = state.reply
    if (
        reply is not None
        and reply.released
        and not reply.audio_out
        and now_ms - reply.requested_ms >= params.first_audio_timeout_ms
    ):
        return _reply_failed(state, reply, now_ms)
    if _caller_interrupts(state, params):
        return _caller_holds_floor(state, now_ms)
    if _turn_is_over(state, now_ms, params):
        return _confirm_turn(state, now_ms, params)
    if state.digits and now_ms - state.digit_at_ms >= params.digits_pause_ms:
        return _digits_entered(state, now_ms)
    if (
        state.phase is Phase.LISTENING
        and state.caller_speech is None
        and now_ms - state.quiet_since_ms >= params.silence_timeout_ms
    ):
        return _close(state, CannedLine.CLOSING, now_ms)
    return Step(state, ignored=None if state != heard else "nothing due")


def _on_speech_started(
    state: TurnState, event: SpeechStarted, now_ms: float, params: TurnParams
) -> Step:
    # The segmenter confirms speech after it has lasted a while; backdate to its onset on our clock.
    onset = now_ms - (event.confirmed_ms - event.onset_ms)
    speaking = replace(state, caller_speech=CallerSpeech(onset, now_ms))
    speaking, actions = _caller_resumed(speaking)
    if _caller_interrupts(speaking, params):
        held = _caller_holds_floor(speaking, now_ms)
        if held.ignored is None:
            return Step(held.state, (*actions, *held.actions))
    if not actions:
        return Step(speaking)
    return _settle(speaking, now_ms, actions)


def _caller_resumed(state: TurnState) -> tuple[TurnState, list[Action]]:
    """The caller speaks again before the end of their turn was confirmed: what was started for the
    turn so far is superseded (it is transcribed again, whole, at the next pause)."""
    turn = state.turn
    if turn is None:
        return state, []
    actions: list[Action] = []
    if any(p.utterance_id == turn.utterance_id for p in state.pending):
        actions.append(CancelTranscription(turn.utterance_id))
        state = _without_pending(state, turn.utterance_id)
    reply = state.reply
    if reply is not None and not reply.released:
        actions.append(CancelReply(reply.reply_id))
        state = replace(state, reply=None)
    resumed = replace(turn, transcript=None, audio_done=None, audio_pending=False)
    return replace(state, turn=resumed), actions


def _on_speech_ended(
    state: TurnState, event: SpeechEnded, now_ms: float, params: TurnParams
) -> Step:
    """A pause: transcribe the caller's turn so far at once (the turn may not be over)."""
    silent = replace(state, caller_speech=None, quiet_since_ms=now_ms)
    if event.duration_ms < params.interrupt_min_speech_ms and state.phase is Phase.SPEAKING:
        return Step(silent)  # a cough or an "uh-huh" over the agent: not a turn
    speech = event if state.turn is None else replace(event, onset_ms=state.turn.speech.onset_ms)
    utterance_id = silent.next_id
    turn = CallerTurn(
        utterance_id, speech, _stopped_at(speech, now_ms), audio_pending=params.hear_turn_end
    )
    transcribing = replace(
        silent,
        turn=turn,
        pending=(*silent.pending, PendingTranscription(utterance_id, now_ms, speech)),
        next_id=utterance_id + 1,
    )
    actions: list[Action] = []
    if event.duration_ms >= params.interrupt_min_speech_ms:
        # A threshold crossed between ticks still counts.
        held = _caller_holds_floor(transcribing, now_ms)
        transcribing, actions = held.state, list(held.actions)
    actions.append(StartTranscription(utterance_id, speech))
    if params.hear_turn_end:
        actions.append(HearTurnEnd(utterance_id, speech))
    return _settle(transcribing, now_ms, actions)


def _stopped_at(speech: SpeechEnded, detected_at_ms: float) -> float:
    """When, on our clock, the caller stopped: the segmenter saw it ``detected - end`` ms late."""
    return detected_at_ms - (speech.detected_ms - speech.end_ms)


def _caller_holds_floor(state: TurnState, now_ms: float) -> Step:
    """Caller speech long enough to matter: pause audio that is playing, drop a reply not yet heard."""
    reply = state.reply
    if reply is None or state.phase is Phase.INTERRUPTED:
        return Step(state, ignored="no reply to interrupt")
    if reply.audio_out:
        return Step(replace(state, phase=Phase.INTERRUPTED), (SendClear(reply.reply_id),))
    # Nothing heard yet: the caller is not done, so the reply would answer half a thought.
    return _settle(replace(state, reply=None), now_ms, [CancelReply(reply.reply_id)])


def _on_transcript(
    state: TurnState, event: TranscriptReady, now_ms: float, params: TurnParams
) -> Step:
    pending = next((p for p in state.pending if p.utterance_id == event.utterance_id), None)
    if pending is None:
        return Step(state, ignored="no such transcription pending")
    state = _without_pending(state, event.utterance_id)
    turn = state.turn
    reply = state.reply
    agent_audible = reply is not None and reply.audio_out
    # Over the agent's voice "uh-huh" is backchannel; asked a question, "mhm" is an answer.
    if agent_audible:
        says_something = params.interrupts(event.text, event.confidence)
    else:
        says_something = bool(_words(event.text))
    if not says_something:
        if turn is not None and turn.utterance_id == event.utterance_id:
            state = replace(state, turn=None)
        if state.phase is not Phase.INTERRUPTED or reply is None:
            return _settle(state, now_ms, [])
        if state.pending or state.caller_speech is not None:
            return Step(state)  # more caller speech to judge before resuming
        return Step(replace(state, phase=Phase.SPEAKING), (ResumeReply(reply.reply_id),))
    # Words supersede any reply in flight: it answered, at best, half of what the caller meant.
    actions = _drop_reply(state)
    state = replace(state, reply=None)
    # Words of an earlier utterance, whose turn is gone: theirs is the turn now, and long over.
    earlier = turn is None or turn.utterance_id != event.utterance_id
    if earlier:
        stopped_at = _stopped_at(pending.speech, pending.requested_ms)
        turn = CallerTurn(event.utterance_id, pending.speech, stopped_at)
    assert turn is not None
    state = replace(state, turn=replace(turn, transcript=event.text.strip()))
    if (earlier and state.caller_speech is None) or _turn_is_over(state, now_ms, params):
        confirmed = _confirm_turn(state, now_ms, params)
        return Step(confirmed.state, (*actions, *confirmed.actions))
    if state.caller_speech is not None or params.is_goodbye(event.text):
        return _settle(state, now_ms, actions)  # no point speculating on a goodbye
    reply_id = state.next_id
    speculative = Reply(reply_id, None, now_ms, released=False, utterance_id=event.utterance_id)
    state = replace(state, phase=Phase.PROCESSING, reply=speculative, next_id=reply_id + 1)
    words = SpeculativeWords(event.utterance_id, event.text.strip())
    actions.append(StartReply(reply_id, words))
    return Step(state, tuple(actions))


def _on_turn_end_heard(
    state: TurnState, event: TurnEndHeard, now_ms: float, params: TurnParams
) -> Step:
    turn = state.turn
    if turn is None or turn.utterance_id != event.utterance_id:
        return Step(state, ignored="no such turn waiting")
    heard = replace(turn, audio_done=event.probability, audio_pending=False)
    state = replace(state, turn=heard)
    if _turn_is_over(state, now_ms, params):
        return _confirm_turn(state, now_ms, params)
    return Step(state)


def _turn_is_over(state: TurnState, now_ms: float, params: TurnParams) -> bool:
    """The caller's words are transcribed, the audio model's verdict is in (or has been waited for as
    long as the longest end-of-turn silence) and the silence since is long enough for both."""
    turn = state.turn
    if turn is None or turn.transcript is None or state.caller_speech is not None:
        return False
    silence_ms = now_ms - turn.stopped_at_ms
    if turn.audio_pending and silence_ms < params.end_of_turn.long_ms:
        return False
    return turn_is_over(classify(turn.transcript), turn.audio_done, silence_ms, params.end_of_turn)


def _confirm_turn(state: TurnState, now_ms: float, params: TurnParams) -> Step:
    """The caller is done: commit their words and answer them (releasing the speculative reply)."""
    turn = state.turn
    assert turn is not None and turn.transcript is not None
    actions: list[Action] = [CommitUserTurn(turn.utterance_id, turn.transcript)]
    state = replace(state, turn=None, unanswered=turn.utterance_id)
    reply = state.reply
    speculative = reply is not None and not reply.released
    if params.is_goodbye(turn.transcript):
        if reply is not None and speculative:
            actions.append(CancelReply(reply.reply_id))
            state = replace(state, reply=None)
        closing = _close(state, CannedLine.CLOSING, now_ms)
        return Step(closing.state, (*actions, *closing.actions))
    if reply is not None and speculative and reply.utterance_id == turn.utterance_id:
        released = replace(reply, released=True, requested_ms=now_ms)
        actions.append(ReleaseReply(reply.reply_id))
        return Step(replace(state, phase=Phase.PROCESSING, reply=released), tuple(actions))
    return _settle(state, now_ms, actions)


def _drop_reply(state: TurnState) -> list[Action]:
    """Stop the reply in flight and commit what the caller heard of it (nothing if no audio yet)."""
    reply = state.reply
    if reply is None:
        return []
    if not reply.audio_out:
        return [CancelReply(reply.reply_id)]
    clear: list[Action] = [SendClear(reply.reply_id)] if state.phase is Phase.SPEAKING else []
    return [*clear, CancelReply(reply.reply_id), CommitAssistantTurn(reply.reply_id, True)]


def _without_pending(state: TurnState, utterance_id: int) -> TurnState:
    return replace(state, pending=tuple(p for p in state.pending if p.utterance_id != utterance_id))


def _on_transcription_failed(state: TurnState, event: TranscriptionFailed, now_ms: float) -> Step:
    if not any(p.utterance_id == event.utterance_id for p in state.pending):
        return Step(state, ignored="no such transcription pending")
    return _transcription_failed(state, event.utterance_id, now_ms)


def _transcription_failed(state: TurnState, utterance_id: int, now_ms: float) -> Step:
    state = _without_pending(state, utterance_id)
    if state.turn is not None and state.turn.utterance_id == utterance_id:
        state = replace(state, turn=None)
    actions: list[Action] = []
    if state.phase is Phase.INTERRUPTED:
        # Whether the caller said something is unknown: err towards letting them speak.
        actions = _drop_reply(state)
        state = replace(state, reply=None)
    busy = state.reply is not None or state.pending or state.caller_speech is not None
    if busy or state.unanswered is not None:
        return _settle(state, now_ms, actions)
    apology = _speak_line(state, CannedLine.APOLOGY, now_ms)
    return Step(apology.state, (*actions, *apology.actions))


def _on_first_audio(
    state: TurnState, event: FirstAudioOut, now_ms: float, params: TurnParams
) -> Step:
    reply = state.reply
    if reply is None or reply.reply_id != event.reply_id or reply.audio_out or not reply.released:
        return Step(state, ignored="not the reply awaiting audio")
    speaking = replace(
        state, phase=Phase.SPEAKING, reply=replace(reply, audio_out=True), unanswered=None
    )
    if _caller_interrupts(speaking, params):
        return _caller_holds_floor(speaking, now_ms)
    return Step(speaking)


def _on_playback_done(state: TurnState, event: PlaybackDone, now_ms: float) -> Step:
    reply = state.reply
    if reply is None or reply.reply_id != event.reply_id:
        return Step(state, ignored="not the reply in flight")
    # Also reached while INTERRUPTED: the clear raced the last mark, so all of it was heard.
    done = replace(state, reply=None, quiet_since_ms=now_ms)
    if not reply.audio_out:
        done = replace(done, unanswered=None)  # an empty reply still answered
    return _settle(done, now_ms, [CommitAssistantTurn(reply.reply_id, interrupted=False)])


def _on_reply_failed(state: TurnState, event: ReplyFailed, now_ms: float) -> Step:
    reply = state.reply
    if reply is None or reply.reply_id != event.reply_id:
        return Step(state, ignored="not the reply in flight")
    return _reply_failed(state, reply, now_ms)


def _reply_failed(state: TurnState, reply: Reply, now_ms: float) -> Step:
    if not reply.released:  # a speculative reply: the confirmed turn will start a new one
        return _settle(replace(state, reply=None), now_ms, [CancelReply(reply.reply_id)])
    actions = _drop_reply(state)
    apologise = (
        reply.line is None  # a canned line failing would only fail again
        and state.phase is not Phase.INTERRUPTED
        and state.caller_speech is None  # no apology over the caller's voice
    )
    state = replace(state, reply=None, unanswered=None, quiet_since_ms=now_ms)
    if not apologise:
        return _settle(state, now_ms, actions)
    apology = _speak_line(state, CannedLine.APOLOGY, now_ms)
    return Step(apology.state, (*actions, *apology.actions))


def _settle(state: TurnState, now_ms: float, actions: list[Action]) -> Step:
    """Phase from what is in flight; answer once the caller is done and everything is transcribed."""
    if state.reply is not None:
        phase = Phase.PROCESSING if not state.reply.audio_out else state.phase
        return Step(replace(state, phase=phase), tuple(actions))
    if state.pending or (state.turn is not None and state.caller_speech is None):
        return Step(replace(state, phase=Phase.PROCESSING), tuple(actions))
    if state.unanswered is not None and state.caller_speech is None and not state.digits:
        reply_id = state.next_id
        replying = replace(
            state,
            phase=Phase.PROCESSING,
            reply=Reply(reply_id, None, now_ms, utterance_id=state.unanswered),
            next_id=reply_id + 1,
        )
        answers = CommittedTurn(state.unanswered)
        return Step(replying, (*actions, StartReply(reply_id, answers)))
    return Step(replace(state, phase=Phase.LISTENING), tuple(actions))


def _speak_line(state: TurnState, line: CannedLine, now_ms: float) -> Step:
    reply_id = state.next_id
    speaking = replace(
        state, phase=Phase.PROCESSING, reply=Reply(reply_id, line, now_ms), next_id=reply_id + 1
    )
    return Step(speaking, (SpeakLine(reply_id, line),))


def _close(state: TurnState, line: CannedLine, now_ms: float) -> Step:
    reply_id = state.next_id
    closing = TurnState(
        phase=Phase.CLOSING,
        reply=Reply(reply_id, line, now_ms),
        quiet_since_ms=now_ms,
        next_id=reply_id + 1,
    )
    return Step(closing, (SpeakLine(reply_id, line),))


KEYPAD = "Keypad digits:"  # how digits read in the caller's turn (the transcript and the prompt)


def _on_digit(state: TurnState, event: DigitPressed, now_ms: float, params: TurnParams) -> Step:
    """A key is caller input: over the agent's voice it is a barge-in (its reply is cut and what
    was heard of it kept); digits gather until the end key or a pause, then are the caller's turn."""
    actions: list[Action] = []
    if state.reply is not None:
        actions = _drop_reply(state)
        state = replace(state, reply=None)
    if event.digit == params.digits_end_key:
        if state.digits:
            entered = _digits_entered(state, now_ms)
            return Step(entered.state, (*actions, *entered.actions))
        return _settle(state, now_ms, actions)
    typing = replace(state, digits=state.digits + event.digit, digit_at_ms=now_ms)
    return _settle(replace(typing, quiet_since_ms=now_ms), now_ms, actions)


def _digits_entered(state: TurnState, now_ms: float) -> Step:
    utterance_id = state.next_id
    text = f"{KEYPAD} {state.digits}"
    committed = replace(
        state, digits="", unanswered=utterance_id, next_id=utterance_id + 1, quiet_since_ms=now_ms
    )
    return _settle(committed, now_ms, [CommitUserTurn(utterance_id, text)])


def _on_call_end_requested(state: TurnState, event: CallEndRequested, now_ms: float) -> Step:
    """The agent ends the call with the reply it is giving: nothing else starts; once the reply has
    played out (its goodbye, or the line before a transfer), the call ends that way."""
    reply = state.reply
    if reply is None or reply.reply_id != event.reply_id:
        return Step(state, ignored="not the reply in flight")
    closing = TurnState(
        phase=Phase.CLOSING,
        reply=replace(reply, requested_ms=now_ms),
        quiet_since_ms=now_ms,
        next_id=state.next_id,
        ending=event.ending,
    )
    return Step(closing)


def _caller_interrupts(state: TurnState, params: TurnParams) -> bool:
    """The caller is speaking, and has been voiced long enough to take the floor."""
    speech = state.caller_speech
    return speech is not None and speech.voiced_ms >= params.interrupt_min_speech_ms
