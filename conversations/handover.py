"""A person to talk to: the rules and words of tickets, without I/O (handlers/handover.py acts).

A worker who asks for a person ("petugas", "saya mau bicara dengan petugas", "talk to someone")
gets a ticket: the registration pauses, and their messages go to the officials of their nagari
until an official closes the ticket, the worker types "lanjut", or the ticket closes by itself
after a silence. Officials answer with `/balas T12 teks` (or, on Telegram, by replying to the
ticket's message), take a ticket with `/ambil T12` or its button, close it with `/tutup T12`
and list open tickets with `/tiket`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from conversations.events import ButtonPress, Inbound, Text
from conversations.understand import asks_for_person
from conversations.validators import normalize_text

# Button ids of tickets: "tk:ask" (a worker asks for a person), "tk:take:<id>", "tk:close:<id>".
BUTTON_PREFIX = "tk:"
ASK_BUTTON = BUTTON_PREFIX + "ask"

# Indonesian names first, English aliases; with or without "/".
COMMAND_WORDS: dict[str, frozenset[str]] = {
    "take": frozenset({"ambil", "take"}),
    "reply": frozenset({"balas", "reply", "jawab"}),
    "close": frozenset({"tutup", "close"}),
    "list": frozenset({"tiket", "tickets", "ticket"}),
}


class HandoverRules(BaseModel):
    """config.yaml `handover:`: office hours told to the worker, and when a ticket is reminded,
    escalated to the admins and closed by itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # ISO weekdays (1 = Monday) and local hours (WIB) when officials answer.
    office_days: tuple[int, ...] = (1, 2, 3, 4, 5)
    office_open: time = time(8, 0)
    office_close: time = time(16, 0)
    # Not taken by an operator of the nagari within this time: it goes to the admins too.
    take_within_minutes: int = Field(default=120, ge=1)
    # Opened or last written by the worker this long ago without an answer: its officials are reminded.
    remind_after_hours: int = Field(default=4, ge=1)
    # No message either way for this long: the ticket closes by itself and the worker is told.
    close_after_hours: int = Field(default=72, ge=1)

    @field_validator("office_days")
    @classmethod
    def _weekdays(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if not days or any(day < 1 or day > 7 for day in days):
            raise ValueError("office_days: ISO weekdays 1 (Monday) to 7 (Sunday), at least one")
        return tuple(sorted(set(days)))

    def is_open(self, local: datetime) -> bool:
        return local.isoweekday() in self.office_days and self.office_open <= local.time() < self.office_close

    def next_open(self, local: datetime) -> datetime:
        """The next moment the office opens after `local` (local time, same zone)."""
        day = local
        for _ in range(8):
            start = day.replace(hour=self.office_open.hour, minute=self.office_open.minute, second=0, microsecond=0)
            if day.isoweekday() in self.office_days and start > local:
                return start
            day = (day + timedelta(days=1)).replace(hour=0, minute=0)
        return local


@dataclass(frozen=True)
class TicketCommand:
    name: str  # take | reply | close | list
    ticket: str | None = None  # as typed ("T12"); None for list
    text: str = ""  # the answer (reply) or a closing note
    button: bool = False
    slash: bool = False  # typed with "/": unmistakably a command, whoever typed it


def parse_ticket_command(event: Inbound) -> TicketCommand | None:
    """`/balas T12 Besok datang ke kantor` -> TicketCommand("reply", "T12", "Besok ...");
    a ticket button -> its command; anything else -> None."""
    if isinstance(event, ButtonPress):
        if not event.button_id.startswith(BUTTON_PREFIX) or event.button_id == ASK_BUTTON:
            return None
        _, name, *rest = event.button_id.split(":", 2)
        return TicketCommand(name, rest[0] if rest else None, button=True) if name in ("take", "close") else None
    if not isinstance(event, Text):
        return None
    stripped = event.text.strip()
    head, _, tail = stripped.lstrip("/").partition(" ")
    word = normalize_text(head.split("@", 1)[0])
    name = next((n for n, words in COMMAND_WORDS.items() if word in words), None)
    # Without "/" only the unmistakable ones: "balas T12 ...", "tutup T12"; never a worker's "tutup".
    if name is None or (not stripped.startswith("/") and not tail.strip()):
        return None
    ticket, _, rest = tail.strip().partition(" ")
    slash = stripped.startswith("/")
    if name == "list":
        return TicketCommand("list", text=tail.strip(), slash=slash)
    return TicketCommand(name, ticket or None, rest.strip(), slash=slash)


def is_ticket_command(event: Inbound) -> bool:
    return parse_ticket_command(event) is not None


def asks_for_a_person(event: Inbound) -> bool:
    """A worker's message that asks for a person (a typed phrase or the offer's button)."""
    if isinstance(event, ButtonPress):
        return event.button_id == ASK_BUTTON
    return isinstance(event, Text) and asks_for_person(event.text)


def day_range(days: tuple[int, ...], names: list[str]) -> str:
    """(1, 2, 3, 4, 5) -> "Senin–Jumat"; (1, 3, 5) -> "Senin, Rabu, Jumat" (`names`: Monday first)."""
    if len(days) > 2 and list(days) == list(range(days[0], days[-1] + 1)):
        return f"{names[days[0] - 1]}–{names[days[-1] - 1]}"
    return ", ".join(names[day - 1] for day in days)


def short(text: str, limit: int = 300) -> str:
    """A worker's text shown to officials in a list line: one line, at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
