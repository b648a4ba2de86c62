"""Matching what a person typed to the buttons they were shown.

Buttons must degrade gracefully (cheap phones, old clients, WhatsApp lists that do not render):
a person may tap, type the number shown beside a button, type its title, or a close spelling.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from conversations.events import Button
from conversations.validators import normalize_text

# Words that mean yes/no in Indonesian, Minang and English, as people type them in chats.
YES_WORDS = frozenset(
    "ya iya iyo yo y yes yup ok oke okay setuju betul benar bana lanjut lanjutkan sure agree".split()
)
# "belum" (not yet) answers "are you already a member?" even when the buttons are in English.
NO_WORDS = frozenset("tidak tdk ndak indak ga gak nggak enggak engga no n nope bukan tak belum blm".split())

# Similarity (0-100) above which a typed text is taken for a button title; below it we ask again
# rather than guess, because a wrong guess silently stores a wrong answer.
FUZZY_CUTOFF = 82


def match_choice(text: str, buttons: tuple[Button, ...] | list[Button]) -> Button | None:
    """The button a typed text most plausibly means, or None."""
    typed = normalize_text(text)
    if not typed or not buttons:
        return None
    if typed.isdigit():
        index = int(typed) - 1
        return buttons[index] if 0 <= index < len(buttons) else None
    for button in buttons:
        if typed in (normalize_text(button.title), normalize_text(button.id.split(":")[-1])):
            return button
    words = set(typed.split())
    for button in buttons:
        suffix = button.id.split(":")[-1]
        if suffix in ("yes", "agree", "continue") and words & YES_WORDS and not words & NO_WORDS:
            return button
        if suffix in ("no", "disagree") and words & NO_WORDS:
            return button
    scored = sorted(
        ((fuzz.WRatio(typed, normalize_text(b.title)), i) for i, b in enumerate(buttons)),
        reverse=True,
    )
    best, index = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else 0
    # A clear winner only: two titles that both look alike mean we must ask.
    if best >= FUZZY_CUTOFF and best - runner_up >= 5 and len(typed) >= 3:
        return buttons[index]
    return None
