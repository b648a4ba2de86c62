"""`python -m bot inbox ...`: look at the updates the inbox set aside.

    inbox list [--limit N]   the set-aside updates, newest first: row, channel, update id,
                             person (pseudonymous), when received, why set aside
    inbox show ROW           one update as the platform sent it (JSON), NIK-shaped numbers masked

An update is set aside when its channel cannot decode it (a shape the adapter does not know) or
when handling it failed too often; it no longer blocks the person and is not retried, and it
stays here, with its encrypted payload, until handled rows are purged (after 8 days).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from bot.app import build_services
from bot.args import database_arg
from conversations.validators import mask_niks_in
from storage.crypto import who
from storage.inbox import Inbox

def mask_niks(text: str) -> str:
    """Every NIK-shaped number in a text masked as the chat shows it ("1303************")."""
    return mask_niks_in(text)


def configure(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=database_arg, default=argparse.SUPPRESS, help="database URL or SQLite file")
    common.add_argument("--config", default=argparse.SUPPRESS, help="path to config.yaml")
    sub = parser.add_subparsers(dest="inbox_command", required=True)
    listing = sub.add_parser("list", help="the set-aside updates, newest first", parents=[common])
    listing.add_argument("--limit", type=int, default=50, help="show at most this many (default 50)")
    show = sub.add_parser("show", help="one inbox row, its payload as received (NIKs masked)", parents=[common])
    show.add_argument("row", type=int, help="row number, as `inbox list` shows it")


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    svc = await build_services(getattr(args, "config", None), getattr(args, "db", None))
    try:
        async with svc.db.session() as session:
            inbox = Inbox(session, svc.cipher)
            if args.inbox_command == "list":
                rows = await inbox.set_aside_rows(max(1, args.limit))
                if not rows:
                    print("no updates set aside", file=out)
                for row in rows:
                    print(f"{row.id}\t{row.channel}\t{row.update_key}\t{who(row.channel_user)}\t"
                          f"{row.received_at.isoformat()}\t{mask_niks(row.set_aside_reason or '')}", file=out)
                return 0
            row = await inbox.get(args.row)
            if row is None:
                print(f"no inbox row {args.row}", file=sys.stderr)
                return 1
            described: dict[str, Any] = {
                "row": row.id, "channel": row.channel, "update_key": row.update_key,
                "person": who(row.channel_user), "received_at": row.received_at.isoformat(),
                "handled_at": row.handled_at.isoformat() if row.handled_at else None,
                "attempts": row.attempts, "set_aside": row.set_aside_reason,
            }
            payload = inbox.payload(row) if row.payload_enc else None
            print(mask_niks(json.dumps(described, indent=2, ensure_ascii=False)), file=out)
            if payload is None:
                print("(payload erased: the update was handled)", file=out)
            else:
                print(mask_niks(json.dumps(payload, indent=2, ensure_ascii=False)), file=out)
            return 0
    finally:
        await svc.db.dispose()


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args, sys.stdout))

