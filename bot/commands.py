"""The composition: every channel and every subcommand beyond the core ones, listed once.

Nothing registers itself by being imported: `python -m bot` (bot/cli.py), the server and the
worker read these two tables, so the commands and channels are the same whichever modules a
program or a test happened to import. The core subcommands (run, chat, simulate, export, db,
keys) are defined in bot/cli.py; the routes a message takes are listed in handlers/router.py.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from bot import dashboard_cli, import_cli, inbox_cli, links_cli, officials_cli, templates_cli, worker
from bot.channels import ChannelSpec
from bot.telegram import channel as telegram
from bot.whatsapp import entry as whatsapp  # pywa only once WhatsApp is configured

# Telegram (polling, or the webhook at /telegram/webhook) and WhatsApp (/whatsapp/webhook).
CHANNELS: dict[str, ChannelSpec] = {
    "tg": ChannelSpec(telegram.is_configured, telegram.setup),
    "wa": ChannelSpec(whatsapp.is_configured, whatsapp.setup),
}


class Subcommand(NamedTuple):
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


SUBCOMMANDS: dict[str, Subcommand] = {
    "worker": Subcommand("send campaigns, reminders and notifications from the outbox (extra processes, PostgreSQL)",
                         worker.configure, partial(worker.run, channels=CHANNELS)),
    "officials": Subcommand("add, list and remove nagari officials (the first admin is added here)",
                            officials_cli.configure, officials_cli.run),
    "inbox": Subcommand("platform updates set aside (undecodable, or failing too often)",
                        inbox_cli.configure, inbox_cli.run),
    "templates": Subcommand("the WhatsApp message templates the bot defines: list, push to Meta, sync Meta's review",
                            templates_cli.configure, templates_cli.run),
    "import-enrolment": Subcommand("apply BPJS TK's enrolment results (XLSX or CSV, by reference or NIK)",
                                   import_cli.configure, import_cli.run),
    "links": Subcommand("registration links (Telegram, WhatsApp) of each nagari, jorong or agent; --qr: posters",
                        links_cli.configure, links_cli.run),
    "dashboard": Subcommand("the dashboard in a browser: a one-time login link for an official; serve it alone",
                             dashboard_cli.configure, dashboard_cli.run),
}
