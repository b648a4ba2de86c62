"""The state of one person's conversation, as stored between messages.

Plain data that round-trips through JSON; storage encrypts the NIK inside it before writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


# Steps at which the conversation collects nothing: not begun, finished, or cancelled. The one
# definition for everything that asks "is this person in the middle of a registration?" (draft
# expiry, reminders, campaigns waiting for busy people, the "unfinished" audience, assisted
# registrations).
IDLE_STEPS = ("idle", "done", "ended")


@dataclass
class State:
    lang: str | None = None
    # Current step: a form field key, or one of the flow's own steps (see registration.STEPS).
    step: str = "idle"
    answers: dict[str, Any] = field(default_factory=dict)
    # Visited form fields, for "kembali"/"back".
    history: list[str] = field(default_factory=list)
    # Consecutive invalid answers at the current step (help is offered at max_failures).
    failures: int = 0
    # A yes/no question that interrupts the form: "cancel", "delete", "resume", "restart".
    confirm: str | None = None
    # Editing a group from the summary: the group's earlier answers, restored on back/cancel.
    editing: int | None = None
    backup: dict[str, Any] = field(default_factory=dict)
    # Correcting a submitted, undecided registration: its reference.
    correcting: str | None = None
    # Set when the person's consent has been recorded for this draft.
    consent_version: str | None = None
    # A NIK waiting for the duplicate check (kept only between the effect and its result).
    pending: dict[str, Any] = field(default_factory=dict)
    # Last registration this person submitted.
    reference: str | None = None
    last_seen: str | None = None  # ISO 8601
    # NIKs tried that belong to other people's registrations; kept across restarts of the form.
    nik_probes: int = 0
    # The link the person came through ({"id": link row id, "nagari": Kemendagri code}): the
    # source of their registration, and the nagari offered for confirmation. Kept across
    # restarts of the form, like nik_probes; no personal data.
    link: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: _copied(getattr(self, name)) for name in self.__dataclass_fields__}

    def copy(self) -> "State":
        """An independent copy (nothing shared with this one)."""
        return State(**self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "State":
        if not data:
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def in_form(self) -> bool:
        # The language question is the threshold of the form, not a step in it.
        return self.step not in IDLE_STEPS and self.step != "language"


def _copied(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, scalars: what a State holds). dataclasses.asdict
    and copy.deepcopy do the same for any object, at five to ten times the cost, on every turn."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value
