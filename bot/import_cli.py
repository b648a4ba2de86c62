"""`python -m bot import-enrolment FILE`: BPJS TK's enrolment results (XLSX or CSV, keyed by the
bot's reference or by NIK), as an admin's upload in chat applies them: each good row marks its
approved registration enrolled and the worker is told (through the outbox); the report per row
(updated, up to date, not found, ambiguous, invalid) is written as CSV to --report, or to
standard output. Importing the same file again changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path

from bot.app import build_services
from conversations.officials import Say
from handlers.enrolment_import import ImportFileError, import_enrolments, write_report
from handlers.officials import worker_notice
from handlers.outbox import NewMessage, delivery_rules, enqueue

CLI_ACTOR = "cli"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the XLSX or CSV file from BPJS TK")
    parser.add_argument("--report", help="write the report per row here (CSV; default: standard output)")
    parser.add_argument("--lang", choices=("id", "en"), default="id", help="language of the report (default id)")


async def _run(args: argparse.Namespace) -> int:
    path = Path(args.file).expanduser()
    if not path.is_file():
        print(f"import-enrolment: no such file {path}", file=sys.stderr)
        return 2
    svc = await build_services(getattr(args, "config", None), getattr(args, "db", None))
    try:
        async with svc.db.session() as session:
            now = svc.clock.now()
            try:
                report = await import_enrolments(svc, session, path, CLI_ACTOR, now)
            except ImportFileError as problem:
                print(f"import-enrolment: {svc.catalog.text('en', problem.key)}", file=sys.stderr)
                return 2
            messages = []
            for registration in report.enrolled:
                start = registration.coverage_start
                say = Say(svc.catalog, registration.lang)
                reply = say.reply("official.worker.enrolled", reference=registration.reference,
                                  kpj=registration.kpj or "-",
                                  start=start.strftime("%d-%m-%Y") if isinstance(start, date) else "-")
                for outgoing in worker_notice(svc, registration, reply)[0]:
                    messages.append(NewMessage(outgoing.to, reply.key, reply.text, "transactional", registration.lang,
                                               f"enrolled:{registration.reference}:{outgoing.to}"))
            await enqueue(session, messages, now, delivery_rules(svc))
            await session.commit()
        say = Say(svc.catalog, args.lang)
        if args.report:
            with open(args.report, "w", encoding="utf-8", newline="") as out:
                write_report(report, out, say.t)
        else:
            write_report(report, sys.stdout, say.t)
        results = [row.result for row in report.rows]
        print(f"{path.name}: {results.count('updated')} updated, {results.count('up_to_date')} up to date, "
              f"{results.count('not_found')} not found, {results.count('ambiguous')} ambiguous, "
              f"{results.count('invalid')} invalid", file=sys.stderr)
        return 0
    finally:
        await svc.db.dispose()


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))
