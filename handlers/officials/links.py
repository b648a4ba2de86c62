"""`/tautan` (`/links`): the registration links of a nagari, a jorong or an agent, and the poster.

An operator gets their own nagari's (`/tautan`, `/tautan agen Rina`, `/tautan jorong Koto Tuo`);
an admin names any nagari (`/tautan Muaro agen Rina`). The answer holds the WhatsApp and
Telegram links and the code, with the poster as an image (to forward) and as a PDF (to print).
The links themselves are handlers/links.py's; what they brought in is in /statistik.
"""

from __future__ import annotations

import dataclasses

from conversations.events import Reply
from conversations.links import clean_name
from conversations.officials import Command
from handlers.links import make_link, poster_of
from handlers.roles import allowed

from handlers.officials.admin import chosen_nagari
from handlers.officials.desk import Desk

# Words that start the jorong's or the agent's name in the arguments.
JORONG_WORDS = frozenset({"jorong"})
AGENT_WORDS = frozenset({"agen", "agent", "perisai", "petugas"})


def split_arguments(args: tuple[str, ...]) -> tuple[str, str | None, str | None]:
    """`Muaro jorong Koto Tuo agen Rina` -> ("Muaro", "Koto Tuo", "Rina"): the nagari, then each
    name after its word, in either order. A word given without a name gives "" (refused)."""
    parts: dict[str, list[str]] = {"nagari": []}
    current = "nagari"
    for word in args:
        folded = word.lower()
        if folded in JORONG_WORDS or folded in AGENT_WORDS:
            current = "jorong" if folded in JORONG_WORDS else "agent"
            parts[current] = []
            continue
        parts[current].append(word)
    named = {key: " ".join(words) for key, words in parts.items()}
    return named["nagari"], named.get("jorong"), named.get("agent")


async def send_links(desk: Desk, command: Command) -> None:
    if not allowed(desk.grants, "links"):
        desk.not_allowed()
        return
    nagari_text, jorong, agent = split_arguments(command.args)
    code = await chosen_nagari(desk, nagari_text or "", "links", "link.desk.usage")
    if code is None:
        return
    if not allowed(desk.grants, "links", code):
        desk.not_allowed()
        return
    try:
        jorong = clean_name(jorong) if jorong is not None else None
        agent = clean_name(agent) if agent is not None else None
    except ValueError:
        desk.answer("link.desk.bad_name")
        return
    if not desk.svc.link_targets.any:
        desk.answer("link.desk.not_configured")
        return
    made = await make_link(desk.svc, desk.session, code, jorong, agent, desk.who, desk.now)
    say = desk.say
    scope_text = say.t("link.desk.scope.nagari", nagari=made.nagari.name, code=code)
    if jorong:
        scope_text += say.t("link.desk.scope.jorong", jorong=jorong)
    if agent:
        scope_text += say.t("link.desk.scope.agent", agent=agent)
    lines = [say.t("link.desk.line.whatsapp", url=made.links.whatsapp)] if made.links.whatsapp else []
    if made.links.telegram:
        lines.append(say.t("link.desk.line.telegram", url=made.links.telegram))
    poster = poster_of(desk.svc, made, desk.svc.config.resolve(desk.rules.chart_dir), unique=True)
    reply = say.reply("link.desk.links", scope=scope_text, lines="\n".join(lines), code=made.links.code)
    desk.send(dataclasses.replace(reply, image=str(poster.png)))
    desk.send(Reply("link.desk.poster_pdf", say.t("link.desk.poster_pdf", scope=scope_text), document=str(poster.pdf)))
