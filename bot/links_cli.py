"""`python -m bot links`: the registration links of every nagari (or one, a jorong's, an agent's),
and with --qr their printable posters.

    links                                   the 62 nagari's own links
    links --nagari Muaro                    one nagari, by name or Kemendagri code (13.03.04.2001)
    links --nagari Muaro --jorong "Koto Tuo"   a jorong head's link
    links --agent Rina [--nagari Muaro]     an agent's link in each nagari (or in one)
    links ... --qr DIR                      also a poster per link: DIR/poster-<code>-<name>.pdf and .png

One line per link, tab-separated (a spreadsheet takes it as it is): nagari code, nagari, jorong,
agent, code, Telegram link, WhatsApp link. The links lead to TELEGRAM_BOT_USERNAME and
WHATSAPP_DISPLAY_NUMBER (the environment, or .env): with neither, one line saying so and exit 2;
with one, only its links. The same names always give the same links (docs/links.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.app import build_services
from bot.config import ConfigError, Environment
from conversations.links import clean_name
from handlers.links import make_link, poster_of
from handlers.services import Services

CLI_ACTOR = "cli"
VARIABLES = "TELEGRAM_BOT_USERNAME (the bot's @username) or WHATSAPP_DISPLAY_NUMBER (the business number, " \
            "e.g. 628116600123)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nagari", help="one nagari: its name (Muaro) or Kemendagri code (13.03.04.2001); "
                                         "default: all of them")
    parser.add_argument("--jorong", help="a jorong's link (with --nagari: a jorong is in one nagari)")
    parser.add_argument("--agent", help="a field agent's link (in each nagari, or in --nagari)")
    parser.add_argument("--qr", metavar="DIR", help="write a poster per link into DIR (PDF to print, PNG to share)")
    parser.add_argument("--lang", choices=("id", "en"), default="id", help="language of the posters (default id)")


def names(args: argparse.Namespace) -> tuple[str | None, str | None]:
    try:
        jorong = clean_name(args.jorong) if args.jorong is not None else None
        agent = clean_name(args.agent) if args.agent is not None else None
    except ValueError as problem:
        raise ConfigError(f"links: --jorong/--agent: {problem}") from None
    if jorong and not args.nagari:
        raise ConfigError("links: --jorong needs --nagari (a jorong belongs to one nagari)")
    return jorong, agent


def nagari_codes(svc: Services, text: str | None) -> list[str]:
    """Every nagari, or the one named as the chat's commands take it (an exact name first; a name
    shared with a kecamatan means the nagari)."""
    if not text:
        return [n.code for n in svc.wilayah.all_nagari]
    text = text.strip()
    if svc.wilayah.by_code(text) is not None:
        return [text]
    nagari, shared = svc.wilayah.nagari_argument(text)
    if nagari is None:
        raise ConfigError(f"links --nagari: no nagari {text!r} (a name such as Muaro, or a code such as 13.03.04.2001)")
    if shared:
        print(f"{text!r}: the nagari {nagari.name} ({nagari.code}), not the kecamatan of the same name",
              file=sys.stderr)
    return [nagari.code]


async def _run(args: argparse.Namespace) -> int:
    targets = Environment.from_env().link_targets
    if not targets.any:
        print(f"links: set {VARIABLES} in the environment (.env): the links lead there", file=sys.stderr)
        return 2
    jorong, agent = names(args)
    svc = await build_services(getattr(args, "config", None), getattr(args, "db", None))
    try:
        codes = nagari_codes(svc, args.nagari)
        for variable, channel, value in (("TELEGRAM_BOT_USERNAME", "Telegram", targets.telegram_username),
                                         ("WHATSAPP_DISPLAY_NUMBER", "WhatsApp", targets.whatsapp_number)):
            if not value:
                print(f"links: {variable} is not set: no {channel} links", file=sys.stderr)
        folder = Path(args.qr).expanduser() if args.qr else None
        print("\t".join(("KODE NAGARI", "NAGARI", "JORONG", "AGEN", "KODE", "TELEGRAM", "WHATSAPP")))
        async with svc.db.session() as session:
            made = [await make_link(svc, session, code, jorong, agent, CLI_ACTOR, svc.clock.now()) for code in codes]
            await session.commit()
        for link in made:
            print("\t".join((link.row.nagari_code, link.nagari.name, link.row.jorong or "", link.row.agent or "",
                             link.links.code, link.links.telegram or "", link.links.whatsapp or "")))
        if folder is not None:
            for link in made:
                poster_of(svc, link, folder, lang=args.lang)
            print(f"{len(made)} posters (PDF and PNG) written to {folder}", file=sys.stderr)
        return 0
    finally:
        await svc.db.dispose()


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))
