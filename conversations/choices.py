"""Matching what a person typed to the buttons they were shown.

Buttons must degrade gracefully (cheap phones, old clients, WhatsApp lists that do not render):
a person may tap, type the number shown beside a button, type its title, a close spelling, or
say it in their own words. How a text maps to a choice is decided in one place,
:mod:`conversations.understand` (table-driven from conversations/data/understanding.yaml);
this module is its short form for callers that want a button or nothing.
"""

from __future__ import annotations

from conversations.events import Button
from conversations.understand import Reading, read_choice

__all__ = ["Reading", "match_choice", "read_choice"]


def match_choice(text: str, buttons: tuple[Button, ...] | list[Button], *, numbers_shown: bool = True) -> Button | None:
    """The button a typed text surely means, or None (a fairly close spelling is not enough
    here: callers that can ask "Did you mean ...?" use :func:`read_choice`)."""
    reading = read_choice(text, buttons, numbers_shown=numbers_shown)
    return reading.button if reading and reading.sure else None
