"""Turn-taking state machine: every phase x event, scripted calls on a virtual clock, invariants."""

from __future__ import annotations

import typing
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.conversation.end_of_turn import EndOfTurnParams
from orchestrator.conversation.speech_segmenter import SpeechEnded, SpeechStarted
from orchestrator.conversation.turn_taking import (
    Action,
    CallEndRequested,
    CallerHungUp,
    CallerSpeech,
    CallerTurn,
    CallStarted,
    CancelReply,
    CancelTranscription,
    CannedLine,
    CommitAssistantTurn,
    CommittedTurn,
    CommitUserTurn,
    DigitPressed,
    Ending,
    Event,
    FirstAudioOut,
    HangUp,
    HearTurnEnd,
    PendingTranscription,
    Phase,
    PlaybackDone,
    ReleaseReply,
    Reply,
    ReplyFailed,
    ResumeReply,
    SendClear,
    SpeakLine,
    SpeculativeWords,
    StartReply,
    StartTranscription,
    Step,
    Tick,
    TranscriptionFailed,
    TranscriptReady,
    TransferCall,
    TurnEndHeard,
    TurnParams,
    TurnState,
    step,
    utterances_held,
)

# The table runs at a 400 ms interrupt threshold (a setting); the default, 0, clears as soon as the
# VAD confirms speech (the P0 cases). STT 3 s, first audio 5 s, silence 30 s, closing 15 s.
P = replace(TurnParams(), interrupt_min_speech_ms=400.0)
P0 = TurnParams()
NOW = 10_000.0


def speech(duration_ms: int) -> SpeechEnded:
    return SpeechEnded(onset_ms=1_000, end_ms=1_000 + duration_ms, detected_ms=1_400 + duration_ms)


STARTED = SpeechStarted(onset_ms=1_000, confirmed_ms=1_096)  # confirmed after 96 ms
# The caller's turn in call audio: seen to end 100 ms after it did (so, asked at 9 900, stopped at 9 800).
TURN_SPEECH = SpeechEnded(onset_ms=1_000, end_ms=1_800, detected_ms=1_900)
STARTED_LONG = SpeechStarted(
    onset_ms=1_000, confirmed_ms=1_500
)  # already past the interrupt minimum

IDLE = TurnState()
LISTENING = TurnState(Phase.LISTENING, quiet_since_ms=9_000, next_id=5)
LISTENING_CALLER = replace(LISTENING, caller_speech=CallerSpeech(9_900, 9_900))
TRANSCRIBING = TurnState(
    Phase.PROCESSING,
    pending=(PendingTranscription(5, 9_900, TURN_SPEECH),),
    quiet_since_ms=9_900,
    next_id=6,
)
ANSWERING = TurnState(
    Phase.PROCESSING,
    reply=Reply(5, None, 9_900, utterance_id=4),
    quiet_since_ms=9_900,
    unanswered=4,
    next_id=6,
)
ANSWERING_CALLER = replace(ANSWERING, caller_speech=CallerSpeech(9_500, 9_950))
GREETING = TurnState(Phase.PROCESSING, reply=Reply(5, CannedLine.GREETING, 9_900), next_id=6)
SPEAKING = TurnState(Phase.SPEAKING, reply=Reply(5, None, 9_000, audio_out=True), next_id=6)
SPEAKING_CALLER = replace(SPEAKING, caller_speech=CallerSpeech(9_900, 9_900))
SPEAKING_LATE_STT = replace(
    SPEAKING, pending=(PendingTranscription(6, 9_800, TURN_SPEECH),), next_id=7
)
INTERRUPTED = TurnState(
    Phase.INTERRUPTED,
    reply=Reply(5, None, 9_000, audio_out=True),
    caller_speech=CallerSpeech(9_500, 9_950),
    next_id=6,
)
JUDGING = replace(  # interrupting speech ended; its transcript decides
    INTERRUPTED,
    caller_speech=None,
    pending=(PendingTranscription(6, 9_900, TURN_SPEECH),),
    next_id=7,
)
# A pause: the caller's turn so far is being transcribed; they stopped at 9 800 (silence 200 at NOW).
PAUSED = TurnState(
    Phase.PROCESSING,
    pending=(PendingTranscription(5, 9_900, TURN_SPEECH),),
    turn=CallerTurn(5, TURN_SPEECH, 9_800),
    quiet_since_ms=9_900,
    next_id=6,
)
QUESTION = "What time do you open?"
SPECULATING = replace(
    PAUSED,
    pending=(),
    turn=CallerTurn(5, TURN_SPEECH, 9_800, QUESTION),
    reply=Reply(6, None, 9_950, released=False, utterance_id=5),
    next_id=7,
)
SPECULATING_MID = replace(SPECULATING, turn=CallerTurn(5, TURN_SPEECH, 9_800, "My number is 555"))
CLOSING = TurnState(Phase.CLOSING, reply=Reply(5, CannedLine.CLOSING, 9_000), next_id=6)
ENDED = TurnState(Phase.ENDED, next_id=6)


@dataclass(frozen=True)
class Case:
    id: str
    state: TurnState
    event: Event
    phase: Phase | None  # None: ignored (state unchanged, a reason given)
    actions: tuple[Action, ...] = ()
    now: float = NOW
    params: TurnParams = P


def ignored(id: str, state: TurnState, event: Event, now: float = NOW) -> Case:
    return Case(id, state, event, None, now=now)


STALE = (
    TranscriptReady(99, "hi"),
    TranscriptionFailed(99),
    TurnEndHeard(99, 0.9),
    CallEndRequested(99, Ending.HANG_UP),
    FirstAudioOut(99),
    PlaybackDone(99),
    ReplyFailed(99),
)

CASES = [
    # IDLE
    Case(
        "idle-call-greets",
        IDLE,
        CallStarted(),
        Phase.PROCESSING,
        (SpeakLine(1, CannedLine.GREETING),),
    ),
    Case(
        "idle-call-no-greeting",
        IDLE,
        CallStarted(),
        Phase.LISTENING,
        params=replace(P, greet=False),
    ),
    Case(
        "idle-models-down-fallback",
        IDLE,
        CallStarted(models_ready=False),
        Phase.CLOSING,
        (SpeakLine(1, CannedLine.FALLBACK),),
    ),
    Case("idle-hangup", IDLE, CallerHungUp(), Phase.ENDED),
    *(ignored(f"idle-{type(e).__name__}", IDLE, e) for e in (Tick(), STARTED, speech(500), *STALE)),
    # LISTENING
    ignored("listening-call-again", LISTENING, CallStarted()),
    ignored("listening-tick", LISTENING, Tick()),
    Case(
        "listening-silence-timeout",
        LISTENING,
        Tick(),
        Phase.CLOSING,
        (SpeakLine(5, CannedLine.CLOSING),),
        now=39_000,
    ),
    ignored("listening-caller-talks-long-no-timeout", LISTENING_CALLER, Tick(), now=60_000),
    Case("listening-speech-starts", LISTENING, STARTED, Phase.LISTENING),
    Case(
        "listening-speech-ends",
        LISTENING_CALLER,
        speech(300),
        Phase.PROCESSING,
        (StartTranscription(5, speech(300)),),
    ),
    Case(
        "listening-long-speech-ends",
        LISTENING_CALLER,
        speech(900),
        Phase.PROCESSING,
        (StartTranscription(5, speech(900)),),
    ),
    *(ignored(f"listening-stale-{type(e).__name__}", LISTENING, e) for e in STALE),
    Case("listening-hangup", LISTENING, CallerHungUp(), Phase.ENDED),
    # PROCESSING: transcribing
    ignored("transcribing-call-again", TRANSCRIBING, CallStarted()),
    ignored("transcribing-tick", TRANSCRIBING, Tick()),
    Case(
        "transcribing-timeout-apology",
        TRANSCRIBING,
        Tick(),
        Phase.PROCESSING,
        (SpeakLine(6, CannedLine.APOLOGY),),
        now=12_900,
    ),
    Case("transcribing-speech-starts", TRANSCRIBING, STARTED, Phase.PROCESSING),
    Case(
        "transcribing-more-speech",
        TRANSCRIBING,
        speech(200),
        Phase.PROCESSING,
        (StartTranscription(6, speech(200)),),
    ),
    Case(
        "transcribing-words-reply",
        TRANSCRIBING,
        TranscriptReady(5, " What time is it? "),
        Phase.PROCESSING,
        (CommitUserTurn(5, "What time is it?"), StartReply(6, CommittedTurn(5))),
    ),
    Case("transcribing-empty-listen", TRANSCRIBING, TranscriptReady(5, "  "), Phase.LISTENING),
    Case(
        "transcribing-mhm-is-an-answer",
        TRANSCRIBING,
        TranscriptReady(5, "mhm"),
        Phase.PROCESSING,
        (CommitUserTurn(5, "mhm"), StartReply(6, CommittedTurn(5))),
    ),
    Case(
        "transcribing-goodbye-closes",
        TRANSCRIBING,
        TranscriptReady(5, "OK, thanks. Bye!"),
        Phase.CLOSING,
        (CommitUserTurn(5, "OK, thanks. Bye!"), SpeakLine(6, CannedLine.CLOSING)),
    ),
    Case(
        "transcribing-failed-apology",
        TRANSCRIBING,
        TranscriptionFailed(5),
        Phase.PROCESSING,
        (SpeakLine(6, CannedLine.APOLOGY),),
    ),
    *(ignored(f"transcribing-stale-{type(e).__name__}", TRANSCRIBING, e) for e in STALE),
    Case("transcribing-hangup", TRANSCRIBING, CallerHungUp(), Phase.ENDED),
    # PROCESSING: reply requested, no audio yet
    ignored("answering-tick", ANSWERING, Tick()),
    Case(
        "answering-first-audio-timeout",
        ANSWERING,
        Tick(),
        Phase.PROCESSING,
        (CancelReply(5), SpeakLine(6, CannedLine.APOLOGY)),
        now=14_900,
    ),
    Case(
        "answering-caller-resumes-cancels",
        ANSWERING_CALLER,
        Tick(),
        Phase.LISTENING,
        (CancelReply(5),),
    ),
    Case(
        "answering-caller-short-keeps-reply",
        replace(ANSWERING, caller_speech=CallerSpeech(9_500, 9_600)),
        Tick(0.9),
        Phase.PROCESSING,
        now=9_800,
    ),
    Case("answering-speech-starts", ANSWERING, STARTED, Phase.PROCESSING),
    Case(
        "answering-long-speech-cancels",
        ANSWERING,
        speech(500),
        Phase.PROCESSING,
        (CancelReply(5), StartTranscription(6, speech(500))),
    ),
    Case(
        "answering-short-speech-transcribed",
        ANSWERING,
        speech(200),
        Phase.PROCESSING,
        (StartTranscription(6, speech(200)),),
    ),
    Case("answering-first-audio", ANSWERING, FirstAudioOut(5), Phase.SPEAKING),
    Case(
        "answering-first-audio-over-long-speech",
        ANSWERING_CALLER,
        FirstAudioOut(5),
        Phase.INTERRUPTED,
        (SendClear(5),),
    ),
    Case(
        "answering-empty-reply-done",
        ANSWERING,
        PlaybackDone(5),
        Phase.LISTENING,
        (CommitAssistantTurn(5, interrupted=False),),
    ),
    Case(
        "answering-failed-apology",
        ANSWERING,
        ReplyFailed(5),
        Phase.PROCESSING,
        (CancelReply(5), SpeakLine(6, CannedLine.APOLOGY)),
    ),
    Case(
        "answering-failed-caller-talking",
        ANSWERING_CALLER,
        ReplyFailed(5),
        Phase.LISTENING,
        (CancelReply(5),),
    ),
    Case(
        "greeting-failed-no-apology", GREETING, ReplyFailed(5), Phase.LISTENING, (CancelReply(5),)
    ),
    *(ignored(f"answering-stale-{type(e).__name__}", ANSWERING, e) for e in STALE),
    Case("answering-hangup", ANSWERING, CallerHungUp(), Phase.ENDED, (CancelReply(5),)),
    # SPEAKING
    ignored("speaking-call-again", SPEAKING, CallStarted()),
    ignored("speaking-tick", SPEAKING, Tick()),
    Case("speaking-voiced-below-minimum", SPEAKING_CALLER, Tick(0.9), Phase.SPEAKING, now=10_299),
    ignored("speaking-silence-after-cough", SPEAKING_CALLER, Tick(0.1), now=11_000),
    Case(
        "speaking-barge-in",
        SPEAKING_CALLER,
        Tick(0.9),
        Phase.INTERRUPTED,
        (SendClear(5),),
        now=10_300,
    ),
    Case("speaking-speech-starts", SPEAKING, STARTED, Phase.SPEAKING),
    Case(
        "speaking-speech-confirmed-late-barges",
        SPEAKING,
        STARTED_LONG,
        Phase.INTERRUPTED,
        (SendClear(5),),
    ),
    Case("speaking-cough-ignored", SPEAKING_CALLER, speech(200), Phase.SPEAKING),
    Case(
        "speaking-long-speech-between-ticks",
        SPEAKING_CALLER,
        speech(600),
        Phase.INTERRUPTED,
        (SendClear(5), StartTranscription(6, speech(600))),
    ),
    ignored("speaking-first-audio-again", SPEAKING, FirstAudioOut(5)),
    Case(
        "speaking-done",
        SPEAKING,
        PlaybackDone(5),
        Phase.LISTENING,
        (CommitAssistantTurn(5, interrupted=False),),
    ),
    Case(
        "speaking-failed-mid-reply",
        SPEAKING,
        ReplyFailed(5),
        Phase.PROCESSING,
        (
            SendClear(5),
            CancelReply(5),
            CommitAssistantTurn(5, interrupted=True),
            SpeakLine(6, CannedLine.APOLOGY),
        ),
    ),
    Case(
        "speaking-late-words-supersede",
        SPEAKING_LATE_STT,
        TranscriptReady(6, "wait, no"),
        Phase.PROCESSING,
        (
            SendClear(5),
            CancelReply(5),
            CommitAssistantTurn(5, interrupted=True),
            CommitUserTurn(6, "wait, no"),
            StartReply(7, CommittedTurn(6)),
        ),
    ),
    Case("speaking-late-backchannel", SPEAKING_LATE_STT, TranscriptReady(6, "mhm"), Phase.SPEAKING),
    *(ignored(f"speaking-stale-{type(e).__name__}", SPEAKING, e) for e in STALE),
    Case(
        "speaking-hangup",
        SPEAKING,
        CallerHungUp(),
        Phase.ENDED,
        (CancelReply(5), CommitAssistantTurn(5, interrupted=True)),
    ),
    # INTERRUPTED
    ignored("interrupted-call-again", INTERRUPTED, CallStarted()),
    ignored("interrupted-tick", INTERRUPTED, Tick()),
    Case("interrupted-speech-starts", JUDGING, STARTED, Phase.INTERRUPTED),
    Case(
        "interrupted-speech-ends",
        INTERRUPTED,
        speech(600),
        Phase.INTERRUPTED,
        (StartTranscription(6, speech(600)),),
    ),
    Case(
        "interrupted-short-speech-ends",
        INTERRUPTED,
        speech(100),
        Phase.INTERRUPTED,
        (StartTranscription(6, speech(100)),),
    ),
    ignored("interrupted-first-audio", INTERRUPTED, FirstAudioOut(5)),
    Case(
        "interrupted-playback-raced-clear",
        INTERRUPTED,
        PlaybackDone(5),
        Phase.LISTENING,
        (CommitAssistantTurn(5, interrupted=False),),
    ),
    Case(
        "interrupted-reply-failed",
        INTERRUPTED,
        ReplyFailed(5),
        Phase.LISTENING,
        (CancelReply(5), CommitAssistantTurn(5, interrupted=True)),
    ),
    Case(
        "interrupted-words-confirm",
        JUDGING,
        TranscriptReady(6, "Hold on, what about Tuesday?"),
        Phase.PROCESSING,
        (
            CancelReply(5),
            CommitAssistantTurn(5, interrupted=True),
            CommitUserTurn(6, "Hold on, what about Tuesday?"),
            StartReply(7, CommittedTurn(6)),
        ),
    ),
    Case(
        "interrupted-no-words-resumes",
        JUDGING,
        TranscriptReady(6, ""),
        Phase.SPEAKING,
        (ResumeReply(5),),
    ),
    Case(
        "interrupted-backchannel-resumes",
        JUDGING,
        TranscriptReady(6, "Uh-huh."),
        Phase.SPEAKING,
        (ResumeReply(5),),
    ),
    Case(
        "interrupted-unsure-guess-resumes",  # Whisper's guess at an "mm-hmm"
        JUDGING,
        TranscriptReady(6, "In the month.", confidence=0.43),
        Phase.SPEAKING,
        (ResumeReply(5),),
    ),
    Case(
        "interrupted-sure-short-words-confirm",
        JUDGING,
        TranscriptReady(6, "Stop.", confidence=0.8),
        Phase.PROCESSING,
        (
            CancelReply(5),
            CommitAssistantTurn(5, interrupted=True),
            CommitUserTurn(6, "Stop."),
            StartReply(7, CommittedTurn(6)),
        ),
    ),
    Case(
        "interrupted-no-words-caller-still-talking",
        replace(JUDGING, caller_speech=CallerSpeech(9_950, 9_950)),
        TranscriptReady(6, ""),
        Phase.INTERRUPTED,
    ),
    Case(
        "interrupted-goodbye",
        JUDGING,
        TranscriptReady(6, "bye"),
        Phase.CLOSING,
        (
            CancelReply(5),
            CommitAssistantTurn(5, interrupted=True),
            CommitUserTurn(6, "bye"),
            SpeakLine(7, CannedLine.CLOSING),
        ),
    ),
    Case(
        "interrupted-stt-failed",
        JUDGING,
        TranscriptionFailed(6),
        Phase.PROCESSING,
        (
            CancelReply(5),
            CommitAssistantTurn(5, interrupted=True),
            SpeakLine(7, CannedLine.APOLOGY),
        ),
    ),
    Case(
        "interrupted-stt-timeout",
        JUDGING,
        Tick(),
        Phase.PROCESSING,
        (
            CancelReply(5),
            CommitAssistantTurn(5, interrupted=True),
            SpeakLine(7, CannedLine.APOLOGY),
        ),
        now=12_900,
    ),
    *(ignored(f"interrupted-stale-{type(e).__name__}", INTERRUPTED, e) for e in STALE),
    Case(
        "interrupted-hangup",
        INTERRUPTED,
        CallerHungUp(),
        Phase.ENDED,
        (CancelReply(5), CommitAssistantTurn(5, interrupted=True)),
    ),
    # PROCESSING: a pause, the turn so far transcribed and a reply prepared before the turn is over
    Case(
        "paused-words-speculate",
        PAUSED,
        TranscriptReady(5, QUESTION),
        Phase.PROCESSING,
        (StartReply(6, SpeculativeWords(5, QUESTION)),),
    ),
    Case(
        "paused-words-after-the-silence-confirm",
        PAUSED,
        TranscriptReady(5, QUESTION),
        Phase.PROCESSING,
        (CommitUserTurn(5, QUESTION), StartReply(6, CommittedTurn(5))),
        now=10_050,
    ),
    Case("paused-goodbye-waits", PAUSED, TranscriptReady(5, "OK, bye!"), Phase.PROCESSING),
    Case("paused-noise-listens", PAUSED, TranscriptReady(5, ""), Phase.LISTENING),
    Case(
        "paused-caller-resumes-cancels-stt",
        PAUSED,
        STARTED,
        Phase.LISTENING,
        (CancelTranscription(5),),
    ),
    Case(
        "speculating-silence-confirms-releases",
        SPECULATING,
        Tick(),
        Phase.PROCESSING,
        (CommitUserTurn(5, QUESTION), ReleaseReply(6)),
        now=10_050,
    ),
    ignored("speculating-silence-too-short", SPECULATING, Tick()),
    ignored("speculating-mid-thought-waits-longer", SPECULATING_MID, Tick(), now=10_700),
    Case(
        "speculating-mid-thought-long-silence",
        SPECULATING_MID,
        Tick(),
        Phase.PROCESSING,
        (CommitUserTurn(5, "My number is 555"), ReleaseReply(6)),
        now=10_800,
    ),
    Case(
        "speculating-caller-resumes-cancels-reply",
        SPECULATING,
        STARTED,
        Phase.LISTENING,
        (CancelReply(6),),
    ),
    ignored("speculating-first-audio-held", SPECULATING, FirstAudioOut(6)),
    Case(
        "speculating-reply-failed-dropped",
        SPECULATING,
        ReplyFailed(6),
        Phase.PROCESSING,
        (CancelReply(6),),
    ),
    Case("speculating-hangup", SPECULATING, CallerHungUp(), Phase.ENDED, (CancelReply(6),)),
    Case(
        "speaking-speech-confirmed-clears-at-once",
        SPEAKING,
        STARTED,
        Phase.INTERRUPTED,
        (SendClear(5),),
        params=P0,
    ),
    # CLOSING
    ignored("closing-call-again", CLOSING, CallStarted()),
    ignored("closing-tick", CLOSING, Tick()),
    Case("closing-watchdog", CLOSING, Tick(), Phase.ENDED, (CancelReply(5), HangUp()), now=24_000),
    *(
        ignored(f"closing-{type(e).__name__}", CLOSING, e)
        for e in (STARTED_LONG, speech(900), TranscriptReady(5, "wait"), TranscriptionFailed(5))
    ),
    Case("closing-first-audio", CLOSING, FirstAudioOut(5), Phase.CLOSING),
    Case(
        "closing-done-hangs-up",
        CLOSING,
        PlaybackDone(5),
        Phase.ENDED,
        (CommitAssistantTurn(5, interrupted=False), HangUp()),
    ),
    Case("closing-failed-hangs-up", CLOSING, ReplyFailed(5), Phase.ENDED, (HangUp(),)),
    *(ignored(f"closing-stale-{type(e).__name__}", CLOSING, e) for e in STALE[2:]),
    Case("closing-hangup", CLOSING, CallerHungUp(), Phase.ENDED, (CancelReply(5),)),
    # ENDED
    *(
        ignored(f"ended-{type(e).__name__}", ENDED, e)
        for e in (CallStarted(), Tick(), STARTED, speech(500), CallerHungUp(), *STALE)
    ),
    # Keypad digits, in each phase
    ignored("idle-digit", IDLE, DigitPressed("1")),
    Case("listening-digit-gathers", LISTENING, DigitPressed("4"), Phase.LISTENING),
    Case("listening-end-key-alone-is-nothing", LISTENING, DigitPressed("#"), Phase.LISTENING),
    Case(
        "listening-digits-end-with-the-key",
        replace(LISTENING, digits="42", digit_at_ms=9_000),
        DigitPressed("#"),
        Phase.PROCESSING,
        (CommitUserTurn(5, "Keypad digits: 42"), StartReply(6, CommittedTurn(5))),
    ),
    Case(
        "listening-digits-end-with-a-pause",
        replace(LISTENING, digits="42", digit_at_ms=NOW - 3_000),
        Tick(0.0),
        Phase.PROCESSING,
        (CommitUserTurn(5, "Keypad digits: 42"), StartReply(6, CommittedTurn(5))),
    ),
    Case("transcribing-digit", TRANSCRIBING, DigitPressed("1"), Phase.PROCESSING),
    Case(
        "answering-digit-drops-the-unheard-reply",
        ANSWERING,
        DigitPressed("1"),
        Phase.LISTENING,
        (CancelReply(5),),
    ),
    Case(
        "speaking-digit-barges-in",
        SPEAKING,
        DigitPressed("1"),
        Phase.LISTENING,
        (SendClear(5), CancelReply(5), CommitAssistantTurn(5, interrupted=True)),
    ),
    Case(
        "interrupted-digit",
        INTERRUPTED,
        DigitPressed("1"),
        Phase.LISTENING,
        (CancelReply(5), CommitAssistantTurn(5, interrupted=True)),
    ),
    ignored("closing-digit", CLOSING, DigitPressed("1")),
    ignored("ended-digit", ENDED, DigitPressed("1")),
    # The agent ends the call with its reply (end_call, transfer_call)
    Case("speaking-agent-ends-call", SPEAKING, CallEndRequested(5, Ending.HANG_UP), Phase.CLOSING),
    Case(
        "answering-agent-transfers", ANSWERING, CallEndRequested(5, Ending.TRANSFER), Phase.CLOSING
    ),
    ignored("idle-end-requested", IDLE, CallEndRequested(5, Ending.HANG_UP)),
    Case(
        "closing-transfer-after-the-line",
        replace(CLOSING, reply=Reply(5, None, 9_000, audio_out=True), ending=Ending.TRANSFER),
        PlaybackDone(5),
        Phase.ENDED,
        (CommitAssistantTurn(5, interrupted=False), TransferCall()),
    ),
    Case(
        "closing-goodbye-then-hang-up",
        replace(CLOSING, reply=Reply(5, None, 9_000, audio_out=True), ending=Ending.HANG_UP),
        PlaybackDone(5),
        Phase.ENDED,
        (CommitAssistantTurn(5, interrupted=False), HangUp()),
    ),
    Case(
        "closing-silent-transfer",
        replace(CLOSING, reply=Reply(5, None, 9_000), ending=Ending.TRANSFER),
        PlaybackDone(5),
        Phase.ENDED,
        (TransferCall(),),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transition(case: Case) -> None:
    result = step(case.state, case.event, case.now, case.params)
    if case.phase is None:
        assert result == Step(case.state, ignored=result.ignored)
        assert result.ignored
        return
    assert result.state.phase is case.phase
    assert result.actions == case.actions
    assert result.ignored is None


def test_table_covers_every_phase_and_event() -> None:
    covered = {(c.state.phase, type(c.event)) for c in CASES}
    every = {(phase, kind) for phase in Phase for kind in typing.get_args(Event)}
    assert every - covered == set()


def test_barge_in_confirmed_keeps_no_words_unheard_and_answers_the_caller() -> None:
    """Cancelled reply before audio: the caller's words are still owed an answer."""
    cancelled = step(ANSWERING_CALLER, Tick(), NOW, P).state
    assert cancelled.unanswered is not None and cancelled.reply is None
    ended = step(cancelled, speech(700), NOW + 400, P)
    later = step(ended.state, TranscriptReady(6, ""), NOW + 500, P)
    assert later.actions == (StartReply(7, CommittedTurn(4)),)


@pytest.mark.parametrize(
    ("text", "goodbye"),
    [("Goodbye.", True), ("thanks, bye-bye", True), ("I said goodbye to him", False), ("", False)],
)
def test_goodbye_is_the_utterance_ending(text: str, goodbye: bool) -> None:
    assert P.is_goodbye(text) is goodbye


# ---- scripted calls on a virtual clock --------------------------------------------------------------


class Call:
    """Feeds events at virtual times and collects actions."""

    def __init__(self, params: TurnParams = P) -> None:
        self.params = params
        self.state = TurnState()
        self.log: list[tuple[float, Action]] = []

    def at(self, now_ms: float, event: Event) -> tuple[Action, ...]:
        result = step(self.state, event, now_ms, self.params)
        self.state = result.state
        self.log += [(now_ms, action) for action in result.actions]
        return result.actions

    def caller_speaks(self, start_ms: int, end_ms: int, tick_ms: int = 32) -> list[Action]:
        """Segmenter events for speech [start, end) with ticks every VAD window meanwhile."""
        actions = list(self.at(start_ms + 96, SpeechStarted(start_ms, start_ms + 96)))
        for now in range(start_ms + 96 + tick_ms, end_ms + 400, tick_ms):
            actions += self.at(now, Tick(0.9 if now <= end_ms else 0.05))
        actions += self.at(end_ms + 400, SpeechEnded(start_ms, end_ms, end_ms + 400))
        return actions


def test_scripted_call_with_cough_false_interruption_and_barge_in() -> None:
    call = Call()
    assert call.at(0, CallStarted()) == (SpeakLine(1, CannedLine.GREETING),)
    call.at(150, FirstAudioOut(1))
    assert call.at(2_000, PlaybackDone(1)) == (CommitAssistantTurn(1, False),)

    # The caller asks something.
    assert call.caller_speaks(2_500, 4_000)[-1] == StartTranscription(
        2, SpeechEnded(2_500, 4_000, 4_400)
    )
    assert call.at(4_550, TranscriptReady(2, "Do you open on Sunday?")) == (
        CommitUserTurn(2, "Do you open on Sunday?"),
        StartReply(3, CommittedTurn(2)),
    )
    call.at(4_900, FirstAudioOut(3))

    # A cough over the agent: nothing happens.
    assert call.caller_speaks(5_500, 5_700) == []
    assert call.state.phase is Phase.SPEAKING

    # Noise long enough to pause the agent, but no words: the reply resumes.
    actions = call.caller_speaks(6_000, 6_600)
    assert actions[0] == SendClear(3) and call.state.phase is Phase.INTERRUPTED
    assert call.at(7_150, TranscriptReady(4, "")) == (ResumeReply(3),)
    assert call.state.phase is Phase.SPEAKING

    # A real barge-in.
    assert call.caller_speaks(8_000, 9_000)[0] == SendClear(3)
    assert call.at(9_500, TranscriptReady(5, "Sorry, I meant Saturday.")) == (
        CancelReply(3),
        CommitAssistantTurn(3, True),
        CommitUserTurn(5, "Sorry, I meant Saturday."),
        StartReply(6, CommittedTurn(5)),
    )
    # The clear reached Twilio 400 ms after the caller began (threshold), measured on the clock.
    clear_at = next(t for t, a in call.log if a == SendClear(3) and t > 8_000)
    assert 8_400 <= clear_at < 8_400 + 32

    call.at(9_900, FirstAudioOut(6))
    call.at(12_000, PlaybackDone(6))
    assert call.caller_speaks(13_000, 13_500)
    assert call.at(14_000, TranscriptReady(7, "Great, thanks, bye.")) == (
        CommitUserTurn(7, "Great, thanks, bye."),
        SpeakLine(8, CannedLine.CLOSING),
    )
    call.at(13_800, FirstAudioOut(8))
    assert call.at(15_000, PlaybackDone(8)) == (CommitAssistantTurn(8, False), HangUp())
    assert call.state.phase is Phase.ENDED


def test_silent_caller_gets_closing_line() -> None:
    call = Call(replace(P, greet=False))
    call.at(0, CallStarted())
    assert call.at(29_999, Tick()) == ()
    assert call.at(30_000, Tick()) == (SpeakLine(1, CannedLine.CLOSING),)


# ---- invariants over random event streams -----------------------------------------------------------

events = st.one_of(
    st.just(CallStarted()),
    st.builds(CallStarted, st.booleans()),
    st.builds(Tick, st.floats(0.0, 1.0)),
    st.builds(lambda lead: SpeechStarted(0, lead), st.integers(96, 900)),
    st.builds(lambda d: SpeechEnded(0, d, d + 400), st.integers(96, 2_000)),
    st.builds(
        TranscriptReady, st.integers(1, 12), st.sampled_from(["", "uh-huh", "yes please", "bye"])
    ),
    st.builds(TranscriptionFailed, st.integers(1, 12)),
    st.builds(TurnEndHeard, st.integers(1, 12), st.one_of(st.none(), st.floats(0.0, 1.0))),
    st.builds(FirstAudioOut, st.integers(1, 12)),
    st.builds(PlaybackDone, st.integers(1, 12)),
    st.builds(ReplyFailed, st.integers(1, 12)),
    st.just(CallerHungUp()),
    st.builds(DigitPressed, st.sampled_from(list("0123456789*#"))),
    st.builds(CallEndRequested, st.integers(1, 12), st.sampled_from(list(Ending))),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(events, st.integers(0, 4_000)), max_size=60), st.booleans())
def test_invariants_hold_for_any_event_stream(
    script: list[tuple[Event, int]], hear_turn_end: bool
) -> None:
    params = replace(P, hear_turn_end=hear_turn_end)
    state, now = TurnState(), 0.0
    started: set[int] = set()
    audible: set[int] = set()
    cleared: set[int] = set()
    committed: set[int] = set()
    transcribed: set[int] = set()
    for event, gap in [(CallStarted(), 0), *script]:
        now += gap
        was_ended = state.phase is Phase.ENDED
        if (
            isinstance(event, FirstAudioOut)
            and state.reply
            and state.reply.reply_id == event.reply_id
        ):
            audible.add(event.reply_id)
        result = step(state, event, now, params)
        state = result.state
        assert not (was_ended and result.actions)
        for action in result.actions:
            match action:
                case StartTranscription(utterance_id) | CommitUserTurn(utterance_id, _):
                    transcribed.add(utterance_id)  # keypad digits are a turn with no transcription
                case HearTurnEnd(utterance_id):
                    assert hear_turn_end and utterance_id in transcribed
                case StartReply(reply_id) | SpeakLine(reply_id, _):
                    assert reply_id not in started
                    started.add(reply_id)
                case SendClear(reply_id):
                    assert reply_id in audible
                    cleared.add(reply_id)
                case ResumeReply(reply_id):
                    assert reply_id in cleared
                case CommitAssistantTurn(reply_id, _):
                    assert reply_id in started and reply_id not in committed
                    committed.add(reply_id)
        # The engine keeps what the core holds: only utterances it was told of, nothing once ended.
        assert utterances_held(state) <= transcribed
        assert not (state.phase is Phase.ENDED and utterances_held(state))
        reply = state.reply
        match state.phase:
            case Phase.LISTENING:
                assert reply is None and not state.pending
            case Phase.PROCESSING:
                waiting = state.pending or state.turn is not None
                assert (reply is not None and not reply.audio_out) or waiting
            case Phase.SPEAKING | Phase.INTERRUPTED:
                assert reply is not None and reply.audio_out
            case Phase.CLOSING:
                assert reply is not None and (reply.line is not None or state.ending is not None)


# ---- speculation and the early clear (default params) ----------------------------------------------


def caller_pauses(call: Call, start_ms: int, end_ms: int) -> list[Action]:
    """Speech [start, end) then the segmenter's pause (200 ms of silence), with ticks meanwhile."""
    actions = list(call.at(start_ms + 96, SpeechStarted(start_ms, start_ms + 96)))
    for now in range(start_ms + 128, end_ms + 200, 32):
        actions += call.at(now, Tick(0.9 if now <= end_ms else 0.05))
    actions += call.at(end_ms + 200, SpeechEnded(start_ms, end_ms, end_ms + 200))
    return actions


def greeted() -> Call:
    call = Call(P0)
    call.at(0, CallStarted())
    call.at(150, FirstAudioOut(1))
    call.at(2_000, PlaybackDone(1))
    return call


def test_a_speculative_reply_is_adopted_when_the_silence_confirms_the_turn() -> None:
    call = greeted()
    assert caller_pauses(call, 2_500, 4_000)[-1] == StartTranscription(
        2, SpeechEnded(2_500, 4_000, 4_200)
    )
    # The transcript comes back 220 ms into the silence: the reply starts, held.
    assert call.at(4_220, TranscriptReady(2, QUESTION)) == (
        StartReply(3, SpeculativeWords(2, QUESTION)),
    )
    assert call.state.reply == Reply(3, None, 4_220, released=False, utterance_id=2)
    assert call.at(4_230, FirstAudioOut(3)) == ()  # held: its audio cannot be out
    assert call.at(4_240, Tick(0.05)) == ()
    # 250 ms after the caller stopped the question is over: committed and released.
    assert call.at(4_250, Tick(0.05)) == (CommitUserTurn(2, QUESTION), ReleaseReply(3))
    assert call.at(4_260, FirstAudioOut(3)) == ()
    assert call.state.phase is Phase.SPEAKING and call.state.unanswered is None


def test_resumed_speech_drops_the_speculation_and_the_whole_turn_is_transcribed_again() -> None:
    call = greeted()
    caller_pauses(call, 2_500, 3_500)
    assert call.at(3_800, TranscriptReady(2, "I'd like a table and")) == (
        StartReply(3, SpeculativeWords(2, "I'd like a table and")),
    )
    assert call.at(4_000, Tick(0.05)) == ()  # mid-thought: the long silence applies
    # The caller goes on: the speculative reply is cancelled, nothing is committed.
    resumed = caller_pauses(call, 4_100, 5_000)
    assert resumed[0] == CancelReply(3)
    assert not any(isinstance(a, CommitUserTurn) for a in resumed)
    # The new transcription spans the whole turn, from its first word.
    assert resumed[-1] == StartTranscription(4, SpeechEnded(2_500, 5_000, 5_200))
    # A changed transcript: a new speculative reply answers the whole sentence.
    whole = "I'd like a table and a high chair."
    assert call.at(5_220, TranscriptReady(4, whole)) == (StartReply(5, SpeculativeWords(4, whole)),)
    assert call.at(5_250, Tick(0.05)) == (CommitUserTurn(4, whole), ReleaseReply(5))


def test_the_caller_speaking_while_the_turn_is_transcribed_cancels_that_transcription() -> None:
    call = greeted()
    caller_pauses(call, 2_500, 3_500)
    assert call.at(3_796, SpeechStarted(3_700, 3_796)) == (CancelTranscription(2),)
    assert call.at(3_900, TranscriptReady(2, "late")) == ()  # superseded: ignored


def test_speech_over_the_agent_clears_at_once_and_a_cough_resumes_the_reply() -> None:
    call = greeted()
    caller_pauses(call, 2_500, 3_500)
    call.at(3_800, TranscriptReady(2, QUESTION))
    call.at(3_800, Tick(0.05))
    call.at(3_900, FirstAudioOut(3))
    # A cough: cleared as soon as the VAD confirms speech (96 ms), the reply held meanwhile.
    assert call.at(4_596, SpeechStarted(4_500, 4_596)) == (SendClear(3),)
    assert call.state.phase is Phase.INTERRUPTED
    ended = call.at(4_850, SpeechEnded(4_500, 4_650, 4_850))
    assert ended == (StartTranscription(4, SpeechEnded(4_500, 4_650, 4_850)),)
    # No words: the reply resumes from the first unheard word.
    assert call.at(5_100, TranscriptReady(4, "")) == (ResumeReply(3),)
    assert call.state.phase is Phase.SPEAKING and call.state.turn is None


# ---- what the engine holds -------------------------------------------------------------------------


def test_the_held_utterances_are_those_in_flight_unconfirmed_unanswered_or_being_answered() -> None:
    assert utterances_held(LISTENING) == frozenset()
    assert utterances_held(TRANSCRIBING) == {5}
    assert utterances_held(PAUSED) == {5}
    assert utterances_held(SPECULATING) == {5}  # its turn, and the reply answering it
    assert utterances_held(ANSWERING) == {4}  # committed, no reply heard yet
    assert utterances_held(replace(SPEAKING, reply=Reply(5, None, 9_000, True, True, 3))) == {3}
    assert utterances_held(GREETING) == frozenset()
    assert utterances_held(ENDED) == frozenset()


def test_an_earlier_utterances_words_make_a_turn_of_its_own_speech() -> None:
    """A transcript of an utterance whose turn is gone: the turn spans that utterance's audio (the
    next transcription, if the caller goes on, starts at its onset, not at the call's start)."""
    words = TranscriptReady(5, "I'd like a table and")
    caller_on = replace(TRANSCRIBING, caller_speech=CallerSpeech(9_950, 9_990))
    result = step(caller_on, words, NOW, P0)
    assert result.state.turn is not None and result.state.turn.speech == TURN_SPEECH
    pause = SpeechEnded(onset_ms=2_400, end_ms=2_900, detected_ms=3_100)
    (transcribe,) = [a for a in step(result.state, pause, NOW + 300, P0).actions]
    assert isinstance(transcribe, StartTranscription)
    assert transcribe.speech.onset_ms == TURN_SPEECH.onset_ms


# ---- the audio end-of-turn model's verdict (hear_turn_end) ------------------------------------------

# Fusion bands pinned here so the table's steps are visible; the shipped defaults are tested below.
HEARING = replace(
    P0,
    hear_turn_end=True,
    end_of_turn=EndOfTurnParams(both_done_ms=100.0, audio_done=0.5, audio_more=0.2),
)
TABLE = "I'd like to book a table."  # complete words: 250 ms alone


def hearing_pause() -> Call:
    """A greeted call with the audio model on; the caller spoke [2500, 4000) and paused."""
    call = Call(HEARING)
    call.at(0, CallStarted())
    call.at(150, FirstAudioOut(1))
    call.at(2_000, PlaybackDone(1))
    actions = caller_pauses(call, 2_500, 4_000)
    speech = SpeechEnded(2_500, 4_000, 4_200)
    assert actions[-2:] == [StartTranscription(2, speech), HearTurnEnd(2, speech)]
    return call


def test_both_done_ends_the_turn_sooner_than_the_words_alone() -> None:
    call = hearing_pause()
    assert call.at(4_050, TranscriptReady(2, QUESTION)) == (
        StartReply(3, SpeculativeWords(2, QUESTION)),
    )
    assert call.at(4_090, Tick(0.05)) == ()  # the voice's verdict is awaited
    assert call.at(4_095, TurnEndHeard(2, 0.9)) == ()  # 95 ms of silence: not yet 100
    assert call.at(4_100, Tick(0.05)) == (CommitUserTurn(2, QUESTION), ReleaseReply(3))


def test_with_the_shipped_bands_both_done_ends_the_turn_at_the_verdict() -> None:
    # Tuned: the segmenter's pause has already closed, so the verdict itself releases the reply.
    call = Call(replace(P0, hear_turn_end=True))
    call.at(0, CallStarted())
    call.at(150, FirstAudioOut(1))
    call.at(2_000, PlaybackDone(1))
    caller_pauses(call, 2_500, 4_000)
    call.at(4_050, TranscriptReady(2, QUESTION))
    assert call.at(4_060, TurnEndHeard(2, 0.9)) == (CommitUserTurn(2, QUESTION), ReleaseReply(3))


def test_a_voice_that_hears_more_coming_holds_complete_words_longer() -> None:
    call = hearing_pause()
    call.at(4_220, TranscriptReady(2, TABLE))
    assert call.at(4_230, TurnEndHeard(2, 0.05)) == ()
    assert call.at(4_300, Tick(0.05)) == ()  # past the words' 250 ms
    assert call.at(4_624, Tick(0.05)) == ()
    assert call.at(4_625, Tick(0.05)) == (CommitUserTurn(2, TABLE), ReleaseReply(3))


def test_the_caller_going_on_drops_the_verdict_with_the_speculation() -> None:
    call = hearing_pause()
    call.at(4_220, TranscriptReady(2, TABLE))
    call.at(4_230, TurnEndHeard(2, 0.05))
    resumed = caller_pauses(call, 4_400, 5_000)
    assert resumed[0] == CancelReply(3)
    assert resumed[-1] == HearTurnEnd(4, SpeechEnded(2_500, 5_000, 5_200))
    assert call.state.turn is not None and call.state.turn.audio_pending
    late = step(call.state, TurnEndHeard(2, 0.9), 5_210, HEARING)
    assert late.ignored and late.state == call.state  # the old pause's verdict


def test_no_verdict_lets_the_words_decide_alone() -> None:
    call = hearing_pause()
    call.at(4_220, TranscriptReady(2, QUESTION))
    assert call.at(4_240, TurnEndHeard(2, None)) == ()  # the model failed
    assert call.at(4_250, Tick(0.05)) == (CommitUserTurn(2, QUESTION), ReleaseReply(3))


def test_a_verdict_that_never_comes_is_waited_for_up_to_the_long_silence() -> None:
    call = hearing_pause()
    call.at(4_220, TranscriptReady(2, QUESTION))
    assert call.at(4_999, Tick(0.05)) == ()
    assert call.at(5_000, Tick(0.05)) == (CommitUserTurn(2, QUESTION), ReleaseReply(3))
