"""The dashboard without a browser (aiohttp's test client): one-time login links and the session
cookie, who sees what (403 otherwise), every page on SQLite and PostgreSQL with the same numbers
as /statistik, CSV and XLSX downloads, no personal data on any page, the figures the chat does
not have (decision times, campaigns, the funnel by channel), /dasbor and `dashboard link`.
The browser's own checks (phone width, printing) are tests/test_dashboard_browser.py."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.dashboard.cache import FigureCache
from bot.dashboard.tables import Cell, Column, Table, to_csv, to_xlsx
from conversations.i18n import Catalog
from conversations.reports import number
from handlers.dashboard import figures as fig
from handlers.dashboard.access import LINK_MINUTES, SESSION_HOURS, login_link
from handlers.services import Services
from handlers.stats import funnel, operator_view, regency_view
from storage.dashboard import DashboardLink, DashboardSession, Reader
from storage.models import Registration
from storage.officials import Official
from storage.outbox import Campaign, OutboxMessage
from storage.whatsapp import OutboundMessage
from tests.conftest import Chat, register
from tests.dashboard_support import dashboard_app, log_in, new_link, read_page
from tests.officials_support import (
    ADMIN,
    KANDANG,
    MUARO,
    OPERATOR,
    OTHER_OPERATOR,
    VIEWER,
    add_officials,
    add_registrations,
    private_folders,
)
from tests.test_flow_registration import walk_to
from tests.test_stats import fixture

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("/dasbor/", "/dasbor/nagari", f"/dasbor/nagari/{MUARO}", "/dasbor/corong", "/dasbor/layanan",
         "/dasbor/kampanye", "/dasbor/sumber")


async def page(client: TestClient, path: str, status: int = 200) -> str:
    response = await client.get(path, allow_redirects=False)
    body = await response.text()
    assert response.status == status, (path, response.status, body[:500])
    return body


# -- logging in ------------------------------------------------------------------------------------
async def test_a_link_works_once_and_only_for_ten_minutes(any_svc: Services, clock) -> None:
    await add_officials(any_svc)
    async with TestClient(TestServer(dashboard_app(any_svc))) as client:
        url = await new_link(any_svc, ADMIN)
        path = urlparse(url).path
        assert path.startswith("/dasbor/masuk/") and url.startswith("http://dasbor.test/dasbor/masuk/")
        # Opening the link (a chat app drawing its preview does so) does not use it.
        for _ in range(2):
            assert 'id="masuk"' in await page(client, path)
        assert (await client.post(path, allow_redirects=False)).status == 303
        await page(client, "/dasbor/")
        client.session.cookie_jar.clear()
        # Used: refused, both ways.
        assert (await client.get(path)).status == 403
        refused = await client.post(path, allow_redirects=False)
        assert refused.status == 403 and "Set-Cookie" not in refused.headers
        assert "sudah dipakai atau sudah kedaluwarsa" in await refused.text()
        # Expired after LINK_MINUTES.
        late = urlparse(await new_link(any_svc, ADMIN)).path
        clock.advance(timedelta(minutes=LINK_MINUTES, seconds=1))
        assert (await client.post(late, allow_redirects=False)).status == 403
        clock.advance(timedelta(minutes=-LINK_MINUTES))
        fresh = urlparse(await new_link(any_svc, ADMIN)).path
        clock.advance(timedelta(minutes=LINK_MINUTES - 1))
        assert (await client.post(fresh, allow_redirects=False)).status == 303
        # A made-up token, and a link of someone whose roles were revoked before it was used.
        assert (await client.post("/dasbor/masuk/" + "x" * 43, allow_redirects=False)).status == 403
        revoked = urlparse(await new_link(any_svc, VIEWER)).path
        async with any_svc.db.session() as session:
            await session.execute(update(Official).where(Official.channel_user == VIEWER)
                                  .values(revoked_at=any_svc.clock.now()))
            await session.commit()
        assert (await client.post(revoked, allow_redirects=False)).status == 403
    # Only hashes are stored: the database holds no link or cookie that works.
    async with any_svc.db.session() as session:
        stored = (await session.execute(select(DashboardLink.token_hash))).scalars().all()
        sessions = (await session.execute(select(DashboardSession.token_hash))).scalars().all()
    tokens = {urlparse(u).path.rsplit("/", 1)[1] for u in (url,)}
    assert stored and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in [*stored, *sessions])
    assert not tokens & set(stored)


async def test_no_link_for_someone_who_is_not_an_official(svc: Services) -> None:
    async with svc.db.session() as session:
        assert await login_link(svc, session, "tg:1001", svc.clock.now(), base_url="https://x") is None
        assert await login_link(svc, session, ADMIN, svc.clock.now()) is None  # no DASHBOARD_URL: no link


async def test_the_session_cookie_is_httponly_strict_secure_behind_https_and_ends(svc: Services, clock) -> None:
    await add_officials(svc)
    async with TestClient(TestServer(dashboard_app(svc))) as client:
        path = urlparse(await new_link(svc, ADMIN)).path
        response = await client.post(path, allow_redirects=False)
        cookie = response.headers["Set-Cookie"]
        assert response.headers["Location"] == "/dasbor/"
        for part in ("HttpOnly", "SameSite=Strict", "Path=/dasbor", f"Max-Age={SESSION_HOURS * 3600}"):
            assert part in cookie, cookie
        assert "Secure" not in cookie  # plain http (a test, or the machine itself)
        path = urlparse(await new_link(svc, ADMIN)).path
        behind_proxy = await client.post(path, allow_redirects=False, headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in behind_proxy.headers["Set-Cookie"]
        svc.dashboard_url = "https://bot.sijunjungkab.go.id"
        path = urlparse(await new_link(svc, ADMIN)).path
        assert "Secure" in (await client.post(path, allow_redirects=False)).headers["Set-Cookie"]
        svc.dashboard_url = ""
        client.session.cookie_jar.clear()  # it would not send a Secure cookie over http
        await log_in(client, svc, ADMIN)
        # Every page: no caching, no framing, no script, no referrer.
        response = await client.get("/dasbor/")
        assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
        assert "script-src" not in response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer" and response.headers["X-Frame-Options"] == "DENY"
        # Eight hours later the session is over.
        clock.advance(timedelta(hours=SESSION_HOURS, seconds=1))
        await page(client, "/dasbor/", 403)
        clock.advance(-timedelta(hours=SESSION_HOURS, seconds=1))
        await page(client, "/dasbor/")
        # Logging out ends it in the database, not just in this browser.
        cookies = {c.key: c.value for c in client.session.cookie_jar}
        logged_out = await client.post("/dasbor/keluar")
        assert logged_out.status == 200 and "Sesi dasbor sudah ditutup" in await logged_out.text()
        await page(client, "/dasbor/", 403)
        client.session.cookie_jar.update_cookies(cookies)
        await page(client, "/dasbor/", 403)


# -- who sees what ---------------------------------------------------------------------------------
async def test_operators_see_their_nagari_admins_and_viewers_everything(svc: Services, clock) -> None:
    await add_officials(svc)
    await fixture(svc, clock)
    async with TestClient(TestServer(dashboard_app(svc))) as client:
        for path in PAGES:
            body = await page(client, path, 403)  # not logged in
            assert "/dasbor" in body and "Muaro" not in body
        await log_in(client, svc, OPERATOR)
        response = await client.get("/dasbor/", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == f"/dasbor/nagari/{MUARO}"
        await page(client, f"/dasbor/nagari/{MUARO}")
        for path in (f"/dasbor/nagari/{KANDANG}", "/dasbor/nagari/13.03.99.9999", "/dasbor/nagari/x",
                     "/dasbor/corong", "/dasbor/kampanye"):
            body = await page(client, path, 403)
            assert "Kandang Baru" not in body
        board = read_page(await page(client, "/dasbor/nagari")).tables["nagari"]
        assert [row["nagari"] for row in board] == ["Muaro"]
        health = read_page(await page(client, "/dasbor/layanan")).tables["layanan"]
        assert [row["nagari"] for row in health] == ["Muaro"]
        assert "reminders_due" not in read_page(await page(client, "/dasbor/layanan")).figures
        # Downloads follow the same rule.
        assert "Kandang" not in await page(client, "/dasbor/nagari?format=csv")
        assert (await client.get(f"/dasbor/nagari/{KANDANG}?format=csv")).status == 403
        client.session.cookie_jar.clear()
        for who in (ADMIN, VIEWER):
            await log_in(client, svc, who)
            for path in PAGES:
                await page(client, path)
            assert len(read_page(await page(client, "/dasbor/nagari")).tables["nagari"]) == 62
            await page(client, "/dasbor/nagari/13.03.99.9999", 404)
            client.session.cookie_jar.clear()
        # An official removed while logged in is out at the next request.
        await log_in(client, svc, OTHER_OPERATOR)
        await page(client, f"/dasbor/nagari/{KANDANG}")
        async with svc.db.session() as session:
            await session.execute(update(Official).where(Official.channel_user == OTHER_OPERATOR)
                                  .values(revoked_at=clock.now()))
            await session.commit()
        await page(client, f"/dasbor/nagari/{KANDANG}", 403)


# -- the numbers -------------------------------------------------------------------------------------
async def test_every_page_on_both_databases_with_statistik_numbers(any_svc: Services, clock, tmp_path: Path) -> None:
    svc = any_svc
    private_folders(svc, tmp_path)
    await add_officials(svc)
    await fixture(svc, clock)
    admin = Chat(svc, ADMIN)
    await admin("/statistik")
    statistik = admin.replies[0].text
    async with svc.db.session() as session:
        view = await regency_view(svc, session, None)
        muaro = await operator_view(svc, session, MUARO)
        started = (await funnel(svc, session)).started
    async with TestClient(TestServer(dashboard_app(svc))) as client:
        await log_in(client, svc, ADMIN)
        overview = read_page(await page(client, "/dasbor/"))
        figures = {k: float(v) for k, v in overview.figures.items()}
        assert figures == {"registrations": view.total, "enrolled": 0, "approved": view.by_status["approved"],
                           "pending": view.backlog, "covered": view.covered, "vulnerable": 48_838,
                           "places": view.used}
        assert (view.total, view.covered, view.backlog, view.used) == (11, 5, 4, 5)
        # ... which /statistik says in its own words.
        assert f"{number(view.covered)} dari target kabupaten 30.000" in statistik
        assert f"{number(view.used)} dari {number(view.places)} tempat terisi" in statistik
        kecamatan = {row["name"]: row for row in overview.tables["kecamatan"]}
        assert len(kecamatan) == 8 and kecamatan["Kupitan"]["total"] == "0"
        assert "• Sijunjung: {total} / {covered} / {pending}".format(**kecamatan["Sijunjung"]) in statistik
        categories = {row["name"]: row for row in overview.tables["pekerjaan"]}
        assert categories["Petani/pekebun"]["total"] == "11" and categories["Nelayan"]["total"] == "0"
        assert sum(int(w["submitted"]) for w in overview.tables["tren"]) == 11  # all within the 13 weeks

        board = {row["nagari"]: row for row in read_page(await page(client, "/dasbor/nagari")).tables["nagari"]}
        line = board["Muaro"]
        assert (line["used"], line["limit"], line["pending"], line["waiting"], line["oldest"]) == ("5", "100", "4", "1", "10")
        assert "• Muaro: {used}/{limit} (5%), menunggu {pending}".format(**line) in statistik
        assert sum(1 for row in board.values() if row["operator"] == "belum") == 60
        assert "tanpa operator: 60" in statistik

        nagari = read_page(await page(client, f"/dasbor/nagari/{MUARO}"))
        assert {k: nagari.figures[k] for k in ("used", "left", "waiting", "pending", "corrections")} == {
            "used": str(muaro.used), "left": str(muaro.left), "waiting": str(muaro.waiting),
            "pending": str(muaro.backlog), "corrections": str(muaro.corrections)}
        assert nagari.figures["decided_week"] == str(sum(muaro.decided_this_week.values())) == "3"
        operator = Chat(svc, OPERATOR)
        await operator("/statistik")
        assert f"{muaro.used} dari {muaro.limit} terisi (5%), sisa {muaro.left}" in operator.text
        assert f"Menunggu pemeriksaan Anda: {muaro.backlog} (tertua {muaro.oldest_days} hari)" in operator.text

        funnel_page = read_page(await page(client, "/dasbor/corong"))
        assert funnel_page.figures["started"] == str(started)
        health = read_page(await page(client, "/dasbor/layanan"))
        assert health.figures["decided"] == "7"  # 5 approved, 1 put on the waiting list, 1 rejected
        await page(client, "/dasbor/kampanye")
        await page(client, "/dasbor/sumber")
        # English, from the language switch.
        switched = await client.post("/dasbor/bahasa", data={"lang": "en", "next": "/dasbor/nagari"},
                                     allow_redirects=False)
        assert switched.status == 303 and switched.headers["Location"] == "/dasbor/nagari"
        english = await page(client, "/dasbor/nagari")
        assert "Nagari board" in english and "Papan nagari" not in english


async def test_downloads_carry_the_pages_tables(svc: Services, clock) -> None:
    await add_officials(svc)
    await fixture(svc, clock)
    async with TestClient(TestServer(dashboard_app(svc))) as client:
        await log_in(client, svc, ADMIN)
        for path in PAGES:
            html = read_page(await page(client, path))
            response = await client.get(f"{path}?format=csv")
            assert response.status == 200 and response.headers["Content-Type"].startswith("text/csv")
            assert re.search(r'attachment; filename="dasbor-[a-z]+-\d{8}-\d{4}\.csv"',
                             response.headers["Content-Disposition"])
            raw = await response.read()
            assert raw.startswith(b"\xef\xbb\xbf")
            rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
            assert rows
            workbook = await client.get(f"{path}?format=xlsx")
            assert workbook.status == 200
            book = load_workbook(io.BytesIO(await workbook.read()))
            assert book.sheetnames
            for name, table in html.tables.items():
                one = list(csv.reader(io.StringIO((await (await client.get(
                    f"{path}?format=csv&table={name}")).read()).decode("utf-8-sig"))))
                assert len(one) == len(table) + 1, (path, name)
                assert [row[0] for row in one[1:]] == [row[next(iter(row))] for row in table]
        # The board's numbers, as number cells, sorted as asked.
        book = load_workbook(io.BytesIO(await (await client.get("/dasbor/nagari?format=xlsx&sort=pending&dir=desc")).read()))
        sheet = book.worksheets[-1]
        header = [c.value for c in sheet[1]]
        first = [c.value for c in sheet[2]]
        assert first[header.index("Nagari")] == "Muaro" and first[header.index("Menunggu pemeriksaan")] == 4
        assert sheet.freeze_panes == "A2"
        assert (await client.get("/dasbor/nagari?format=csv&table=nope")).status == 404


def test_a_name_that_looks_like_a_formula_stays_text() -> None:
    table = Table("t", "T", [Column("agent", "Agen"), Column("n", "N", True)],
                  [[Cell("=HYPERLINK(\"x\")", "x"), Cell(3, "3")]])
    assert list(csv.reader(io.StringIO(to_csv([table]).decode("utf-8-sig"))))[1] == ["'=HYPERLINK(\"x\")", "3"]
    sheet = load_workbook(io.BytesIO(to_xlsx([table]))).active
    assert sheet["A2"].data_type == "s" and sheet["A2"].value == "=HYPERLINK(\"x\")" and sheet["B2"].value == 3


async def test_the_board_sorts_by_any_column(svc: Services, clock) -> None:
    await add_officials(svc)
    await fixture(svc, clock)
    await add_registrations(svc, 2, KANDANG, start=60)
    async with TestClient(TestServer(dashboard_app(svc))) as client:
        await log_in(client, svc, VIEWER)
        html = await page(client, "/dasbor/nagari")
        columns = re.findall(r'data-sort="([a-z_]+)"', html)
        assert columns == ["nagari", "kecamatan", "used", "limit", "fill", "waiting", "pending", "oldest", "operator",
                           "tickets"]
        for column in columns:
            for direction in ("asc", "desc"):
                rows = read_page(await page(client, f"/dasbor/nagari?sort={column}&dir={direction}")).tables["nagari"]
                assert len(rows) == 62
        pending = read_page(await page(client, "/dasbor/nagari?sort=pending&dir=desc")).tables["nagari"]
        assert [r["nagari"] for r in pending[:2]] == ["Muaro", "Kandang Baru"]
        names = [r["nagari"] for r in read_page(await page(client, "/dasbor/nagari?sort=nagari")).tables["nagari"]]
        assert names == sorted(names, key=str.casefold)
        oldest = read_page(await page(client, "/dasbor/nagari?sort=oldest&dir=desc")).tables["nagari"]
        assert oldest[0]["nagari"] == "Muaro" and oldest[-1]["oldest"] == ""  # no pending: last


async def test_no_page_shows_a_name_a_nik_or_a_phone(svc: Services, clock) -> None:
    await add_officials(svc)
    await fixture(svc, clock)
    worker = Chat(svc, "wa:6281234567890")
    await register(worker)
    async with svc.db.session() as session:
        people = (await session.execute(select(Registration.name, Registration.phone, Registration.channel_user)))
        private = {value for row in people.all() for value in row}
    private |= {"1303055203850001", "Siti Rahmah", "Ahmad Yani", "6281234567890", "081234567890", ADMIN, VIEWER}
    async with TestClient(TestServer(dashboard_app(svc))) as client:
        for who in (ADMIN, OPERATOR):
            await log_in(client, svc, who)
            for path in PAGES:
                for suffix in ("", "?format=csv"):
                    response = await client.get(path + suffix)
                    body = await response.text()
                    leaked = sorted(p for p in private if p and p in body)
                    assert not leaked, (who, path, suffix, leaked)
                    assert not re.search(r"\b\d{16}\b", body)
            client.session.cookie_jar.clear()


# -- what the chat does not count -------------------------------------------------------------------
async def test_decision_times_median_and_90th_percentile(any_svc: Services, clock) -> None:
    """Ten decisions in Muaro after 1..10 hours, one in Kandang Baru after 30 hours, one older
    than the window: nearest-rank median 5 h, 90th percentile 9 h."""
    now = clock.now()
    references = await add_registrations(any_svc, 10)
    kandang = await add_registrations(any_svc, 2, KANDANG, start=50)
    async with any_svc.db.session() as session:
        for hours, reference in enumerate(references, start=1):
            row = (await session.execute(select(Registration).where(Registration.reference == reference))).scalar_one()
            row.created_at = now - timedelta(days=2)
            row.decided_at, row.status = row.created_at + timedelta(hours=hours), "approved"
        for reference, status, hours, decided in ((kandang[0], "rejected", 30, now - timedelta(hours=1)),
                                                  (kandang[1], "approved", 2, now - timedelta(days=200))):
            row = (await session.execute(select(Registration).where(Registration.reference == reference))).scalar_one()
            row.decided_at, row.status = decided, status
            row.created_at = decided - timedelta(hours=hours)
        await session.commit()
        per, overall = await fig.decision_times(session, None, now)
        mine, mine_overall = await fig.decision_times(session, frozenset({MUARO}), now)
    assert (per[MUARO].decided, round(per[MUARO].median_hours, 3), round(per[MUARO].p90_hours, 3)) == (10, 5.0, 9.0)
    assert (per[KANDANG].decided, round(per[KANDANG].median_hours, 3)) == (1, 30.0)
    assert (overall.decided, round(overall.median_hours, 3), round(overall.p90_hours, 3)) == (11, 6, 10)
    assert set(mine) == {MUARO} and mine_overall.decided == 10 and mine_overall.median_hours == mine[MUARO].median_hours


async def test_campaigns_sent_delivered_read_failed_and_cost(any_svc: Services, clock) -> None:
    now = clock.now()
    async with any_svc.db.session() as session:
        done = Campaign(created_by=ADMIN, created_at=now, updated_at=now, state="done", total=5, started_at=now,
                        finished_at=now, report={"cost": {"estimate": "1758.5", "currency": "IDR"}})
        running = Campaign(created_by=ADMIN, created_at=now, updated_at=now, state="running", total=1, started_at=now)
        draft = Campaign(created_by=ADMIN, created_at=now, updated_at=now, state="draft")
        session.add_all([done, running, draft])
        await session.flush()
        wa_status = {"wamid.1": "read", "wamid.2": "delivered", "wamid.3": "failed"}
        for n, (state, message_id) in enumerate([("sent", "wamid.1"), ("sent", "wamid.2"), ("sent", "wamid.3"),
                                                 ("sent", "tg-5"), ("failed", None)]):
            user = f"wa:62812000000{n}" if message_id and message_id.startswith("wamid") else f"tg:{n}"
            session.add(OutboxMessage(kind="campaign", campaign_id=done.id, channel_user=user, key="campaign.message",
                                      state=state, not_before=now, created_at=now, message_id=message_id))
            if message_id in wa_status:
                session.add(OutboundMessage(message_id=message_id, channel_user=user, kind="template",
                                            status=wa_status[message_id], created_at=now, updated_at=now))
        session.add(OutboxMessage(kind="campaign", campaign_id=running.id, channel_user="tg:9", key="campaign.message",
                                  state="queued", not_before=now, created_at=now))
        await session.commit()
        found = await fig.campaigns(any_svc, session)
    assert [line.id for line in found.lines] == [running.id, done.id]  # newest first, no drafts
    line = found.lines[1]
    assert (line.sent, line.delivered, line.read, line.failed, line.total) == (4, 2, 1, 2, 5)
    assert line.cost == "Rp 1.759"
    assert found.lines[0].states == {"queued": 1} and found.lines[0].cost == "Rp 0"


async def test_the_funnel_by_channel_adds_up_to_the_statistik_funnel(any_svc: Services) -> None:
    await register(Chat(any_svc, "tg:1"))
    await register(Chat(any_svc, "wa:6281200000002"), nik="1303055203850002")
    await walk_to(Chat(any_svc, "wa:6281200000003"), "nik")
    undecided = Chat(any_svc, "tg:4")
    await undecided("halo")
    async with any_svc.db.session() as session:
        await session.execute(update(Registration).where(Registration.channel_user == "tg:1").values(status="enrolled"))
        await session.commit()
        total = await funnel(any_svc, session)
        page_figures = await fig.funnel_page(any_svc, session)
    by = page_figures.by_channel
    assert page_figures.total == total and total.started == 4
    assert (by["wa"].started, by["tg"].started, by["other"].started) == (2, 2, 0)
    for step in range(len(total.reached)):
        assert sum(by[c].reached[step] for c in fig.CHANNELS) == total.reached[step]
    assert by["wa"].reached[-1] == 1 and by["tg"].reached[-1] == 1
    assert page_figures.approved == {"wa": 0, "tg": 1, "other": 0} and page_figures.enrolled_total == 1


# -- the chat and the command line ---------------------------------------------------------------
async def test_dasbor_in_the_chat_gives_a_link(svc: Services) -> None:
    await add_officials(svc)
    operator = Chat(svc, OPERATOR)
    await operator("/dasbor")
    assert operator.keys == ["dashboard.desk.not_configured"]
    svc.dashboard_url = "https://bot.sijunjungkab.go.id"
    await operator("/dasbor")
    assert operator.keys == ["dashboard.desk.link"]
    assert re.search(r"https://bot\.sijunjungkab\.go\.id/dasbor/masuk/[A-Za-z0-9_-]{40,}", operator.text)
    assert "10 menit" in operator.text
    viewer = Chat(svc, VIEWER)
    await viewer("dashboard")
    assert viewer.keys == ["dashboard.desk.link"]
    await operator("bantuan")
    assert "/dasbor" in operator.text
    from bot.telegram.menus import desk_commands

    menu = {c.command for c in desk_commands(svc.catalog, frozenset({"operator"}), "id")}
    assert "dasbor" in menu
    async with TestClient(TestServer(dashboard_app(svc))) as client:
        await operator("/dasbor")
        link = re.search(r"/dasbor/masuk/[A-Za-z0-9_-]+", operator.text)
        assert link is not None and (await client.post(link.group(0), allow_redirects=False)).status == 303


def test_dashboard_link_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import main

    database = tmp_path / "cli.sqlite3"
    monkeypatch.setenv("BOT_SECRET_KEY", "k" * 48)
    monkeypatch.setenv("BOT_SECRET_KEY_FILE", str(tmp_path / "unused.key"))
    monkeypatch.delenv("DASHBOARD_URL", raising=False)
    assert main(["officials", "add", "tg:777", "--role", "viewer", "--db", str(database)]) == 0
    capsys.readouterr()
    assert main(["dashboard", "link", "--as", "tg:777", "--db", str(database)]) == 0
    out, err = capsys.readouterr()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/dasbor/masuk/[A-Za-z0-9_-]{40,}\n", out)
    assert "DASHBOARD_URL is not set" in err
    monkeypatch.setenv("DASHBOARD_URL", "https://bot.sijunjungkab.go.id/")
    assert main(["dashboard", "link", "--as", "tg:777", "--db", str(database)]) == 0
    assert capsys.readouterr().out.startswith("https://bot.sijunjungkab.go.id/dasbor/masuk/")
    assert main(["dashboard", "link", "--as", "tg:778", "--db", str(database)]) == 2
    assert "not an official" in capsys.readouterr().err


async def test_the_bot_server_mounts_the_dashboard(svc: Services) -> None:
    from bot.server import build_app

    app, _ = await build_app(svc, {}, {})
    async with TestClient(TestServer(app)) as client:
        bare = await client.get("/dasbor", allow_redirects=False)
        assert bare.status == 308 and bare.headers["Location"] == "/dasbor/"
        response = await client.get("/dasbor/")
        assert response.status == 403 and "Content-Security-Policy" in response.headers
        style = await client.get("/dasbor/static/dashboard.css")
        assert style.status == 200 and "@page { size: A4 landscape" in await style.text()
        assert (await client.get("/healthz")).status in (200, 503)


# -- pieces ------------------------------------------------------------------------------------------
def test_every_key_of_the_templates_and_pages_is_in_both_catalogs() -> None:
    catalog = Catalog.load(("id", "en"))
    sources = [*(ROOT / "bot" / "dashboard").glob("*.py"), *(ROOT / "bot" / "dashboard" / "templates").glob("*")]
    keys: set[str] = set()
    for path in sources:
        keys |= set(re.findall(r"""["']((?:dashboard|report|link|official)\.[a-z_0-9.]+[a-z_0-9])["']""",
                               path.read_text(encoding="utf-8")))
    families = {"dashboard.switch_language", "dashboard.role", "dashboard.channel", "dashboard.campaign_state"}
    assert len(keys) > 150
    for lang in ("id", "en"):
        known = catalog.messages[lang]
        missing = sorted(k for k in keys if k not in known and not any(m.startswith(k + ".") for m in known))
        assert missing == [], (lang, missing)
        for family in families:
            assert any(m.startswith(family + ".") for m in known), family
    for state in ("scheduled", "running", "paused", "cancelled", "done"):
        assert catalog.has(f"dashboard.campaign_state.{state}")


async def test_the_figures_cache_computes_once_for_concurrent_requests() -> None:
    cache = FigureCache(ttl=60)
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    assert await asyncio.gather(*(cache.get("k", compute) for _ in range(5))) == [1] * 5
    assert await cache.get("k", compute) == 1 and calls == 1
    assert await cache.get("other", compute) == 2

    async def fails() -> int:
        raise RuntimeError("database away")

    with pytest.raises(RuntimeError):
        await cache.get("bad", fails)
    assert await cache.get("bad", compute) == 3  # a failure is not kept
    assert await FigureCache(ttl=0).get("k", compute) == 4 and await FigureCache(ttl=0).get("k", compute) == 5


async def test_figures_in_use_are_counted_again_before_they_expire() -> None:
    cache = FigureCache(ttl=0.4, keep_warm=0.6)
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await cache.get("k", compute) == 1
    assert await cache.refresh_due() == 0  # fresh
    await asyncio.sleep(0.32)  # within `ahead` (a quarter of the ttl) of expiring
    assert await cache.refresh_due() == 1 and calls == 2
    assert await cache.get("k", compute) == 2 and calls == 2  # the request did not wait for a count
    await asyncio.sleep(0.7)  # nobody asked for it for longer than keep_warm: forgotten
    assert await cache.refresh_due() == 0
    assert await cache.get("k", compute) == 3


async def test_the_sqlite_reader_is_read_only_and_runs_in_its_own_thread(svc: Services) -> None:
    reader = Reader(svc.db)
    try:
        assert reader.engine is not None and reader.engine is not svc.db.engine
        async with reader.session() as session:
            assert (await session.execute(select(Registration.id).limit(1))).all() == []
            with pytest.raises(Exception, match="readonly|read-only|query_only"):
                await session.execute(update(Registration).values(status="x"))
    finally:
        await reader.dispose()
