"""The WhatsApp message templates the bot needs, defined in the project.

Outside the 24-hour window after a person's last message, WhatsApp delivers only a template Meta
has approved. Every kind of message the bot starts has one, in every language the bot speaks:
a short notice with fixed words and a few short parameters (the person's name, a reference, a
nagari, a date), and a quick reply that opens the window again, so the full message follows.
The texts are in the message catalogs (templates.po), like every other sentence; a catalog's
{placeholders} become Meta's {{1}}, {{2}}... in the order `params` lists them.

`graph_body` is the body of Graph API's create-template call (`templates list --json`);
`problems` holds a definition to Meta's published rules for templates:
- the name is lowercase letters, digits and underscores (at most 512);
- the body is at most 1,024 characters; parameters are numbered from 1 without gaps, none at the
  start or the end, no two side by side, and with enough fixed words around them;
- button titles are at most 25 characters, the footer at most 60;
- parameter values have no new line, tab or run of 4 spaces, and stay within their length.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from conversations.i18n import Catalog

NAME = re.compile(r"^[a-z0-9_]{1,512}$")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
NUMBERED = re.compile(r"\{\{(\d+)\}\}")
BODY_MAX, BUTTON_MAX, FOOTER_MAX, VALUE_MAX = 1024, 25, 60, 60
# Meta refuses a template with "too many variables for its length": at least this many fixed
# words per parameter (a conservative reading of the rule).
WORDS_PER_PARAM = 3
CATEGORIES = frozenset({"UTILITY", "MARKETING"})
# Meta's language codes for the bot's languages.
LANGUAGE_CODES = {"id": "id", "en": "en"}


@dataclass(frozen=True)
class TemplateDef:
    kind: str
    name: str
    category: str  # UTILITY (reminders, status notices, answers) or MARKETING (campaigns)
    params: tuple[str, ...]  # the catalog body's placeholders, in the order {{1}}, {{2}}...
    examples: tuple[str, ...]  # one sample value per parameter, shown to Meta's reviewers
    buttons: tuple[str, ...] = ()  # quick replies: catalog keys of their titles
    footer: bool = False
    # Catalog keys (fnmatch patterns) of the messages this template stands in for.
    keys: tuple[str, ...] = ()
    # The template only announces the message: the message itself waits for the person's tap
    # (any message of theirs opens the 24-hour window) and follows at once. A reminder and a
    # campaign are whole in their template: nothing waits.
    holds: bool = True

    @property
    def body_key(self) -> str:
        return f"template.{self.kind}.body"

    @property
    def footer_key(self) -> str:
        return f"template.{self.kind}.footer"


TEMPLATES: tuple[TemplateDef, ...] = (
    TemplateDef("reminder", "pengingat_pendaftaran", "UTILITY", ("name", "date"), ("Siti Rahmah", "28-11-2026"),
                ("template.btn.continue",), keys=("reminder.unfinished*",), holds=False),
    TemplateDef("status_notice", "kabar_pendaftaran", "UTILITY", ("name", "reference", "nagari"),
                ("Siti Rahmah", "SJ-ABC234", "Muaro"), ("template.btn.status",),
                keys=("official.worker.*", "reminder.contribution", "claims.family.*")),
    TemplateDef("coverage_ending", "kepesertaan_berakhir", "UTILITY", ("name", "kpj", "date"),
                ("Siti Rahmah", "26012345678", "31-12-2026"), ("template.btn.status",),
                keys=("reminder.coverage_ending", "official.worker.ending")),
    TemplateDef("ticket_answer", "jawaban_petugas", "UTILITY", ("name", "ticket"), ("Siti Rahmah", "T12"),
                ("template.btn.read",), keys=("handover.worker.*",)),
    TemplateDef("officials_notice", "pemberitahuan_petugas", "UTILITY", ("place", "subject"),
                ("Nagari Muaro", "3 pendaftaran menunggu"), ("template.btn.open",),
                keys=("handover.official.*", "programme.*", "reminder.pending_digest", "campaign.progress",
                      "campaign.report", "campaign.spam_flag", "template_admin.*", "claims.official.*")),
    TemplateDef("campaign", "kkbc_masuk_desa", "MARKETING", ("name", "nagari"), ("Siti Rahmah", "Muaro"),
                ("template.btn.register", "template.btn.stop"), footer=True, holds=False),
)
BY_KIND: dict[str, TemplateDef] = {t.kind: t for t in TEMPLATES}


def kind_of(key: str, official: bool) -> str:
    """The kind of template that stands in for a message with catalog key `key`: the first
    whose patterns match (an exact key before any wildcard), else the notice for officials or
    for workers, by who receives it."""
    for exact in (True, False):
        for template in TEMPLATES:
            if any(("*" not in pattern) == exact and fnmatch.fnmatchcase(key, pattern) for pattern in template.keys):
                return template.kind
    return "officials_notice" if official else "status_notice"


def numbered(text: str, params: tuple[str, ...]) -> str:
    """A catalog text with its {placeholders} as Meta's {{1}}, {{2}}..."""
    return PLACEHOLDER.sub(lambda m: "{{%d}}" % (params.index(m.group(1)) + 1) if m.group(1) in params
                           else m.group(0), text)


def graph_body(template: TemplateDef, catalog: Catalog, lang: str) -> dict[str, Any]:
    """Graph API's create-template body for one language."""
    components: list[dict[str, Any]] = [{
        # The catalog's text as written: formatting it without values would log every {name}.
        "type": "BODY", "text": numbered(catalog.messages.get(lang, {}).get(template.body_key)
                                         or catalog.text(lang, template.body_key), template.params),
        "example": {"body_text": [list(template.examples)]}}]
    if template.footer:
        components.append({"type": "FOOTER", "text": catalog.text(lang, template.footer_key)})
    if template.buttons:
        components.append({"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": catalog.text(lang, key)} for key in template.buttons]})
    return {"name": template.name, "language": LANGUAGE_CODES[lang], "category": template.category,
            "components": components}


def value_problems(value: str) -> list[str]:
    """Why a parameter value would be refused (Meta: no new line, tab or 4 spaces in a row)."""
    found = []
    if "\n" in value or "\t" in value:
        found.append("a new line or tab")
    if "    " in value:
        found.append("4 spaces in a row")
    if not value.strip():
        found.append("empty")
    if len(value) > VALUE_MAX:
        found.append(f"longer than {VALUE_MAX}")
    return found


def problems(template: TemplateDef, catalog: Catalog, lang: str) -> list[str]:
    """Everything in one language of a definition that Meta's rules refuse (empty: fine)."""
    found: list[str] = []
    if not NAME.match(template.name):
        found.append(f"name {template.name!r}: lowercase letters, digits and underscores only")
    if template.category not in CATEGORIES:
        found.append(f"category {template.category!r}")
    if not catalog.has(template.body_key) or template.body_key not in catalog.messages.get(lang, {}):
        return found + [f"{template.body_key} is missing in {lang}"]
    raw = catalog.messages[lang][template.body_key]
    named = PLACEHOLDER.findall(raw)
    if sorted(named) != sorted(template.params) or len(set(named)) != len(named):
        found.append(f"placeholders {named} are not the parameters {list(template.params)}, once each")
    body = numbered(raw, template.params)
    numbers = [int(n) for n in NUMBERED.findall(body)]
    if sorted(numbers) != list(range(1, len(template.params) + 1)):
        found.append(f"parameters numbered {numbers}, not 1..{len(template.params)}")
    if len(body) > BODY_MAX:
        found.append(f"body of {len(body)} characters (at most {BODY_MAX})")
    stripped = body.strip()
    if stripped.startswith("{{") or re.search(r"\}\}[\s.!?]*$", stripped):
        found.append("a parameter at the start or the end of the body")
    if re.search(r"\}\}\s*\{\{", body):
        found.append("two parameters side by side")
    fixed_words = len(NUMBERED.sub(" ", body).split())
    if fixed_words < WORDS_PER_PARAM * len(template.params) + 1:
        found.append(f"{fixed_words} fixed words for {len(template.params)} parameters")
    if len(template.examples) != len(template.params):
        found.append("one example per parameter is needed")
    for example in template.examples:
        found.extend(f"example {example!r}: {why}" for why in value_problems(example))
    for key in template.buttons:
        title = catalog.messages.get(lang, {}).get(key)
        if title is None or len(title) > BUTTON_MAX:
            found.append(f"button {key}: missing or over {BUTTON_MAX} characters")
    if template.footer:
        footer = catalog.messages.get(lang, {}).get(template.footer_key)
        if footer is None or len(footer) > FOOTER_MAX or PLACEHOLDER.search(footer):
            found.append(f"footer: missing, over {FOOTER_MAX} characters or with a parameter")
    return found
