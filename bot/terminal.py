"""`python -m bot chat`: talk to the bot as one person in a terminal (no token needed).

It behaves like the channels. Each message's buttons are numbered within that message
(`[1] Ya, saya setuju`); typing a number taps a button of the last message that has buttons.
When one answer brings several messages with buttons (an official's queue: each item with its
own), they are lettered, `[a1]`, `[b1]` ..., and typing `b1` taps that one. When a message
numbers its own lines in the text (the summary's items), typed numbers belong to the text: they
go to the bot as typed, and that message's buttons are shown by title (`[Kirim]`), to be typed.
Everything else is sent as text. Special inputs: `/foto` (send a photo), `/kontak +62...`
(share your own contact), `/keluar` (quit).
No input stops it: bytes that are not text (a terminal in another encoding) are replaced before
anything reads them, and a message that cannot be handled gets the "try again" answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from typing import IO

from conversations.events import Button, ButtonPress, ContactShared, Inbound, Media, Reply, Text
from conversations.i18n import Catalog
from handlers.router import dispatch
from handlers.services import Services

log = logging.getLogger(__name__)
_NUMBERED_LINE = re.compile(r"^\s*([0-9]+)[.)]\s+(.*\S)\s*$")


def numbers_of_text(reply: Reply) -> bool:
    """Whether the text numbers lines that are not its buttons (then numbers belong to the text).
    A text listing its own buttons with the same numbers ("1. Petani") does not conflict."""
    lines = [m.groups() for m in map(_NUMBERED_LINE.match, reply.text.splitlines()) if m]
    if not lines:
        return False
    titles = {str(i): b.title for i, b in enumerate(reply.buttons, start=1)}
    return any(titles.get(n) != title for n, title in lines)


def button_labels(replies: list[Reply]) -> tuple[list[list[str]], dict[str, str]]:
    """The label shown before each button of each reply, and what typed label taps which id."""
    with_buttons = [i for i, r in enumerate(replies) if r.buttons]
    lettered = len(with_buttons) > 1
    labels: list[list[str]] = [[] for _ in replies]
    keys: dict[str, str] = {}
    for k, index in enumerate(with_buttons):
        reply = replies[index]
        if numbers_of_text(reply):
            labels[index] = [b.title for b in reply.buttons]
            continue
        letter = chr(ord("a") + k) if lettered and k < 26 else ""
        for number, button in enumerate(reply.buttons, start=1):
            labels[index].append(f"{letter}{number}")
            keys[f"{letter}{number}"] = button.id
            if index == with_buttons[-1]:
                keys[str(number)] = button.id
    return labels, keys


def render(reply: Reply, out: IO[str], catalog: Catalog, lang: str, labels: list[str] | None = None) -> None:
    out.write("\n" + "\n".join(f"  {line}" for line in reply.text.splitlines()) + "\n")
    labels = labels if labels is not None else [str(n) for n in range(1, len(reply.buttons) + 1)]
    for label, button in zip(labels, reply.buttons):
        out.write(f"    [{label}] {button.title}\n" if label != button.title else f"    [{button.title}]\n")
    if reply.request_contact:
        out.write(f"    ({catalog.text(lang, 'terminal.share_contact')})\n")
    if reply.document:
        out.write(f"    [{catalog.text(lang, 'terminal.document', path=reply.document)}]\n")
    if reply.image:
        out.write(f"    [{catalog.text(lang, 'terminal.image', path=reply.image)}]\n")


def event_from(line: str, keys: dict[str, str] | tuple[Button, ...]) -> Inbound:
    # Undecodable input arrives as lone surrogates: nothing downstream can store or print them.
    line = line.encode("utf-8", "replace").decode("utf-8")
    text = line.strip()
    if isinstance(keys, tuple):  # the buttons of one message, numbered 1..n
        keys = {str(i): b.id for i, b in enumerate(keys, start=1)}
    if text.lower() in keys:
        return ButtonPress(keys[text.lower()])
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
    keys: dict[str, str] = {}
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
            messages = await dispatch(svc, user, event_from(line, keys))
        except Exception:  # noqa: BLE001 - the chat goes on; the log says what failed
            log.exception("terminal chat: the message could not be handled")
            out.write("\n" + catalog.text(lang, "error.internal") + "\n")
            out.flush()
            continue
        own = [m.reply for m in messages if m.to == user]
        labels, new_keys = button_labels(own)
        mine = iter(labels)
        for message in messages:
            if message.to != user:  # a notice to someone else (e.g. an official's decision)
                out.write("\n" + catalog.text(lang, "terminal.to_other", to=message.to))
                render(message.reply, out, catalog, lang)
            else:
                render(message.reply, out, catalog, lang, next(mine))
        if own:
            keys = new_keys
        out.flush()
