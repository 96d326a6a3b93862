"""Who a caller is to memory: an HMAC-SHA256 of their number under a server secret. Pure.

The database holds only this key, never the number: a leaked database (or backup) then reveals
nothing without the secret, and the ~10^10 numbers of a country, which a plain hash would let anyone
enumerate in minutes, cannot be tried without it either. Same number, same secret: same key, so a
caller's memory follows them across calls and across orchestrator pods sharing the secret. Rotating
the secret forgets everyone.

The number is normalised first, so that the formats one caller may arrive in agree:

- Twilio's ``From`` is E.164 (``+14155550100``); spaces, dashes, parentheses and dots are dropped
  (``+1 (415) 555-0100``). A number without ``+`` keeps its digits as they are: no country is
  guessed, and Twilio always sends the ``+`` anyway.
- A browser caller is ``client:<identity>``; it is hashed as it is (identities are case-sensitive).
- Anything else raises :class:`ValueError`: ``anonymous``/``restricted`` and Twilio's numeric
  placeholders for a withheld caller ID above all, since every caller who withholds their number
  would otherwise share one memory. Error messages never repeat the number (they end up in logs).
"""

from __future__ import annotations

import hashlib
import hmac
import re

# Secrets shorter than this are guessable enough to undo the point of keying the hash.
MIN_SECRET_BYTES = 16
# Bound into every key so that the same secret used elsewhere (it should not be) yields other hashes.
_DOMAIN = b"client-caller/caller-memory/v1\n"
_SEPARATORS = re.compile(r"[\s\-().]")
# E.164: a country code never starts with 0; 15 digits at most. The shortest real numbers (small
# island states) have 7 digits with their country code.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# Without "+": a national number or a short code.
_NATIONAL = re.compile(r"[0-9]{3,15}")
_CLIENT_PREFIX = "client:"
# Twilio Client identities: printable ASCII without spaces, at most a few hundred characters.
_CLIENT_IDENTITY = re.compile(r"[!-~]{1,256}")
# What Twilio puts in ``From`` when the caller withheld their number: the keypad spellings of
# ANONYMOUS, RESTRICTED, UNAVAILABLE, BLOCKED and UNKNOWN.
_WITHHELD_NUMBERS = frozenset({"+266696687", "+7378742833", "+86282452253", "+2562533", "+8656696"})


def caller_key(number: str, secret: bytes) -> str:
    """The caller's key (64 hex characters) for ``number`` as Twilio sends it in ``From``.

    Raises :class:`ValueError` when ``number`` is not a caller we can tell apart from others (see
    the module docstring), or when ``secret`` is shorter than :data:`MIN_SECRET_BYTES`.
    """
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"caller key secret must be at least {MIN_SECRET_BYTES} bytes")
    identity = normalised_caller(number)
    return hmac.new(secret, _DOMAIN + identity.encode(), hashlib.sha256).hexdigest()


def normalised_caller(number: str) -> str:
    """``number`` in the one form its key is computed from: E.164 or digits, or ``client:<id>``."""
    text = number.strip()
    if text.startswith(_CLIENT_PREFIX):
        if not _CLIENT_IDENTITY.fullmatch(text.removeprefix(_CLIENT_PREFIX)):
            raise ValueError("not a Twilio client identity")
        return text
    compact = _SEPARATORS.sub("", text)
    if compact in _WITHHELD_NUMBERS:
        raise ValueError("caller ID withheld")
    if _E164.fullmatch(compact) or _NATIONAL.fullmatch(compact):
        return compact
    if compact.isalpha():  # "anonymous", "restricted", "unknown", ...
        raise ValueError("caller ID withheld or unknown")
    raise ValueError(f"not a phone number ({len(text)} characters)")
