"""The WhatsApp templates are managed from the project through pywa's template API, against the
fake Graph API over real HTTP: `templates push` creates every definition in every language (the
bodies are `graph_body`'s), creates nothing the second time, edits a changed text by Meta's
template id, reports Meta's refusal of one in a line and exits non-zero; `templates sync` records
Meta's status page after page; the webhook's message_template_status_update (pywa's fixture,
signed, posted to the real route) records a rejection with Meta's reason and tells the
administrators once; /readyz lists what cannot be sent; push and sync without
WHATSAPP_BUSINESS_ACCOUNT_ID say so in one line and exit 2."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.commands import CHANNELS
from bot.server import build_app
from bot.templates_cli import client_for
from bot.whatsapp import template_admin
from bot.whatsapp.templates import BY_KIND, TEMPLATES, graph_body
from conversations.i18n import Catalog
from handlers.roles import grant
from handlers.services import Services
from storage import wa_templates
from storage.inbox import InboundUpdate
from storage.outbox import OutboxMessage
from storage.repo import Repository
from tests.conftest import START
from tests.conftest import test_env as key_of_test
from tests.fake_graph import FakeGraph, Harness, environ, whatsapp_harness

LANGS = ("id", "en")
# pywa's own webhook bodies (tests/fixtures/SOURCES.md), a business account id as entry id.
PYWA_UPDATES = Path(__file__).resolve().parent / "fixtures" / "corpus" / "whatsapp_pywa"


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, graph: FakeGraph, svc: Services) -> None:
    """`python -m bot` on the test's database, with its key and the fake's variables."""
    for name, value in environ(graph.url, business_account=True).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BOT_SECRET_KEY", key_of_test(tmp_path).secret_key)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.delenv("DATABASE_URL", raising=False)


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def client(graph: FakeGraph, svc: Services) -> tuple[Any, Any, str]:
    return client_for(environ(graph.url, business_account=True), svc.config.whatsapp, "push")


async def push(svc: Services, graph: FakeGraph) -> list[template_admin.Pushed]:
    wa, session, waba_id = client(graph, svc)
    try:
        return await template_admin.push(svc, wa, waba_id)
    finally:
        await session.aclose()


async def sync(svc: Services, graph: FakeGraph) -> template_admin.Synced:
    wa, session, waba_id = client(graph, svc)
    try:
        return await template_admin.sync(svc, wa, waba_id)
    finally:
        await session.aclose()


async def held(svc: Services) -> dict[tuple[str, str], wa_templates.WhatsAppTemplate]:
    async with svc.db.session() as session:
        return {(row.name, row.language): row for row in await wa_templates.rows(session)}


async def admins(svc: Services, *people: tuple[str, str]) -> None:
    """Administrators, each with the language they chose."""
    async with svc.db.session() as session:
        for who, lang in people:
            await Repository(session, svc.cipher).person(who, svc.clock.now(), lang=lang)
            await grant(session, who, "admin", None, "cli", svc.clock.now())
        await session.commit()


async def notices(svc: Services) -> list[OutboxMessage]:
    async with svc.db.session() as session:
        rows = await session.execute(select(OutboxMessage).where(OutboxMessage.key.startswith("template_admin.")))
        return list(rows.scalars().all())


# -- push -----------------------------------------------------------------------------------------
async def test_push_creates_every_definition_in_every_language_then_nothing(
        cli_env: None, sqlite_url: str, graph: FakeGraph, svc: Services, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli("templates", "push", "--db", sqlite_url) == 0
    catalog = Catalog.load(LANGS)
    assert graph.created == [graph_body(t, catalog, lang) for t in TEMPLATES for lang in LANGS]
    out = capsys.readouterr().out
    assert out.count("created") == len(TEMPLATES) * 2 and "PENDING" in out
    rows = await held(svc)
    assert set(rows) == {(t.name, lang) for t in TEMPLATES for lang in LANGS}
    assert {row.status for row in rows.values()} == {"PENDING"}
    assert {row.template_id for row in rows.values()} == set(graph.templates)

    assert await cli("templates", "push", "--db", sqlite_url) == 0
    assert len(graph.created) == len(TEMPLATES) * 2 and graph.edited == []
    assert capsys.readouterr().out.count("unchanged") == len(TEMPLATES) * 2


async def test_a_changed_text_is_edited_by_metas_template_id(graph: FakeGraph, svc: Services) -> None:
    await push(svc, graph)
    for lang in LANGS:
        graph.set_template_status("pengingat_pendaftaran", lang, "APPROVED")
    graph.set_template_status("kabar_pendaftaran", "id", "REJECTED", "INVALID_FORMAT")
    key = BY_KIND["reminder"].body_key
    changed = "Halo {name}, pendaftaran BPJS Ketenagakerjaan Anda belum selesai sejak {date}. Ketuk Lanjutkan ya."
    svc.catalog = Catalog({**svc.catalog.messages, "id": {**svc.catalog.messages["id"], key: changed}})
    done = {(p.definition.name, p.definition.language): p for p in await push(svc, graph)}
    edited = graph.template_named("pengingat_pendaftaran", "id")
    assert done[("pengingat_pendaftaran", "id")].action == "updated"
    assert [r.path.rsplit("/", 1)[1] for r in graph.edited] == [edited["id"]]
    assert graph.edited[0].body == {"components": graph_body(BY_KIND["reminder"], svc.catalog, "id")["components"]}
    assert "{{1}}" in edited["components"][0]["text"] and "sejak {{2}}" in edited["components"][0]["text"]
    assert {p.action for k, p in done.items() if k != ("pengingat_pendaftaran", "id")} == {"unchanged"}
    assert len(graph.created) == len(TEMPLATES) * 2  # nothing created again
    rows = await held(svc)
    # Meta reviews the edit again; the unchanged rejected one keeps Meta's reason.
    assert rows[("pengingat_pendaftaran", "id")].status == "PENDING"
    assert rows[("pengingat_pendaftaran", "en")].status == "APPROVED"
    assert (rows[("kabar_pendaftaran", "id")].status, rows[("kabar_pendaftaran", "id")].reason) == (
        "REJECTED", "INVALID_FORMAT")


async def test_a_template_in_review_is_not_edited_and_push_says_so(graph: FakeGraph, svc: Services) -> None:
    await push(svc, graph)  # all PENDING
    key = BY_KIND["ticket_answer"].body_key
    svc.catalog = Catalog({**svc.catalog.messages, "en": {**svc.catalog.messages["en"],
                                                           key: svc.catalog.messages["en"][key] + " Thank you."}})
    done = {(p.definition.name, p.definition.language): p for p in await push(svc, graph)}
    waiting = done[("jawaban_petugas", "en")]
    assert waiting.action == "waiting" and waiting.failed and "PENDING" in waiting.detail
    assert graph.edited == []


async def test_metas_refusal_is_one_line_per_template_and_the_rest_is_pushed(
        cli_env: None, sqlite_url: str, graph: FakeGraph, svc: Services, capsys: pytest.CaptureFixture[str]) -> None:
    graph.refuse_template("kabar_pendaftaran")
    assert await cli("templates", "push", "--db", sqlite_url) == 1
    captured = capsys.readouterr()
    refusals = [line for line in captured.err.splitlines() if "kabar_pendaftaran" in line]
    assert len(refusals) == 2 and all("2388299" in line and "start or end" in line for line in refusals)
    assert "Traceback" not in captured.err
    assert len(graph.templates) == (len(TEMPLATES) - 1) * 2  # every other one was created
    rows = await held(svc)
    assert ("kabar_pendaftaran", "id") not in rows and len(rows) == (len(TEMPLATES) - 1) * 2


@pytest.mark.parametrize("command", ["push", "sync"])
async def test_without_the_business_account_id_one_line_and_exit_2(
        cli_env: None, sqlite_url: str, graph: FakeGraph, command: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("WHATSAPP_BUSINESS_ACCOUNT_ID")
    assert await cli("templates", command, "--db", sqlite_url) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "WHATSAPP_BUSINESS_ACCOUNT_ID" in lines[0]
    assert graph.template_requests == [] and graph.template_pages == 0


async def test_a_refused_token_is_one_line_naming_it_and_exit_2(
        cli_env: None, sqlite_url: str, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "EAA-revoked")
    assert await cli("templates", "sync", "--db", sqlite_url) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "WHATSAPP_ACCESS_TOKEN" in lines[0] and "EAA-revoked" not in lines[0]


# -- sync -----------------------------------------------------------------------------------------
async def test_sync_records_metas_status_page_after_page(graph: FakeGraph, svc: Services,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    await admins(svc, ("tg:9001", "id"))
    await push(svc, graph)
    graph.templates["999"] = {"name": "another_teams_template", "language": "id", "status": "REJECTED",
                              "category": "MARKETING", "id": "999", "components": [{"type": "BODY", "text": "Hai"}],
                              "parameter_format": "POSITIONAL", "rejected_reason": "SCAM"}
    graph.templates_page_max = 5
    for lang in LANGS:
        for template in TEMPLATES:
            graph.set_template_status(template.name, lang, "APPROVED")
    graph.set_template_status("kkbc_masuk_desa", "en", "REJECTED", "PROMOTIONAL")
    graph.set_template_status("jawaban_petugas", "id", "PAUSED")
    gone = graph.template_named("kepesertaan_berakhir", "en")
    del graph.templates[gone["id"]]
    pages_before = graph.template_pages
    caplog.set_level(logging.INFO)

    synced = await sync(svc, graph)

    assert graph.template_pages - pages_before == 3  # 12 templates, 5 a page
    rows = await held(svc)
    assert ("another_teams_template", "id") not in rows
    assert (rows[("kkbc_masuk_desa", "en")].status, rows[("kkbc_masuk_desa", "en")].reason) == (
        "REJECTED", "PROMOTIONAL")
    assert rows[("jawaban_petugas", "id")].status == "PAUSED"
    assert rows[("kepesertaan_berakhir", "en")].status == template_admin.GONE
    assert [d.key for d in synced.missing] == [("kepesertaan_berakhir", "en")]
    approved = {key for key, row in rows.items() if row.status == "APPROVED"}
    assert len(approved) == len(TEMPLATES) * 2 - 3
    told = await notices(svc)
    assert sorted(row.key for row in told) == ["template_admin.paused", "template_admin.rejected"]
    rejected = next(r for r in told if r.key == "template_admin.rejected")
    assert "kkbc_masuk_desa" in rejected.text and "PROMOTIONAL" in rejected.text and "menolak" in rejected.text.lower()
    logged = [r for r in caplog.records if "kkbc_masuk_desa" in r.getMessage() and "REJECTED" in r.getMessage()]
    assert logged and logged[0].levelno == logging.ERROR and "PROMOTIONAL" in logged[0].getMessage()

    await sync(svc, graph)  # nothing changed at Meta: nobody is told again
    assert len(await notices(svc)) == 2


async def test_templates_sync_prints_metas_status_and_what_it_lacks(
        cli_env: None, sqlite_url: str, graph: FakeGraph, svc: Services, capsys: pytest.CaptureFixture[str]) -> None:
    graph.refuse_template("jawaban_petugas")
    await push(svc, graph)
    graph.set_template_status("kabar_pendaftaran", "en", "REJECTED", "TAG_CONTENT_MISMATCH")
    assert await cli("templates", "sync", "--db", sqlite_url) == 0
    out = capsys.readouterr().out
    rejected = next(line for line in out.splitlines() if line.startswith("kabar_pendaftaran") and " en " in line)
    assert rejected.split()[2:] == ["REJECTED", "TAG_CONTENT_MISMATCH"]
    assert "not at Meta" in out and "jawaban_petugas (id), jawaban_petugas (en)" in out
    assert (await held(svc))[("kabar_pendaftaran", "en")].status == "REJECTED"


async def test_templates_list_shows_metas_status(cli_env: None, sqlite_url: str, svc: Services,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    async with svc.db.session() as session:
        await wa_templates.record(session, "kabar_pendaftaran", "id", "REJECTED", svc.clock.now(), reason="SCAM")
        await wa_templates.record(session, "pengingat_pendaftaran", "id", "APPROVED", svc.clock.now())
        await session.commit()
    assert await cli("templates", "list", "--db", sqlite_url) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "LANGUAGE", "CATEGORY", "STATUS"]
    by_name = {tuple(line.split()[1:3]): line.split()[-1] for line in lines[1:]}
    assert by_name[("kabar_pendaftaran", "id")] == "REJECTED"
    assert by_name[("pengingat_pendaftaran", "id")] == "APPROVED"
    assert by_name[("pengingat_pendaftaran", "en")] == "-"
    assert await cli("templates", "list", "--json", "--db", sqlite_url) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(TEMPLATES) * 2


# -- the server: webhook, sync at start, /readyz -----------------------------------------------------
def status_update(kind: str, name: str, language: str, at: Any) -> dict[str, Any]:
    """pywa's message_template_status_update fixture for one of our templates, dated `at`."""
    body = copy.deepcopy(json.loads((PYWA_UPDATES / "template_status_update.json").read_text(encoding="utf-8"))[kind])
    value = body["entry"][0]["changes"][0]["value"]
    value["message_template_name"], value["message_template_language"] = name, language
    body["entry"][0]["time"] = int(at.timestamp())
    return body


@pytest.fixture
async def wa(svc: Services) -> AsyncIterator[Harness]:
    async with whatsapp_harness(svc, business_account=True) as harness:
        yield harness


async def test_a_webhook_rejection_is_recorded_with_metas_reason_and_admins_told_once(
        wa: Harness, svc: Services, caplog: pytest.LogCaptureFixture) -> None:
    await admins(svc, ("tg:9001", "id"), ("tg:9002", "en"))
    caplog.set_level(logging.INFO)
    rejected = status_update("rejected", "kabar_pendaftaran", "id", START)
    assert await wa.send(rejected) == []

    row = (await held(svc))[("kabar_pendaftaran", "id")]
    assert row.status == "REJECTED" and row.template_id == "1689556908129835"
    assert row.reason.startswith("INVALID_FORMAT: Your template has parameters placed next to each other")
    told = {r.channel_user: r for r in await notices(svc)}
    assert set(told) == {"tg:9001", "tg:9002"} and {r.key for r in told.values()} == {"template_admin.rejected"}
    assert "menolak" in told["tg:9001"].text.lower() and "rejected" in told["tg:9002"].text.lower()
    assert all("INVALID_FORMAT" in r.text and "kabar_pendaftaran" in r.text for r in told.values())
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING and "kabar_pendaftaran" in r.getMessage()]
    assert errors and "INVALID_FORMAT" in errors[0].getMessage()
    async with svc.db.session() as session:  # no person: nothing entered the inbox
        assert (await session.execute(select(func.count()).select_from(InboundUpdate))).scalar_one() == 0
    assert not [r for r in caplog.records if "is not used by this bot" in r.getMessage()]

    await wa.send(rejected)  # Meta delivers it again: nobody is told twice
    assert len(await notices(svc)) == 2

    approved = status_update("approved", "kabar_pendaftaran", "id", START + timedelta(hours=1))
    await wa.send(approved)
    row = (await held(svc))[("kabar_pendaftaran", "id")]
    assert (row.status, row.reason) == ("APPROVED", None)
    await wa.send(status_update("rejected", "kabar_pendaftaran", "id", START))  # late, older than what we hold
    assert (await held(svc))[("kabar_pendaftaran", "id")].status == "APPROVED"
    assert len(await notices(svc)) == 2


async def test_a_webhook_update_of_a_template_not_ours_is_logged_and_ignored(
        wa: Harness, svc: Services, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = json.loads((PYWA_UPDATES / "template_status_update.json").read_text(encoding="utf-8"))["rejected"]
    await wa.send(body)
    assert await held(svc) == {}
    assert any("abandoned_cart" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


async def test_the_server_syncs_at_start_and_again_when_an_event_asks(wa: Harness, svc: Services) -> None:
    await push(svc, wa.graph)
    wa.graph.set_template_status("kabar_pendaftaran", "id", "APPROVED")
    watch = wa.webhook.templates
    runner = asyncio.create_task(watch.run())
    try:
        for _ in range(200):
            if (await held(svc)).get(("kabar_pendaftaran", "id")) and \
                    (await held(svc))[("kabar_pendaftaran", "id")].status == "APPROVED":
                break
            await asyncio.sleep(0.02)
        assert (await held(svc))[("kabar_pendaftaran", "id")].status == "APPROVED"
        # FLAGGED does not say whether it can be sent: the watch reads Meta's status again.
        wa.graph.set_template_status("kabar_pendaftaran", "id", "PAUSED")
        flagged = status_update("approved", "kabar_pendaftaran", "id", svc.clock.now())
        flagged["entry"][0]["changes"][0]["value"]["event"] = "FLAGGED"
        await wa.send(flagged)
        for _ in range(200):
            if (await held(svc))[("kabar_pendaftaran", "id")].status == "PAUSED":
                break
            await asyncio.sleep(0.02)
        assert (await held(svc))[("kabar_pendaftaran", "id")].status == "PAUSED"
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_the_sync_task_runs_only_with_a_business_account_id(svc: Services, graph: FakeGraph) -> None:
    for business_account, tasks in ((False, 1), (True, 2)):
        _, channels = await build_app(svc, environ(graph.url, business_account), {"wa": CHANNELS["wa"]})
        assert len(channels[0].tasks) == tasks
        for channel in channels:
            if channel.close:
                await channel.close()


async def test_readyz_lists_the_templates_that_cannot_be_sent_and_stays_200(wa: Harness, svc: Services) -> None:
    async with svc.db.session() as session:
        await wa_templates.record(session, "kabar_pendaftaran", "id", "REJECTED", svc.clock.now(),
                                  reason="INVALID_FORMAT")
        await wa_templates.record(session, "pengingat_pendaftaran", "id", "APPROVED", svc.clock.now())
        await wa_templates.record(session, "kkbc_masuk_desa", "en", "PENDING", svc.clock.now())
        await session.commit()
    response = await wa.meta.client.get("/readyz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ready"
    report = body["whatsapp_templates"]
    assert report["not_approved"] == [
        {"name": "kabar_pendaftaran", "language": "id", "status": "REJECTED", "reason": "INVALID_FORMAT"},
        {"name": "kkbc_masuk_desa", "language": "en", "status": "PENDING", "reason": None}]
    unknown = {(t["name"], t["language"]) for t in report["unknown_to_meta"]}
    assert len(unknown) == len(TEMPLATES) * 2 - 3 and ("pengingat_pendaftaran", "en") in unknown
