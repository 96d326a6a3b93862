"""Conversation history: heard text only after a barge-in, interrupting speech as the next user turn."""

from __future__ import annotations

from orchestrator.conversation.heard_text import HeardText, PlayoutPosition, SpokenChunk, heard_text
from orchestrator.conversation.history import ConversationHistory, HistoryTurn, Role


def heard(text: str, complete: bool = True) -> HeardText:
    return HeardText(text, complete, 0, 0.0)


def test_turns_in_order_with_system_prompt_apart() -> None:
    history = ConversationHistory("You are a booking agent.")
    history.add_reply(heard("Hello! How can I help?"))
    history.add_user(" A table for two, please. ")
    history.add_reply(heard("For what time?"))
    assert history.system_prompt == "You are a booking agent."
    assert history.turns == (
        HistoryTurn(Role.ASSISTANT, "Hello! How can I help?"),
        HistoryTurn(Role.USER, "A table for two, please."),
        HistoryTurn(Role.ASSISTANT, "For what time?"),
    )


def test_interrupted_reply_stores_only_heard_text_then_the_interrupting_speech() -> None:
    texts = ("We have tables at six,", "at seven, and at nine tonight.")
    reply = [SpokenChunk(text, 50.0 * len(text)) for text in texts]
    history = ConversationHistory("")
    history.add_user("Any tables tonight?")
    history.add_reply(heard_text(reply, PlayoutPosition(1, 500)))  # 10 characters into chunk 2
    history.add_user("Seven works.")
    assert history.turns == (
        HistoryTurn(Role.USER, "Any tables tonight?"),
        HistoryTurn(Role.ASSISTANT, "We have tables at six, at seven,", interrupted=True),
        HistoryTurn(Role.USER, "Seven works."),
    )


def test_reply_heard_not_at_all_leaves_no_turn_and_caller_words_merge() -> None:
    history = ConversationHistory("")
    history.add_user("I need to change")
    history.add_reply(heard("", complete=False))
    history.add_user("my booking.")
    assert history.turns == (HistoryTurn(Role.USER, "I need to change my booking."),)


def test_blank_transcript_is_not_a_turn_and_consecutive_replies_merge() -> None:
    history = ConversationHistory("")
    history.add_user("   ")
    history.add_reply(heard("Hello!"))
    history.add_reply(heard("Sorry, could you", complete=False))
    assert history.turns == (
        HistoryTurn(Role.ASSISTANT, "Hello! Sorry, could you", interrupted=True),
    )


def test_role_values_are_gemmas() -> None:
    assert [role.value for role in Role] == ["user", "model"]
