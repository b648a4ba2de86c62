"""`python -m bot officials ...`: bootstrap and manage nagari officials from the server.

    officials add <channel-user> --role admin|operator|viewer [--nagari CODE]
    officials invite --role admin|operator|viewer [--nagari CODE]
    officials list
    officials remove <channel-user> [--role ROLE] [--nagari CODE]

The first admin can only be made here: with their id (`add`), or with a one-time code and the links
that carry it (`invite`, the code /undang makes in the chat), when nobody knows the id yet.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from typing import Any

from sqlalchemy import select

from bot.app import build_services
from bot.args import database_arg
from conversations.identity import PersonIdError, person_id
from handlers.clock import LOCAL_TZ
from handlers.invitations import MadeInvitation, create_invitation
from handlers.removal import remove_official
from handlers.roles import grant
from storage.models import Nagari
from storage.officials import ROLES, Official
from storage.repo import Repository

CLI_ACTOR = "cli"
NAGARI_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")


async def nagari_code(svc: Any, session: Any, text: str) -> str | None:
    """A nagari given as a Kemendagri code or a name, as the chat's /undang accepts it."""
    text = text.strip()
    if NAGARI_CODE.match(text):
        return text if await session.get(Nagari, text) is not None else None
    nagari, shared = svc.wilayah.nagari_argument(text)
    if nagari is not None and shared:
        print(f"{text!r}: the nagari {nagari.name} ({nagari.code}), not the kecamatan of the same name",
              file=sys.stderr)
    return nagari.code if nagari else None


def configure(parser: argparse.ArgumentParser) -> None:
    # --db/--config may also follow the action (`officials add tg:1 --role admin --db ...`);
    # SUPPRESS keeps the value given before the action when they are not repeated.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=database_arg, default=argparse.SUPPRESS, help="database URL or SQLite file")
    common.add_argument("--config", default=argparse.SUPPRESS, help="path to config.yaml")
    sub = parser.add_subparsers(dest="officials_command", required=True)
    add = sub.add_parser("add", help="give someone a role", parents=[common])
    add.add_argument("user", help="tg:<Telegram user id>, or wa:<WhatsApp number> as people write it (wa:0812..., +62 812...)")
    add.add_argument("--role", choices=ROLES, required=True, help="the role to give")
    add.add_argument("--nagari", help="an operator's nagari: its name (Muaro) or Kemendagri code (13.03.05.2001)")
    invite = sub.add_parser(
        "invite", parents=[common],
        help="print a one-time invitation code and the links that carry it (no id needed: the first admin)",
        description="The code /undang makes in the chat (one use, valid officials.invitation_expiry_hours): "
                    "whoever sends /kode CODE, or opens a link, gets the role. Links need TELEGRAM_BOT_USERNAME "
                    "and/or WHATSAPP_DISPLAY_NUMBER.")
    invite.add_argument("--role", choices=ROLES, required=True, help="the role the code gives")
    invite.add_argument("--nagari", help="an operator's nagari: its name (Muaro) or Kemendagri code (13.03.05.2001)")
    sub.add_parser("list", help="list active officials", parents=[common])
    remove = sub.add_parser("remove", help="revoke someone's roles", parents=[common])
    remove.add_argument("user", help="tg:<Telegram user id>, or wa:<WhatsApp number> as people write it (wa:0812..., +62 812...)")
    remove.add_argument("--role", choices=ROLES, help="only this role (default: every role)")
    remove.add_argument("--nagari", help="only the role for this nagari (Kemendagri code)")


async def officials_command(args: argparse.Namespace) -> int:
    if args.officials_command in ("add", "remove"):
        # wa:0812..., +62 812... and 62812... are one WhatsApp id: the one WhatsApp sends. Checked
        # before the database is opened: a typing mistake is the one line said.
        try:
            args.user = person_id(args.user)
        except PersonIdError as problem:
            print(f"not a person id: {problem}", file=sys.stderr)
            return 2
    svc = await build_services(args.config, args.db)
    try:
        async with svc.db.session() as session:
            now = svc.clock.now()
            repo = Repository(session, svc.cipher)
            if args.officials_command == "add":
                if args.nagari:
                    args.nagari = await nagari_code(svc, session, args.nagari)
                if args.role == "operator" and args.nagari is None:
                    print("an operator needs --nagari: a known nagari's name (e.g. Muaro) or Kemendagri code "
                          "(e.g. 13.03.05.2001)", file=sys.stderr)
                    return 2
                await grant(session, args.user, args.role, args.nagari, CLI_ACTOR, now)
                await repo.audit(CLI_ACTOR, "official_added", now, None, official=args.user, role=args.role,
                                 nagari=args.nagari if args.role == "operator" else None)
                where = ""
                if args.role == "operator":
                    nagari = await session.get(Nagari, args.nagari)
                    where = f" of Nagari {nagari.name if nagari else '?'} ({args.nagari})"
                print(f"{args.user}: {args.role}{where}")
            elif args.officials_command == "invite":
                code = await nagari_code(svc, session, args.nagari) if args.nagari else None
                if args.role == "operator" and code is None:
                    print("an operator needs --nagari: a known nagari's name (e.g. Muaro) or Kemendagri code "
                          "(e.g. 13.03.05.2001)", file=sys.stderr)
                    return 2
                made = await create_invitation(svc, session, args.role, code, CLI_ACTOR, now)
                show_invitation(made)
            elif args.officials_command == "list":
                rows = await session.execute(select(Official).where(Official.revoked_at.is_(None))
                                             .order_by(Official.channel_user, Official.role))
                names = dict((await session.execute(select(Nagari.code, Nagari.name))).all())
                for official in rows.scalars():
                    place = f"{names.get(official.nagari_code, '?')} ({official.nagari_code})" \
                        if official.nagari_code else "-"
                    print(f"{official.channel_user}\t{official.role}\t{place}")
            else:
                removed = await remove_official(svc, session, args.user, args.role, args.nagari, CLI_ACTOR, now)
                print(f"{removed.grants} role(s) of {args.user} revoked; {removed.invitations} unused invitation "
                      f"code(s) revoked; tickets back in their queue: {', '.join(removed.tickets) or 'none'}")
            await session.commit()
    finally:
        await svc.db.dispose()
    return 0


def show_invitation(made: MadeInvitation) -> None:
    """The code and its links on stdout (for the deployer to pass on); what is missing, on stderr."""
    expires = made.expires_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M %Z")
    where = f" of nagari {made.nagari_code}" if made.nagari_code else ""
    print(f"code: {made.code} (role {made.role}{where}; one use, valid until {expires})")
    for channel, link in (("telegram", made.telegram), ("whatsapp", made.whatsapp)):
        if link:
            print(f"{channel}: {link}")
    if not (made.telegram and made.whatsapp):
        missing = " and ".join(variable for variable, link in (("TELEGRAM_BOT_USERNAME", made.telegram),
                                                               ("WHATSAPP_DISPLAY_NUMBER", made.whatsapp)) if not link)
        print(f"officials invite: {missing} not set: no link for that channel; the person can send "
              f"/kode {made.code} to the bot there", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(officials_command(args))

