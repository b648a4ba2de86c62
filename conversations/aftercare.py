"""After submission, pure: what a worker who writes again is told, by the status of their
registration, in their language, with no need to know the word "status".

- pending: since when, and which nagari is checking;
- waiting list: their position;
- approved: what happens next;
- enrolled: KPJ number, coverage dates, and how to claim (type "klaim": the claim helper,
  handlers/claims.py; a death claim is made at the branch, not in the JMO app);
- rejected: the reason, and that they may register again;
- anything else (correction, deletion requested, withdrawn, ended): the status, plainly.
A question ("kapan saya dapat kartu?", "why was I rejected?") gets that answer plus a way to
reach a person. handlers/aftercare.py loads the facts; nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conversations.events import Button, Reply
from conversations.handover import ASK_BUTTON
from conversations.i18n import Catalog

# Words that make a message a question, in Indonesian (and Minang spellings) and English.
QUESTION_WORDS = frozenset({
    "kapan", "mengapa", "kenapa", "bagaimana", "gimana", "apa", "apakah", "berapa", "dimana", "di mana",
    "mana", "siapa", "kok", "bilo", "baa", "manga", "when", "why", "how", "what", "where", "which", "who",
})
WORD = re.compile(r"[a-z]+")
# Statuses with their own answer; others get the generic one.
ANSWERED = ("pending", "correction", "waiting", "approved", "enrolled", "rejected")


def is_question(text: str) -> bool:
    lowered = text.lower()
    return "?" in lowered or any(word in QUESTION_WORDS for word in WORD.findall(lowered))


@dataclass(frozen=True)
class AfterFacts:
    """What a worker may be told about their latest registration (nothing they did not give)."""

    reference: str
    status: str
    nagari: str
    submitted: str  # local date
    contact: str  # the help contact of their nagari
    bpjs_branch: str
    decided: str | None = None
    reason: str | None = None
    position: int | None = None  # on the waiting list, from 1
    kpj: str | None = None
    coverage_start: str | None = None
    coverage_end: str | None = None


def answer(catalog: Catalog, lang: str, facts: AfterFacts, question: bool) -> list[Reply]:
    def t(key: str, **params: object) -> str:
        return catalog.text(lang, key, **params)

    status = facts.status if facts.status in ANSWERED else "other"
    key = f"aftercare.{status}"
    text = t(key, reference=facts.reference, nagari=facts.nagari, since=facts.submitted,
             position=facts.position or "-", kpj=facts.kpj or "-", start=facts.coverage_start or "-",
             end=facts.coverage_end or "-", branch=facts.bpjs_branch or "-", reason=facts.reason or "-",
             decided=facts.decided or "-", status=t(f"status.{facts.status}"))
    if question:
        text = f"{text}\n{t('aftercare.contact', contact=facts.contact)}"
    buttons = (Button("cmd:status", t("btn.cmd.status")), Button("cmd:help", t("btn.cmd.help")))
    if facts.status == "rejected":
        buttons = (Button("cmd:start", t("btn.cmd.start")), Button("cmd:help", t("btn.cmd.help")))
    if question:
        # A question the status does not answer: a person is one tap away (handlers/handover.py).
        buttons = (*buttons, Button(ASK_BUTTON, t("btn.handover.ask")))
    return [Reply(key, text, buttons)]
