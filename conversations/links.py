"""Links that bring people to the bot, pure: the code a link carries, and how its results read.

A poster's QR code, a field agent's ("Perisai") link or a jorong head's link opens the chat with
a short code in it: on Telegram as the deep link's start parameter
(`https://t.me/<bot>?start=<code>`), on WhatsApp inside the text the click-to-chat link fills in
(`https://wa.me/<number>?text=...`), which the person only has to send. The code is

    <nagari digits>-<link id>-<signature>        e.g. 1303042001-k-4f2mq7za

- the nagari's Kemendagri code without its dots (13.03.04.2001 -> 1303042001), so the code says
  which nagari even to a person reading it;
- the id of the link's row (storage/links.py, base 36): the nagari's own link, or one for a
  jorong or an agent, whose names stay in the database and never travel;
- 8 characters of an HMAC-SHA256 over both (40 bits, base 32 in lower case), under a key derived
  from the project's secret key for this purpose only (storage/crypto.py `link_key`).

No personal data is in it, and it fits Telegram's start parameter ([A-Za-z0-9_-], at most 64
characters) with room to spare. A code that does not verify -- made up, mistyped, changed, or
signed with another key -- is not a link: the message is read as any other (`read_code` None).

Nothing here does I/O; handlers/links.py checks the row and turns a verified code into the
conversation's `LinkOpened` event, and makes links, posters and statistics.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from conversations.events import Reply
from conversations.officials import Say
from conversations.reports import number, percent
from conversations.validators import contains_nik

# The code anywhere in a text (a WhatsApp message the link filled in, a /start parameter).
CODE_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{10})-([0-9a-z]{1,7})-([a-z2-7]{8})(?![0-9A-Za-z])", re.IGNORECASE)
SIGNATURE_BYTES = 5  # 40 bits: 8 base-32 characters
# Telegram's start parameter (Bot API, deep linking).
TELEGRAM_START = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TELEGRAM_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{4,31}$")
NAME_MIN, NAME_MAX = 2, 50
NAME_CHARACTERS = frozenset(" .'-/()")
# Where a registration came from (Registration.link_id and its link's row).
SOURCES = ("direct", "nagari", "jorong", "agent")
# Lines of agents in the statistics' summary; `/statistik agen` lists them all (up to DETAIL_MAX).
TOP_AGENTS = 5
DETAIL_MAX = 200


# -- the code -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkCode:
    """What a verified code says: the nagari and the link's row."""

    nagari_code: str  # Kemendagri, with dots: "13.03.04.2001"
    link_id: int


def digits_of(nagari_code: str) -> str:
    """13.03.04.2001 -> 1303042001."""
    return nagari_code.replace(".", "")


def nagari_code_of(digits: str) -> str:
    """1303042001 -> 13.03.04.2001."""
    return f"{digits[0:2]}.{digits[2:4]}.{digits[4:6]}.{digits[6:10]}"


def _base36(value: int) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        value, digit = divmod(value, 36)
        text = alphabet[digit] + text
        if value == 0:
            return text


def _signature(key: bytes, digits: str, link: str) -> str:
    mac = hmac.new(key, f"sijunjung-link/1:{digits}:{link}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:SIGNATURE_BYTES]).decode().lower()


def make_code(key: bytes, nagari_code: str, link_id: int) -> str:
    """The code of a link row: `1303042001-k-4f2mq7za`."""
    if link_id < 1:
        raise ValueError("a link id is a positive integer")
    digits, link = digits_of(nagari_code), _base36(link_id)
    if not re.fullmatch(r"\d{10}", digits):
        raise ValueError(f"not a Kemendagri nagari code: {nagari_code!r}")
    return f"{digits}-{link}-{_signature(key, digits, link)}"


def read_code(key: bytes, text: str) -> LinkCode | None:
    """The link a code names, if its signature is ours; None for anything else."""
    found = CODE_IN_TEXT.fullmatch(text.strip())
    if found is None:
        return None
    digits, link, signature = found.group(1), found.group(2).lower(), found.group(3).lower()
    link_id = int(link, 36)
    # One spelling per link (no "0k" for "k"): the signature is over the canonical form.
    if link_id < 1 or _base36(link_id) != link:
        return None
    if not hmac.compare_digest(signature, _signature(key, digits, link)):
        return None
    return LinkCode(nagari_code_of(digits), link_id)


def find_code(text: str) -> str | None:
    """The first code-shaped word in a message (WhatsApp's filled-in text), unverified."""
    found = CODE_IN_TEXT.search(text)
    return found.group(0) if found else None


# -- the links ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkTargets:
    """Where links lead: the Telegram bot's username and the WhatsApp business number (digits,
    international form). Either may be missing: only the links that can be made are made."""

    telegram_username: str | None = None
    whatsapp_number: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.telegram_username or self.whatsapp_number)


def telegram_username(text: str) -> str:
    """A bot's username as people write it ("@SijunjungBot", "t.me/SijunjungBot") -> "SijunjungBot";
    ValueError when it cannot be one (5 to 32 letters, digits and _, starting with a letter)."""
    name = text.strip().removeprefix("https://").removeprefix("http://").removeprefix("t.me/").lstrip("@")
    if not TELEGRAM_USERNAME.fullmatch(name):
        raise ValueError("a Telegram username has 5 to 32 letters, digits and _ and starts with a letter "
                         "(the bot's @username)")
    return name


def whatsapp_number(text: str) -> str:
    """The business number as wa.me wants it: international digits without "+" ("+62 811-6600-123",
    "0811 6600 123" -> "628116600123"); ValueError otherwise."""
    compact = re.sub(r"[\s().-]", "", text.strip())
    if compact.startswith("+"):
        compact = compact[1:]
    elif compact.startswith("00"):
        compact = compact[2:]
    elif compact.startswith("0"):
        compact = "62" + compact[1:]  # a local Indonesian number
    if not re.fullmatch(r"[1-9]\d{7,14}", compact):
        raise ValueError("a phone number in international form, e.g. 628116600123 or +62 811-6600-123")
    return compact


def telegram_url(username: str, code: str) -> str:
    if not TELEGRAM_START.fullmatch(code):
        raise ValueError("not a Telegram start parameter")
    return f"https://t.me/{username}?start={code}"


def whatsapp_url(number_digits: str, text: str) -> str:
    """wa.me's click-to-chat link with the message filled in (URL-encoded, spaces as %20)."""
    return f"https://wa.me/{number_digits}?text={quote(text, safe='')}"


@dataclass(frozen=True)
class Links:
    """One link row's code and the links that carry it (None: that channel is not configured)."""

    code: str
    telegram: str | None
    whatsapp: str | None
    whatsapp_text: str


def links_for(targets: LinkTargets, code: str, prefilled: str) -> Links:
    """`prefilled`: the message WhatsApp fills in (catalog `link.whatsapp_text`, holding the code)."""
    return Links(
        code=code,
        telegram=telegram_url(targets.telegram_username, code) if targets.telegram_username else None,
        whatsapp=whatsapp_url(targets.whatsapp_number, prefilled) if targets.whatsapp_number else None,
        whatsapp_text=prefilled,
    )


def clean_name(text: str) -> str:
    """A jorong's or an agent's name as it goes on a link: spaces tidied, 2 to 50 characters with
    a letter, no NIK-shaped number (a name is shown on posters and in statistics); ValueError."""
    name = " ".join(text.split())
    if not NAME_MIN <= len(name) <= NAME_MAX or not any(ch.isalpha() for ch in name):
        raise ValueError(f"a name of {NAME_MIN} to {NAME_MAX} characters")
    if contains_nik(name) or any(not (ch.isalnum() or ch in NAME_CHARACTERS) for ch in name):
        raise ValueError("letters, digits, spaces and . ' - / ( ) only")
    return name


def fold_name(name: str) -> str:
    """How two spellings of one name are found to be the same link ("rina  " = "Rina")."""
    return " ".join(name.split()).casefold()


def slug(text: str) -> str:
    """A file name's part: "Koto Tuo" -> "koto-tuo"."""
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "x"


# -- what the links brought -----------------------------------------------------------------------
def source_of(linked: bool, jorong: str | None, agent: str | None) -> str:
    """The kind of source of a registration: direct, or the nagari's, a jorong's or an agent's link."""
    if not linked:
        return "direct"
    if agent:
        return "agent"
    return "jorong" if jorong else "nagari"


def source_label(t: Callable[..., str], linked: bool, jorong: str | None, agent: str | None) -> str:
    """The export's `source` value: the agent's name, else the jorong, else "tautan nagari", else
    "langsung" (`t`: a catalog's text function in the export's language)."""
    kind = source_of(linked, jorong, agent)
    if kind == "agent":
        return agent or ""
    if kind == "jorong":
        return t("link.source.jorong", jorong=jorong)
    return t(f"link.source.{kind}")


@dataclass(frozen=True)
class SourceLine:
    """The registrations one source brought in: a link's row, or none (direct)."""

    kind: str  # SOURCES
    nagari: str | None  # the link's nagari, by name
    jorong: str | None
    agent: str | None
    total: int  # every registration submitted, whatever its status
    covered: int  # approved or enrolled


@dataclass(frozen=True)
class SourceView:
    lines: tuple[SourceLine, ...]

    def by_kind(self) -> dict[str, tuple[int, int]]:
        totals = {kind: (0, 0) for kind in SOURCES}
        for line in self.lines:
            total, covered = totals[line.kind]
            totals[line.kind] = (total + line.total, covered + line.covered)
        return totals

    def agents(self) -> list[tuple[str, int, int, int]]:
        """(agent, registrations, covered, nagari) per agent across nagari, most first."""
        found: dict[str, tuple[str, int, int, set[str]]] = {}
        for line in self.lines:
            if line.kind != "agent" or not line.agent:
                continue
            name, total, covered, places = found.get(fold_name(line.agent), (line.agent, 0, 0, set()))
            found[fold_name(line.agent)] = (name, total + line.total, covered + line.covered,
                                            places | {line.nagari or ""})
        rows = [(name, total, covered, len(places)) for name, total, covered, places in found.values()]
        return sorted(rows, key=lambda row: (-row[1], fold_name(row[0])))


def render_sources(say: Say, view: SourceView) -> str:
    """The lines /statistik adds: registrations by source, and the agents who brought the most."""
    totals = view.by_kind()
    whole = sum(total for total, _ in totals.values())
    lines = [say.t("link.stats.line", label=say.t(f"link.stats.kind.{kind}"), count=number(total),
                   covered=number(covered), share=percent(total, whole))
             for kind, (total, covered) in totals.items()]
    agents = view.agents()
    top = ", ".join(say.t("link.stats.agent_short", agent=name, count=number(total))
                    for name, total, _, _ in agents[:TOP_AGENTS])
    return say.t("link.stats.section", lines="\n".join(lines), agents=top or say.t("link.stats.no_agents"),
                 count=number(len(agents)))


def render_source_detail(say: Say, view: SourceView) -> Reply:
    """`/statistik agen`: every agent's and every jorong's registrations, by nagari."""
    agents = sorted((line for line in view.lines if line.kind == "agent"),
                    key=lambda line: (-line.total, fold_name(line.agent or ""), line.nagari or ""))
    jorong = sorted((line for line in view.lines if line.kind == "jorong"),
                    key=lambda line: (-line.total, line.nagari or "", fold_name(line.jorong or "")))

    def listed(lines: list[SourceLine], name: Callable[[SourceLine], str]) -> str:
        shown = [say.t("link.stats.detail_line", name=name(line), nagari=line.nagari or "-",
                       count=number(line.total), covered=number(line.covered)) for line in lines[:DETAIL_MAX]]
        if len(lines) > DETAIL_MAX:
            shown.append(say.t("link.stats.more", count=number(len(lines) - DETAIL_MAX)))
        return "\n".join(shown) or say.t("link.stats.no_agents")

    return say.reply("link.stats.detail", agents=listed(agents, lambda line: line.agent or "-"),
                     jorong=listed(jorong, lambda line: line.jorong or "-"),
                     agent_count=number(len(view.agents())))

