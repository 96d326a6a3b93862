"""The demo restaurant's booking service, served for real on a free port and called over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from callsim.booking_service import (
    ArgumentError,
    BookingService,
    parse_date,
    parse_party_size,
    parse_time,
)

TUESDAY = dt.date(2026, 6, 2)
SID = "CA00000000000000000000000000000001"


class Booking:
    def __init__(self, client: httpx.AsyncClient, service: BookingService) -> None:
        self.client = client
        self.service = service

    async def post(self, tool: str, **arguments: Any) -> dict[str, Any]:
        response = await self.client.post(
            f"/{tool}", json={"tool": tool, "arguments": arguments, "call_sid": SID}
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def check(self, **arguments: Any) -> dict[str, Any]:
        return await self.post("check_availability", **arguments)

    async def book(self, **arguments: Any) -> dict[str, Any]:
        return await self.post("book_table", **arguments)


@pytest.fixture
async def booking() -> AsyncIterator[Booking]:
    service = BookingService(":memory:", today=TUESDAY)
    async with service as base_url, httpx.AsyncClient(base_url=base_url) as client:
        assert base_url.startswith("http://127.0.0.1:")
        yield Booking(client, service)
    service.close()


async def test_a_free_table_is_available(booking: Booking) -> None:
    answer = await booking.check(date="2026-06-05", time="19:00", party_size=4)
    assert answer == {
        "available": True,
        "date": "2026-06-05",
        "time": "19:00",
        "party_size": 4,
        "alternatives": [],
    }


async def test_a_booking_is_made_listed_and_stored(booking: Booking) -> None:
    answer = await booking.book(name="Ada Lovelace", date="2026-06-05", time="19:30", party_size=2)
    assert answer["booked"] is True
    assert isinstance(answer["booking_id"], int)
    assert (answer["name"], answer["date"], answer["time"], answer["party_size"]) == (
        "Ada Lovelace",
        "2026-06-05",
        "19:30",
        2,
    )
    listed = (await booking.client.get("/bookings")).json()
    assert listed == booking.service.bookings()
    [stored] = listed
    assert stored["booking_id"] == answer["booking_id"]
    assert (stored["name"], stored["date"], stored["time"], stored["party_size"]) == (
        "Ada Lovelace",
        "2026-06-05",
        "19:30",
        2,
    )
    assert stored["call_sid"] == SID
    assert stored["table"] in range(1, 7)  # a party of two gets a table of four


async def test_a_full_slot_is_refused_with_alternatives(booking: Booking) -> None:
    for i in range(8):  # six tables of four, then the two of six
        answer = await booking.book(
            name=f"Guest {i}", date="2026-06-05", time="19:00", party_size=4
        )
        assert answer["booked"], answer
    assert sorted(b["table"] for b in booking.service.bookings()) == list(range(1, 9))
    check = await booking.check(date="2026-06-05", time="19:00", party_size=2)
    assert check["available"] is False
    assert "fully booked" in check["reason"]
    # two-hour slots: 17:00 and 21:00 are free again, 17:30..20:30 overlap the 19:00 bookings
    assert check["alternatives"] == [
        {"date": "2026-06-05", "time": "17:00"},
        {"date": "2026-06-05", "time": "21:00"},
    ]
    refused = await booking.book(name="Late", date="2026-06-05", time="20:30", party_size=1)
    assert refused["booked"] is False and "fully booked" in refused["reason"]
    assert len(booking.service.bookings()) == 8
    assert (await booking.check(date="2026-06-05", time="21:00", party_size=4))["available"]


async def test_a_party_of_six_needs_a_table_of_six(booking: Booking) -> None:
    for i in range(2):
        assert (await booking.book(name=f"Big {i}", date="friday", time="20:00", party_size=6))[
            "booked"
        ]
    answer = await booking.check(date="friday", time="20:00", party_size=5)
    assert answer["available"] is False
    assert (await booking.check(date="friday", time="20:00", party_size=4))["available"]


async def test_closed_on_monday_offers_the_next_open_days(booking: Booking) -> None:
    answer = await booking.check(date="monday", time="19:00", party_size=2)
    assert answer["available"] is False
    assert answer["date"] == "2026-06-08"
    assert "closed on Mondays" in answer["reason"]
    assert answer["alternatives"][0] == {"date": "2026-06-09", "time": "19:00"}
    refused = await booking.book(name="Ada", date="2026-06-08", time="19:00", party_size=2)
    assert refused["booked"] is False
    assert booking.service.bookings() == []


@pytest.mark.parametrize("time", ["16:30", "21:30", "10 am", "23:00"])
async def test_outside_the_hours(booking: Booking, time: str) -> None:
    answer = await booking.check(date="tomorrow", time=time, party_size=2)
    assert answer["available"] is False
    assert "from 5 pm to 9 pm" in answer["reason"]
    assert answer["alternatives"]


async def test_the_past_and_too_large_a_party_are_refused(booking: Booking) -> None:
    past = await booking.check(date="2026-06-01", time="19:00", party_size=2)
    assert past["available"] is False and "in the past" in past["reason"]
    big = await booking.check(date="friday", time="19:00", party_size=9)
    assert big["available"] is False and "largest table seats 6" in big["reason"]
    assert big["alternatives"] == []


async def test_lenient_arguments_over_http(booking: Booking) -> None:
    answer = await booking.book(name=" Grace ", date="Tomorrow", time="7:30pm", party_size="3")
    assert answer["booked"] is True
    assert (answer["name"], answer["date"], answer["time"], answer["party_size"]) == (
        "Grace",
        "2026-06-03",
        "19:30",
        3,
    )
    check = await booking.check(date="saturday", time="seven", party_size="four people")
    assert (check["date"], check["time"], check["party_size"]) == ("2026-06-06", "19:00", 4)


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"time": "19:00", "party_size": 2}, "I need a date"),
        ({"date": "someday", "time": "19:00", "party_size": 2}, "could not understand the date"),
        ({"date": "today", "time": "teatime", "party_size": 2}, "could not understand the time"),
        ({"date": "today", "time": "19:00", "party_size": "many"}, "number of guests"),
        ({"date": "today", "time": "19:00", "party_size": 0}, "at least one"),
    ],
)
async def test_unreadable_arguments_come_back_as_a_reason(
    booking: Booking, arguments: dict[str, Any], reason: str
) -> None:
    check = await booking.check(**arguments)
    assert check["available"] is False and reason in check["reason"]
    refused = await booking.book(name="Ada", **arguments)
    assert refused["booked"] is False and reason in refused["reason"]
    assert booking.service.bookings() == []


async def test_a_booking_needs_a_name(booking: Booking) -> None:
    answer = await booking.book(date="friday", time="19:00", party_size=2)
    assert answer == {
        "booked": False,
        "reason": "I need a name for the booking",
        "alternatives": [],
    }


async def test_a_body_that_is_not_a_call_is_a_400(booking: Booking) -> None:
    response = await booking.client.post("/book_table", content=b"nope")
    assert response.status_code == 400
    response = await booking.client.post("/book_table", json={"arguments": ["x"]})
    assert response.status_code == 400


async def test_concurrent_bookings_never_share_a_table(booking: Booking) -> None:
    answers = await asyncio.gather(
        *(
            booking.book(name=f"Rush {i}", date="friday", time="19:00", party_size=2)
            for i in range(12)
        )
    )
    assert sum(a["booked"] for a in answers) == 8
    tables = [b["table"] for b in booking.service.bookings()]
    assert sorted(tables) == list(range(1, 9))


async def test_bookings_persist_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "bookings.sqlite"
    first = BookingService(path, today=TUESDAY)
    async with first as base_url, httpx.AsyncClient(base_url=base_url) as client:
        arguments = {"name": "Ada", "date": "friday", "time": "19:00", "party_size": 2}
        response = await client.post("/book_table", json={"arguments": arguments})
        assert response.json()["booked"] is True
    first.close()
    second = BookingService(path, today=TUESDAY)
    assert [b["name"] for b in second.bookings()] == ["Ada"]
    second.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19:00", dt.time(19, 0)),
        ("7 pm", dt.time(19, 0)),
        ("7:30pm", dt.time(19, 30)),
        ("7.30 p.m.", dt.time(19, 30)),
        ("seven", dt.time(19, 0)),
        ("seven thirty", dt.time(19, 30)),
        ("half past seven", dt.time(19, 30)),
        ("quarter to eight", dt.time(19, 45)),
        ("eight o'clock", dt.time(20, 0)),
        ("tonight at 8", dt.time(20, 0)),
        ("1930", dt.time(19, 30)),
        ("19h30", dt.time(19, 30)),
        ("7", dt.time(19, 0)),
        (19, dt.time(19, 0)),
        ("10 am", dt.time(10, 0)),
        ("12 pm", dt.time(12, 0)),
    ],
)
def test_parse_time(text: Any, expected: dt.time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-05", dt.date(2026, 6, 5)),
        ("today", TUESDAY),
        ("tonight", TUESDAY),
        ("Tomorrow", dt.date(2026, 6, 3)),
        ("day after tomorrow", dt.date(2026, 6, 4)),
        ("friday", dt.date(2026, 6, 5)),
        ("this Friday", dt.date(2026, 6, 5)),
        ("tuesday", TUESDAY),
        ("next tuesday", dt.date(2026, 6, 9)),
        ("Sat", dt.date(2026, 6, 6)),
        ("June 5th", dt.date(2026, 6, 5)),
        ("Saturday, June 6", dt.date(2026, 6, 6)),
        ("the 3rd of june", dt.date(2026, 6, 3)),
        ("May 1", dt.date(2027, 5, 1)),  # passed this year: next year's
    ],
)
def test_parse_date(text: str, expected: dt.date) -> None:
    assert parse_date(text, TUESDAY) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(4, 4), ("4", 4), (" 4 ", 4), ("four", 4), ("4 people", 4), ("a party of six", 6), (2.0, 2)],
)
def test_parse_party_size(value: Any, expected: int) -> None:
    assert parse_party_size(value) == expected


@pytest.mark.parametrize("value", [None, True, "", "lots", 2.5, [4]])
def test_unreadable_party_sizes(value: Any) -> None:
    with pytest.raises(ArgumentError):
        parse_party_size(value)
