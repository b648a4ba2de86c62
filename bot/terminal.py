"""`python -m bot chat`: talk to the bot as one person in a terminal (no token needed).

Buttons are shown numbered; typing a number picks that button. Everything else is sent as text.
Special inputs: `/foto` (send a photo), `/kontak +62...` (share your own contact), `/keluar` (quit).
No input stops it: a number that is not a button's is sent as text, and bytes that are not text
(a terminal in another encoding) are replaced before anything reads them.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import IO

from conversations.events import ButtonPress, ContactShared, Inbound, Media, Reply, Text
from conversations.i18n import Catalog
from handlers.router import dispatch
from handlers.services import Services

log = logging.getLogger(__name__)


def render(reply: Reply, out: IO[str], catalog: Catalog, lang: str) -> None:
    out.write("\n" + "\n".join(f"  {line}" for line in reply.text.splitlines()) + "\n")
    for number, button in enumerate(reply.buttons, start=1):
        out.write(f"    [{number}] {button.title}\n")
    if reply.request_contact:
        out.write(f"    ({catalog.text(lang, 'terminal.share_contact')})\n")
    if reply.document:
        out.write(f"    [{catalog.text(lang, 'terminal.document', path=reply.document)}]\n")
    if reply.image:
        out.write(f"    [{catalog.text(lang, 'terminal.image', path=reply.image)}]\n")


def event_from(line: str, buttons: tuple) -> Inbound:
    # Undecodable input arrives as lone surrogates: nothing downstream can store or print them.
    line = line.encode("utf-8", "replace").decode("utf-8")
    text = line.strip()
    # ASCII digits only ("²" is a digit too), and few of them (int() refuses 5,000 digits).
    if text.isascii() and text.isdigit() and len(text) <= 4 and buttons and 1 <= int(text) <= len(buttons):
        return ButtonPress(buttons[int(text) - 1].id)
    if text.lower() in ("/foto", "/photo"):
        return Media("photo")
    if text.lower().startswith(("/kontak", "/contact")):
        return ContactShared(phone=text.split(maxsplit=1)[1] if " " in text else "", is_own=True)
    return Text(line.rstrip("\n"))


async def chat(svc: Services, user: str, source: IO[str] | None = None, out: IO[str] | None = None) -> None:
    """Read lines from `source` (stdin) and print the bot's answers to `out` (stdout) until /keluar."""
    # sys.stdin/stdout are looked up per call, not bound at import, so that a replaced stream is used.
    source, out = source or sys.stdin, out or sys.stdout
    catalog, lang = svc.catalog, svc.rules.default_language
    # Both languages: the person has not chosen one yet.
    out.write(catalog.text("id", "terminal.welcome", user=user) + "\n")
    out.write(catalog.text("en", "terminal.welcome", user=user) + "\n")
    out.flush()
    buttons: tuple = ()
    loop = asyncio.get_running_loop()
    while True:
        out.write("> ")
        out.flush()
        line = await loop.run_in_executor(None, source.readline)
        if not line or line.strip().lower() in ("/keluar", "/quit", "/exit"):
            out.write("\n")
            return
        if not line.strip():
            continue
        try:
            messages = await dispatch(svc, user, event_from(line, buttons))
        except Exception:  # noqa: BLE001 - the chat goes on; the log says what failed
            log.exception("terminal chat: the message could not be handled")
            out.write("\n" + catalog.text(lang, "error.internal") + "\n")
            out.flush()
            continue
        for message in messages:
            if message.to != user:  # a notice to someone else (e.g. an official's decision)
                out.write("\n" + catalog.text(lang, "terminal.to_other", to=message.to))
            render(message.reply, out, catalog, lang)
            if message.to == user:
                buttons = message.reply.buttons
        out.flush()
