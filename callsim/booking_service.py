"""The demo restaurant's booking service: the business webhook behind the host persona's tools.

The Green Table is open Tuesday to Sunday, 17:00 to 23:00, with six tables of four and two of six.
A booking holds one table for two hours, so the last one starts at 21:00; a party gets the smallest
free table that seats it. The service speaks the tools' webhook protocol (a POST of
``{"tool", "arguments", "call_sid"}``, see :mod:`orchestrator.tools.webhook`):

* ``POST /check_availability`` ``{"arguments": {"date", "time", "party_size"}}`` ->
  ``{"available", "date", "time", "party_size", "alternatives": [{"date", "time"}], "reason"?}``
* ``POST /book_table`` ``{"arguments": {"name", "date", "time", "party_size"}}`` ->
  ``{"booked": true, "booking_id", "name", "date", "time", "party_size"}`` or
  ``{"booked": false, "reason", "alternatives"}``
* ``GET /bookings`` -> every booking, in order.

A small model fills the arguments, so they are read leniently: dates as ``2025-06-03``, ``today``,
``tomorrow``, ``friday``, ``next friday``, ``June 5``; times as ``19:00``, ``7 pm``, ``7:30pm``,
``seven``, ``half past seven`` (an hour without am/pm is the evening's); party sizes as ``4``,
``"4"``, ``"four"``, ``"4 people"``. What cannot be read comes back as a ``reason`` the agent can
repeat, with HTTP 200, not as an error.

Bookings live in SQLite (a file, or ``":memory:"``) through one connection guarded by a lock.
:class:`BookingService` serves the app on a free localhost port::

    async with BookingService(":memory:") as base_url:
        ...  # tools' {base_url}

``python -m callsim.booking_service --db bookings.sqlite --port 8090`` serves it on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import re
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from callsim.twilio_phone import serve_app

OPEN_WEEKDAYS = frozenset(range(1, 7))  # Tuesday (1) .. Sunday (6); closed Monday (0)
OPENS = dt.time(17, 0)
CLOSES = dt.time(23, 0)
SLOT = dt.timedelta(hours=2)
LAST_START = dt.time(21, 0)
SLOT_STEP_MIN = 30  # alternatives are offered on the half hour
TABLES: tuple[tuple[int, int], ...] = (*((number, 4) for number in range(1, 7)), (7, 6), (8, 6))
MAX_PARTY = max(seats for _, seats in TABLES)
MAX_ALTERNATIVES = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bookings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    date TEXT NOT NULL,
    time TEXT NOT NULL,
    party_size INTEGER NOT NULL,
    table_no INTEGER NOT NULL,
    call_sid TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
)
"""


class ArgumentError(ValueError):
    """An argument the service cannot read; the message is said back to the caller."""


# -- lenient parsing ------------------------------------------------------------------------------

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a": 1,
    "an": 1,
    "single": 1,
    "couple": 2,
    "pair": 2,
}
_MINUTE_WORDS = {"oh five": 5, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30}
_MINUTE_WORDS |= {"forty": 40, "forty five": 45, "fortyfive": 45, "fifty": 50}
_WEEKDAYS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "tues": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_DATE_FILLER = {"on", "this", "coming", "the", "of", "for", "evening", "night"}
_TIME_FILLER = {"at", "around", "about", "oclock", "ish", "sharp", "for", "the"}


def parse_date(value: Any, today: dt.date) -> dt.date:
    """``2025-06-03``, ``today``/``tonight``, ``tomorrow``, ``day after tomorrow``, a weekday
    (``friday``: the next one, today included; ``next friday``: never today), ``June 5``/``5th of
    June`` (this year, or next if it has passed)."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ArgumentError("I need a date for the booking")
    text = value.strip().lower()
    with contextlib.suppress(ValueError):
        return dt.date.fromisoformat(text[:10])
    words = [w for w in re.split(r"[\s,.]+", text) if w and w not in _DATE_FILLER]
    phrase = " ".join(words)
    if phrase in ("today", "tonight"):
        return today
    if phrase == "tomorrow":
        return today + dt.timedelta(days=1)
    if phrase in ("day after tomorrow", "after tomorrow"):
        return today + dt.timedelta(days=2)
    following = bool(words) and words[0] == "next"
    if following:
        words = words[1:]
    if len(words) == 1 and words[0] in _WEEKDAYS:
        ahead = (_WEEKDAYS[words[0]] - today.weekday()) % 7
        if ahead == 0 and following:
            ahead = 7
        return today + dt.timedelta(days=ahead)
    found = _month_day(words, today)
    if found is not None:
        return found
    raise ArgumentError(f"I could not understand the date {value!r}")


def _month_day(words: list[str], today: dt.date) -> dt.date | None:
    month = day = year = None
    for word in words:
        if word in _WEEKDAYS:
            continue  # "friday june 6": the day of the month decides
        if word in _MONTHS:
            month = _MONTHS[word]
            continue
        match = re.fullmatch(r"(\d{1,4})(st|nd|rd|th)?", word)
        if match is None:
            return None
        number = int(match.group(1))
        if number > 31:
            year = number
        else:
            day = number
    if month is None or day is None:
        return None
    try:
        found = dt.date(year or today.year, month, day)
        if year is None and found < today:
            found = dt.date(today.year + 1, month, day)
    except ValueError:
        return None
    return found


def parse_time(value: Any) -> dt.time:
    """``19:00``, ``19.30``, ``1930``, ``19h30``, ``7 pm``, ``7:30pm``, ``seven``, ``seven thirty``,
    ``half past seven``, ``quarter to eight``; an hour from 1 to 11 without ``am`` is the evening's."""
    if isinstance(value, dt.time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ArgumentError("I need a time for the booking")
    text = value.strip().lower()
    text = re.sub(r"\b([ap])\.\s*m\.?", r"\1m", text)
    text = text.replace("o'clock", "oclock").replace("-", " ")
    meridiem: str | None = None
    if re.search(r"\b(tonight|evening|night|afternoon)\b", text):
        meridiem = "pm"
    if re.search(r"\bmorning\b", text):
        meridiem = "am"
    text = re.sub(
        r"\b(tonight|in the evening|in the afternoon|in the morning|at night)\b", " ", text
    )
    match = re.search(r"(\d)\s*(am|pm)\b", text)
    if match:
        meridiem = match.group(2)
    text = re.sub(r"(\d)\s*(am|pm)\b", r"\1", text)
    text = re.sub(r"\b(am|pm)\b", " ", text).strip()
    words = [w for w in text.split() if w not in _TIME_FILLER]
    hour_minute = _digits_time(" ".join(words)) or _words_time(words)
    if hour_minute is None:
        raise ArgumentError(f"I could not understand the time {value!r}")
    hour, minute = hour_minute
    if text in ("noon", "midday"):
        meridiem = "noon"
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    elif meridiem is None and 1 <= hour <= 11:
        hour += 12  # a restaurant open in the evening: "seven" is 19:00
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ArgumentError(f"I could not understand the time {value!r}")
    return dt.time(hour, minute)


def _digits_time(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d{1,2})(?:\s*[:.h]\s*(\d{2}))?", text) or re.fullmatch(
        r"(\d{2})(\d{2})", text
    )
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def _words_time(words: list[str]) -> tuple[int, int] | None:
    def hour_of(word: str) -> int | None:
        if word.isdigit():
            return int(word)
        if word in ("noon", "midday"):
            return 12
        number = _NUMBER_WORDS.get(word)
        return number if word not in ("a", "an", "single", "couple", "pair") else None

    if len(words) == 3 and words[1] in ("past", "after", "to", "before"):
        offsets = {"half": 30, "quarter": 15, "ten": 10, "twenty": 20, "five": 5}
        offset = offsets.get(words[0])
        hour = hour_of(words[2])
        if offset is None or hour is None:
            return None
        if words[1] in ("past", "after"):
            return hour, offset
        return (hour - 1) % 24, 60 - offset
    if not words:
        return None
    hour = hour_of(words[0])
    if hour is None:
        return None
    rest = " ".join(words[1:])
    if not rest:
        return hour, 0
    if rest.isdigit() and len(rest) == 2:
        return hour, int(rest)
    minute = _MINUTE_WORDS.get(rest)
    return None if minute is None else (hour, minute)


def parse_party_size(value: Any) -> int:
    """``4``, ``"4"``, ``"four"``, ``"4 people"``, ``"a party of four"``, ``"a couple"``."""
    size: int | None = None
    if isinstance(value, bool):
        size = None
    elif isinstance(value, int):
        size = value
    elif isinstance(value, float) and value.is_integer():
        size = int(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        digits = re.search(r"\d+", text)
        if digits:
            size = int(digits.group())
        else:
            for word in re.split(r"[\s,.-]+", text):
                if word in _NUMBER_WORDS and word not in ("a", "an"):
                    size = _NUMBER_WORDS[word]
                    break
    if size is None:
        raise ArgumentError(f"I could not understand the number of guests {value!r}")
    if size < 1:
        raise ArgumentError("the number of guests must be at least one")
    return size


# -- the booking book -----------------------------------------------------------------------------


class BookingBook:
    """The restaurant's bookings in SQLite. Thread-safe: one connection, one lock."""

    def __init__(self, db_path: str | Path, today: dt.date | None = None) -> None:
        self.db_path = str(db_path)
        self._today = today
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute(_SCHEMA)

    def today(self) -> dt.date:
        return self._today or dt.date.today()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def check(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        try:
            day, start, party = self._request(arguments)
        except ArgumentError as exc:
            return {"available": False, "reason": str(exc), "alternatives": []}
        with self._lock:
            problem = self._problem(day, start, party)
            alternatives = [] if problem is None else self._alternatives(day, start, party)
        answer: dict[str, Any] = {
            "available": problem is None,
            "date": day.isoformat(),
            "time": start.strftime("%H:%M"),
            "party_size": party,
            "alternatives": alternatives,
        }
        if problem is not None:
            answer["reason"] = problem
        return answer

    def book(self, arguments: Mapping[str, Any], call_sid: str = "") -> dict[str, Any]:
        name = arguments.get("name")
        try:
            if not isinstance(name, str) or not name.strip():
                raise ArgumentError("I need a name for the booking")
            day, start, party = self._request(arguments)
        except ArgumentError as exc:
            return {"booked": False, "reason": str(exc), "alternatives": []}
        with self._lock:
            problem = self._problem(day, start, party)
            if problem is not None:
                return {
                    "booked": False,
                    "reason": problem,
                    "date": day.isoformat(),
                    "time": start.strftime("%H:%M"),
                    "party_size": party,
                    "alternatives": self._alternatives(day, start, party),
                }
            table = self._free_table(day, start, party)
            assert table is not None  # _problem said there is one
            cursor = self._db.execute(
                "INSERT INTO bookings (name, date, time, party_size, table_no, call_sid, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    name.strip()[:100],
                    day.isoformat(),
                    start.strftime("%H:%M"),
                    party,
                    table,
                    call_sid[:64],
                    dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                ),
            )
            booking_id = cursor.lastrowid
        return {
            "booked": True,
            "booking_id": booking_id,
            "name": name.strip()[:100],
            "date": day.isoformat(),
            "time": start.strftime("%H:%M"),
            "party_size": party,
        }

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, date, time, party_size, table_no, call_sid, created_at"
                " FROM bookings ORDER BY date, time, id"
            ).fetchall()
        return [
            {
                "booking_id": row["id"],
                "name": row["name"],
                "date": row["date"],
                "time": row["time"],
                "party_size": row["party_size"],
                "table": row["table_no"],
                "call_sid": row["call_sid"],
                "created_at": row["created_at"],
            }
            for row in rows
        ]

    def _request(self, arguments: Mapping[str, Any]) -> tuple[dt.date, dt.time, int]:
        return (
            parse_date(arguments.get("date"), self.today()),
            parse_time(arguments.get("time")),
            parse_party_size(arguments.get("party_size")),
        )

    def _problem(self, day: dt.date, start: dt.time, party: int) -> str | None:
        """Why ``party`` cannot sit at ``start`` on ``day``; None when a table is free."""
        if day < self.today():
            return f"{_spoken_date(day)} is in the past"
        if day.weekday() not in OPEN_WEEKDAYS:
            return f"we are closed on {day.strftime('%A')}s; we are open Tuesday to Sunday"
        if not OPENS <= start <= LAST_START:
            return "we take bookings from 5 pm to 9 pm; the restaurant closes at 11 pm"
        if party > MAX_PARTY:
            return f"our largest table seats {MAX_PARTY}; for a larger party please speak to the manager"
        if self._free_table(day, start, party) is None:
            return f"we are fully booked at {start.strftime('%H:%M')} for {party}"
        return None

    def _free_table(self, day: dt.date, start: dt.time, party: int) -> int | None:
        begin = _minutes(start)
        busy = {
            row["table_no"]
            for row in self._db.execute(
                "SELECT table_no, time FROM bookings WHERE date = ?", (day.isoformat(),)
            )
            if abs(_minutes(dt.time.fromisoformat(row["time"])) - begin) < SLOT.seconds // 60
        }
        fitting = sorted((seats, number) for number, seats in TABLES if seats >= party)
        for _, number in fitting:
            if number not in busy:
                return number
        return None

    def _alternatives(self, day: dt.date, start: dt.time, party: int) -> list[dict[str, str]]:
        """Up to three other starts with a free table: the same day's nearest, else the nearest
        open days' at the same time (or 19:00 if that time is outside hours)."""
        if party > MAX_PARTY:
            return []
        found: list[tuple[dt.date, dt.time]] = []
        if day >= self.today() and day.weekday() in OPEN_WEEKDAYS:
            starts = [
                dt.time(m // 60, m % 60)
                for m in range(_minutes(OPENS), _minutes(LAST_START) + 1, SLOT_STEP_MIN)
            ]
            wanted = _minutes(start)
            starts.sort(key=lambda t: (abs(_minutes(t) - wanted), _minutes(t)))
            for candidate in starts:
                if candidate != start and self._free_table(day, candidate, party) is not None:
                    found.append((day, candidate))
                if len(found) == MAX_ALTERNATIVES:
                    break
            found.sort()
        if not found:
            at = start if OPENS <= start <= LAST_START else dt.time(19, 0)
            candidate_day = max(day, self.today())
            for _ in range(14):
                candidate_day += dt.timedelta(days=1)
                if (
                    candidate_day.weekday() in OPEN_WEEKDAYS
                    and self._free_table(candidate_day, at, party) is not None
                ):
                    found.append((candidate_day, at))
                    if len(found) == MAX_ALTERNATIVES:
                        break
        return [{"date": d.isoformat(), "time": t.strftime("%H:%M")} for d, t in found]


def _minutes(time: dt.time) -> int:
    return time.hour * 60 + time.minute


def _spoken_date(day: dt.date) -> str:
    return f"{day.strftime('%A')} {day.isoformat()}"


# -- the HTTP app ---------------------------------------------------------------------------------


def booking_app(book: BookingBook) -> FastAPI:
    app = FastAPI(title="The Green Table bookings")

    async def arguments_of(request: Request) -> tuple[dict[str, Any], str]:
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, "the body must be JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "the body must be a JSON object")
        arguments = body.get("arguments", {})
        if not isinstance(arguments, dict):
            raise HTTPException(400, "'arguments' must be a JSON object")
        call_sid = body.get("call_sid", "")
        return arguments, call_sid if isinstance(call_sid, str) else ""

    @app.post("/check_availability")
    async def check_availability(request: Request) -> dict[str, Any]:
        arguments, _ = await arguments_of(request)
        return book.check(arguments)

    @app.post("/book_table")
    async def book_table(request: Request) -> dict[str, Any]:
        arguments, call_sid = await arguments_of(request)
        return book.book(arguments, call_sid)

    @app.get("/bookings")
    async def bookings() -> list[dict[str, Any]]:
        return book.all()

    return app


class BookingService:
    """The booking service on a free localhost port; ``async with`` yields its base URL.

    ``today``: the date "today" means (tests pin it); None is the real date, read per request."""

    def __init__(self, db_path: str | Path = ":memory:", today: dt.date | None = None) -> None:
        self.book = BookingBook(db_path, today)
        self.app = booking_app(self.book)
        self.base_url = ""
        self._stack: contextlib.AsyncExitStack | None = None

    async def __aenter__(self) -> str:
        stack = contextlib.AsyncExitStack()
        self.base_url = await stack.enter_async_context(serve_app(self.app))
        self._stack = stack
        return self.base_url

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def bookings(self) -> list[dict[str, Any]]:
        """Every booking, read from SQLite directly (also after the server stopped)."""
        return self.book.all()

    def close(self) -> None:
        self.book.close()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="The demo restaurant's booking service")
    parser.add_argument("--db", default="bookings.sqlite", help="SQLite file, or :memory:")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    uvicorn.run(booking_app(BookingBook(args.db)), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
