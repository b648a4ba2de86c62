"""The desk's one command table. Each row holds a command's name, its words (Indonesian, then
English; typed with or without "/", the same on every channel), the permission it needs (an
action of handlers/roles.PERMISSIONS; None: anyone may try it), its handler, its place in
Telegram's command menu and the help lines it belongs to. Everything else is derived from here:
the parser's words (WORDS), the check before a handler runs (handlers/officials.route), the
Telegram menus (bot/telegram/menus.py) and `bantuan` (HELP_ORDER).

Adding a command: write its handler (`async def x(desk: Desk, command: Command) -> None`), add
one row, and its catalog entries (its help line, and telegram.desk.<English word> if it is in the
menu). README "How it is built" shows an example.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversations.officials import Command, parse_command, render_help
from handlers.officials.admin import invite, show_or_set_quota, take_invitation
from handlers.officials.deciding import approve, approve_all, ask_correction, end_participation, field_then_reason, never_mind, pick_field, pick_reason, reject, reject_with_reason, undo_approval, withdraw
from handlers.officials.claims import cases, export_with_claims, stats_with_claims
from handlers.officials.files import import_command
from handlers.officials.links import send_links
from handlers.officials.dashboard import send_dashboard_link
from handlers.officials.reading import ask_decision, show_details, show_history, show_queue
from handlers.officials.desk import Desk, Handler, refuse
from handlers.roles import Grant, allowed


@dataclass(frozen=True)
class DeskCommand:
    name: str
    words: tuple[str, str]  # Indonesian, English
    permission: str | None  # handlers/roles.PERMISSIONS action; None: anyone (an invitation code)
    handler: Handler
    menu: int | None = None  # order in Telegram's command menu; None: not listed
    help: str | None = None  # catalog key of the help lines that describe it
    # "one": about one registration, "several": one or more; without a reference the desk shows
    # the queue to pick from (handlers/officials/with_references).
    reference: str = ""


async def show_help(desk: Desk, command: Command) -> None:
    """`bantuan` for officials: the commands their roles may use (help_keys, below)."""
    desk.send(render_help(desk.say, {g.role for g in desk.grants}, help_keys(desk.grants)))


async def take_code(desk: Desk, command: Command) -> None:
    """`/kode KODE` (take_invitation); a new official then sees what they may do."""
    if await take_invitation(desk, command):
        await show_help(desk, command)


COMMANDS: tuple[DeskCommand, ...] = (
    DeskCommand("queue", ("antrian", "queue"), "view", show_queue, 10, "official.help.view"),
    DeskCommand("show", ("lihat", "show"), "view", show_details, 20, "official.help.view", "several"),
    DeskCommand("approve", ("setujui", "approve"), "decide", approve, 30, "official.help.decide", "several"),
    DeskCommand("reject", ("tolak", "reject"), "decide", reject, 40, "official.help.decide", "one"),
    DeskCommand("fix", ("perbaiki", "fix"), "decide", ask_correction, 50, "official.help.decide", "one"),
    # The route starts the assisted registration itself (it runs in the worker flow's terms).
    DeskCommand("register_for", ("daftarkan", "register_for"), "register_for", refuse, 60, "official.help.decide"),
    DeskCommand("undo", ("urungkan", "undo"), "decide", undo_approval, 70, "official.help.programme",
                "several"),
    DeskCommand("withdraw", ("tarik", "withdraw"), "decide", withdraw, 80, "official.help.programme", "one"),
    DeskCommand("end", ("akhiri", "discontinue"), "decide", end_participation, 90,
                "official.help.programme", "one"),
    DeskCommand("history", ("riwayat", "history"), "view", show_history, 100, "official.help.view", "several"),
    # Claim cases after an accident or a death (handlers/officials/claims.py); updates need "decide".
    DeskCommand("case", ("kasus", "case"), "view", cases, 105, "official.help.claims"),
    DeskCommand("quota", ("kuota", "quota"), "view", show_or_set_quota, 110, "official.help.view"),
    DeskCommand("stats", ("statistik", "stats"), "view", stats_with_claims, 120, "official.help.view"),
    DeskCommand("links", ("tautan", "links"), "links", send_links, 125, "official.help.links"),
    DeskCommand("export", ("ekspor", "export"), "export", export_with_claims, 130, "official.help.export"),
    DeskCommand("dashboard", ("dasbor", "dashboard"), "view", send_dashboard_link, 135,
                "official.help.dashboard"),
    DeskCommand("import", ("impor", "import"), "import", import_command, 140, "official.help.admin"),
    DeskCommand("invite", ("undang", "invite"), "invite", invite, 150, "official.help.admin"),
    DeskCommand("code", ("kode", "code"), None, take_code),
    DeskCommand("help", ("bantuan", "help"), "view", show_help, 210),
)
# Buttons on the desk's own messages, never typed: the next-message prompts, approve-all's tap.
BUTTONS: dict[str, Handler] = {
    "ask": ask_decision,
    "rjpick": pick_reason,
    "rjr": reject_with_reason,
    "fxpick": pick_field,
    "fxf": field_then_reason,
    "dskno": never_mind,
    "apall": approve_all,
}
# The help's groups of lines, in the order `bantuan` shows them; the tickets' line belongs to the
# ticket commands (handlers/handover.py), shown to whoever may handle tickets.
HELP_ORDER = ("official.help.view", "official.help.decide", "official.help.programme", "official.help.tickets",
              "official.help.claims",
              "official.help.export", "official.help.links", "official.help.dashboard",
              "official.help.admin")

BY_NAME: dict[str, DeskCommand] = {row.name: row for row in COMMANDS}
WORDS: dict[str, frozenset[str]] = {row.name: frozenset(row.words) for row in COMMANDS}
HANDLERS: dict[str, Handler] = {**{row.name: row.handler for row in COMMANDS}, **BUTTONS}
assert len(BY_NAME) == len(COMMANDS), "two rows of the command table have the same name"


def parse(text: str) -> Command | None:
    """An official's command typed as text, by the table's words."""
    return parse_command(text, WORDS)


def word_of(name: str, lang: str) -> str:
    """The command's word in a language: "/setujui" or "/approve"."""
    indonesian, english = BY_NAME[name].words
    return "/" + (english if lang == "en" else indonesian)


def help_keys(grants: list[Grant]) -> list[str]:
    """The help's lines for these grants: each group of the table with a command they may use
    (the tickets' line for whoever may handle tickets), in HELP_ORDER."""
    wanted = {row.help for row in COMMANDS if row.help and (row.permission is None or allowed(grants, row.permission))}
    if allowed(grants, "handover"):
        wanted.add("official.help.tickets")
    return [key for key in HELP_ORDER if key in wanted]
