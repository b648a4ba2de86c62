"""`python -m bot templates list|push|sync`: the WhatsApp templates the project defines
(bot/whatsapp/templates.py) and Meta's review of them (bot/whatsapp/template_admin.py).

    templates list [--json]  each kind in each language: kind, name, language, category and
                             Meta's status as last recorded ("-": Meta has told us nothing);
                             --json prints each as Graph API's create-template body, one per
                             line, ready for Meta's template API (no database needed)
    templates push           creates on the business account the templates Meta does not
                             have and edits those whose content changed; prints what happened
                             to each; exit 1 when Meta refused one (each refusal in one line)
    templates sync           reads Meta's status of every template and records it; names the
                             definitions Meta does not have (never pushed)

push and sync need WHATSAPP_ACCESS_TOKEN and WHATSAPP_BUSINESS_ACCOUNT_ID: without them, or when
Meta refuses them, one line naming the variable and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot import app
from bot.args import database_arg
from bot.config import ConfigError, Environment, load_config
from bot.whatsapp.config import BUSINESS_ACCOUNT_VARIABLE, WhatsAppConfig
from bot.whatsapp.templates import graph_body, TEMPLATES
from conversations.i18n import Catalog
from storage import wa_templates
from storage.db import describe_failure
from storage.wa_templates import WhatsAppTemplate

if TYPE_CHECKING:
    import httpx
    from pywa_async import WhatsApp
    from pywa_async.errors import WhatsAppError

    from bot.whatsapp import template_admin
    from bot.whatsapp.template_admin import Definition

# pywa and the modules built on it are imported by the commands that talk to Meta, not with the
# command line (every `python -m bot ...` builds this parser): see bot/whatsapp/entry.py.
TOKEN_VARIABLE = "WHATSAPP_ACCESS_TOKEN"


def configure(parser: argparse.ArgumentParser) -> None:
    # --db/--config may also follow the action; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=database_arg, default=argparse.SUPPRESS, help="database URL or SQLite file")
    common.add_argument("--config", default=argparse.SUPPRESS, help="path to config.yaml")
    sub = parser.add_subparsers(dest="templates_command", required=True)
    listing = sub.add_parser("list", help="the templates: kind, name, language, category, Meta's status",
                             parents=[common])
    listing.add_argument("--json", action="store_true", help="each as Graph API's create-template body")
    sub.add_parser("push", help=f"create or update the templates on Meta's side ({BUSINESS_ACCOUNT_VARIABLE})",
                   parents=[common])
    sub.add_parser("sync", help="read and record Meta's status of every template", parents=[common])


def run(args: argparse.Namespace) -> int:
    if args.templates_command == "list":
        return list_templates(args)
    return asyncio.run(manage(args, os.environ))


# -- list -----------------------------------------------------------------------------------------
def list_templates(args: argparse.Namespace) -> int:
    from bot.whatsapp import template_admin
    from bot.whatsapp.template_admin import definitions

    config = load_config(getattr(args, "config", None))
    catalog = Catalog.load(tuple(config.languages))
    if args.json:
        for template in TEMPLATES:
            for lang in config.languages:
                print(json.dumps(graph_body(template, catalog, lang), ensure_ascii=False))
        return 0
    ours = definitions(catalog, config.languages)
    held = asyncio.run(recorded(getattr(args, "db", None)))
    rows = [("KIND", "NAME", "LANGUAGE", "CATEGORY", "STATUS")]
    for definition, row in template_admin.states(ours, held or []):
        status = "?" if held is None else row.status if row is not None else "-"
        rows.append((definition.template.kind, definition.name, definition.lang, definition.template.category, status))
    print_table(rows)
    return 0


async def recorded(db: str | None) -> list[WhatsAppTemplate] | None:
    """What Meta said of each template, as last recorded; None (one line on stderr) when the
    database cannot tell. Listing never creates a database, nor migrates one."""
    try:
        url = app.database_url(db, Environment.from_env())
        if make_url(url).get_backend_name() == "sqlite" and not Path(make_url(url).database or "").exists():
            print(f"statuses unknown: no database at {make_url(url).database}", file=sys.stderr)
            return None
        database = app.open_database(url)
    except (ConfigError, ValueError) as problem:
        print(f"statuses unknown: {problem.code if isinstance(problem, ConfigError) else problem}", file=sys.stderr)
        return None
    try:
        async with database.session() as session:
            return await wa_templates.rows(session)
    except (SQLAlchemyError, OSError) as problem:
        print(f"statuses unknown: {describe_failure(problem)} (`python -m bot db upgrade` migrates the database)",
              file=sys.stderr)
        return None
    finally:
        await database.dispose()


def print_table(rows: Sequence[Sequence[Any]]) -> None:
    """Columns aligned; the last one as it is (a reason may be long)."""
    texts = [[str(cell) if cell is not None else "" for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in texts) for i in range(len(texts[0]) - 1)]
    for row in texts:
        print("  ".join([cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]).rstrip())


# -- push, sync -----------------------------------------------------------------------------------
def client_for(environ: Mapping[str, str], config: WhatsAppConfig, command: str) -> tuple[WhatsApp, httpx.AsyncClient,
                                                                                          str]:
    """pywa's client for the template API: the business account and a token, nothing of the
    webhook (no app secret needed to push)."""
    import httpx
    from pywa_async import WhatsApp

    from bot.whatsapp.channel import DEFAULT_API_BASE, ApiBaseTransport

    waba_id = (environ.get(BUSINESS_ACCOUNT_VARIABLE) or "").strip()
    if not waba_id:
        raise ConfigError(f"templates {command}: set {BUSINESS_ACCOUNT_VARIABLE} in the environment: the WhatsApp "
                          "Business Account id (Meta app dashboard, WhatsApp > API Setup)")
    token = (environ.get(TOKEN_VARIABLE) or "").strip()
    if not token:
        raise ConfigError(f"templates {command}: set {TOKEN_VARIABLE} in the environment (see docs/whatsapp.md)")
    session = httpx.AsyncClient(transport=ApiBaseTransport(environ.get("WHATSAPP_API_BASE") or DEFAULT_API_BASE),
                                timeout=config.request_timeout_seconds)
    extra: dict[str, Any] = {"api_version": config.api_version} if config.api_version else {}
    return WhatsApp(token=token, waba_id=waba_id, session=session, **extra), session, waba_id


def refused_setting(command: str, problem: WhatsAppError) -> ConfigError:
    """Meta refusing the first call (the listing) refuses a setting, not a template."""
    from pywa_async.errors import AuthorizationError

    from bot.whatsapp import template_admin

    variable = TOKEN_VARIABLE if isinstance(problem, AuthorizationError) or problem.status_code in (401, 403) \
        else BUSINESS_ACCOUNT_VARIABLE
    return ConfigError(f"templates {command}: Meta refused {variable} ({problem.code}: "
                       f"{template_admin.one_line(str(problem.message), 160)})")


async def manage(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import httpx
    from pywa_async.errors import WhatsAppError

    from bot.whatsapp import template_admin
    from bot.whatsapp.template_admin import definitions

    command = args.templates_command
    config = load_config(getattr(args, "config", None))
    wa, session, waba_id = client_for(environ, config.whatsapp, command)
    try:
        svc = await app.build_services(getattr(args, "config", None), getattr(args, "db", None))
        try:
            if command == "push":
                return show_push(await template_admin.push(svc, wa, waba_id))
            return show_sync(await template_admin.sync(svc, wa, waba_id), definitions(svc.catalog, svc.rules.languages))
        finally:
            await svc.db.dispose()
    except WhatsAppError as problem:
        raise refused_setting(command, problem) from None
    except httpx.HTTPError as problem:
        raise ConfigError(f"templates {command}: the Graph API cannot be reached ({type(problem).__name__}; "
                          "WHATSAPP_API_BASE, or the network)") from None
    finally:
        await session.aclose()


def show_push(done: list[template_admin.Pushed]) -> int:
    rows: list[tuple[Any, ...]] = [("KIND", "NAME", "LANGUAGE", "RESULT", "STATUS", "DETAIL")]
    rows += [(p.definition.template.kind, p.definition.name, p.definition.language, p.action, p.status or "-",
              p.detail) for p in done]
    print_table(rows)
    failed = [p for p in done if p.failed]
    for pushed in failed:
        print(f"templates push: {pushed.definition.name} ({pushed.definition.language}) {pushed.action}: "
              f"{pushed.detail}", file=sys.stderr)
    created = sum(p.action == "created" for p in done)
    updated = sum(p.action == "updated" for p in done)
    print(f"{created} created, {updated} updated, {len(failed)} not done; Meta reviews new and edited templates "
          "(PENDING until it answers): `python -m bot templates sync` reads its answer", file=sys.stderr)
    return 1 if failed else 0


def show_sync(synced: template_admin.Synced, ours: list[Definition]) -> int:
    rows: list[tuple[Any, ...]] = [("NAME", "LANGUAGE", "STATUS", "REASON")]
    for definition in ours:
        details = synced.meta.get(definition.key)
        if details is not None:
            reason = details.rejected_reason if details.rejected_reason is not None and \
                str(details.rejected_reason) != "NONE" else ""
            rows.append((definition.name, definition.language, details.status, reason))
    print_table(rows)
    if synced.missing:
        print("not at Meta (never pushed: `python -m bot templates push`): "
              + ", ".join(f"{d.name} ({d.language})" for d in synced.missing))
    return 0
