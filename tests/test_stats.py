"""/statistik by role, from a fixture database: the operator's quota, backlog and week; the
regency against its target and funded places with every kecamatan and the nagari table; the
three charts rendered (PNG, phone width); Indonesian numbers; and the funnel from stored state."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import update

from conversations.officials import Say
from conversations.reports import Funnel, number, percent
from handlers.charts import draw_kecamatan, draw_quota_fill, draw_trend
from handlers.services import Services
from handlers.stats import funnel, operator_view, regency_view
from storage.models import Registration
from tests.conftest import Chat, register
from tests.officials_support import ADMIN, KANDANG, MUARO, OPERATOR, VIEWER, add_officials, add_registrations, private_folders
from tests.test_flow_registration import walk_to


def test_indonesian_numbers() -> None:
    assert (number(1234), number(30000), number(7)) == ("1.234", "30.000", "7")
    assert (percent(1, 8), percent(3, 30000), percent(1, 3), percent(5, 0)) == ("12,5%", "0%", "33,3%", "0%")
    assert percent(1, 4) == "25%" and percent(20, 100) == "20%"


async def fixture(svc: Services, clock) -> None:
    """Muaro: 3 approved 3 weeks ago, 2 approved this week, 4 pending (the oldest 10 days old),
    1 waiting; Kandang Baru (no operator of its own in this fixture's admin view? it has one):
    1 rejected this week."""
    start = clock.now()
    clock.advance(timedelta(days=-21))
    await add_registrations(svc, 3, status="approved")
    clock.set(start - timedelta(days=10))
    await add_registrations(svc, 4, start=10)
    clock.set(start)
    await add_registrations(svc, 2, start=20, status="approved")
    await add_registrations(svc, 1, start=30, status="waiting")
    await add_registrations(svc, 1, KANDANG, start=40, status="rejected")
    async with svc.db.session() as session:
        await session.execute(update(Registration).where(Registration.status.in_(("waiting", "rejected")))
                              .values(decided_at=start))
        await session.commit()


async def test_operator_sees_own_quota_backlog_and_week(svc: Services, clock, tmp_path: Path) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    await fixture(svc, clock)
    async with svc.db.session() as session:
        view = await operator_view(svc, session, MUARO)
    assert (view.limit, view.used, view.left, view.waiting, view.backlog, view.oldest_days) == (100, 5, 95, 1, 4, 10)
    assert view.decided_this_week == {"approved": 2, "waiting": 1}
    assert view.trend.target == 100 and view.trend.weeks[-1].covered == 5
    assert sum(w.approved for w in view.trend.weeks) == 5 and sum(w.submitted for w in view.trend.weeks) == 10
    operator = Chat(svc, OPERATOR)
    await operator("/statistik")
    assert operator.keys == ["official.stats.text"]
    text = operator.text
    assert "Muaro" in text and "5 dari 100 terisi (5%), sisa 95" in text
    assert "Menunggu pemeriksaan Anda: 4 (tertua 10 hari)" in text and "Daftar tunggu (kuota penuh): 1" in text
    assert "Disetujui 2" in text and "Kandang Baru" not in text and "30.000" not in text
    with Image.open(operator.last.image) as image:
        assert image.format == "PNG" and image.width >= 1000


async def test_admin_sees_the_regency_every_kecamatan_and_nagari(svc: Services, clock, tmp_path: Path) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    await fixture(svc, clock)
    async with svc.db.session() as session:
        view = await regency_view(svc, session, None)
    assert (view.total, view.covered, view.target, view.places, view.used) == (11, 5, 30_000, 6_200, 5)
    assert len(view.by_kecamatan) == 8 and view.by_kecamatan["Kupitan"] == {}  # zeros included
    assert len(view.nagari) == 62
    muaro = next(n for n in view.nagari if n.code == MUARO)
    assert (muaro.used, muaro.backlog, muaro.waiting, muaro.has_operator) == (5, 4, 1, True)
    assert sum(1 for n in view.nagari if n.has_operator) == 2
    admin = Chat(svc, ADMIN)
    await admin("/statistik")
    # One look: the quota-fill chart, the funnel, the tickets.
    assert admin.keys == ["official.stats.text", "report.funnel", "handover.stats"]
    assert admin.replies[0].image and "quota-" in admin.replies[0].image
    await admin("/statistik semua")
    assert admin.keys == ["official.stats.text", "report.chart.kecamatan.caption", "report.chart.trend.caption",
                          "report.funnel", "handover.stats"]
    text = admin.replies[0].text
    assert "5 dari target kabupaten 30.000 (0%)" in text and "pekerja rentan: 48.838" in text
    assert "5 dari 6.200 tempat terisi (0,1%)" in text
    assert "• Kupitan: 0 / 0 / 0" in text and "• Sijunjung: 11 / 5 / 4" in text
    assert "• Muaro: 5/100 (5%), menunggu 4" in text and "tanpa operator: 60" in text
    assert "belum ada operator" in text
    images = [r.image for r in admin.replies if r.image]
    assert len(images) == 3
    for path in images:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 1000
    viewer = Chat(svc, VIEWER)
    await viewer("/stats trend")
    assert viewer.keys == ["official.stats.text", "report.chart.trend.caption"]  # the funnel: admins only


async def test_each_chart_renders_from_the_fixture_database(svc: Services, clock, tmp_path: Path) -> None:
    """The three charts, in both languages, as files a phone shows full width."""
    await add_officials(svc)
    await fixture(svc, clock)
    async with svc.db.session() as session:
        view = await regency_view(svc, session, None, with_trend=True)
    assert view.trend is not None and view.trend.target == 6_200 and view.trend.weeks[-1].covered == 5
    for lang in ("id", "en"):
        say = Say(svc.catalog, lang)
        paths = [
            draw_quota_fill(say, view.nagari, view.year, "01-12-2026", tmp_path / f"quota-{lang}.png"),
            draw_kecamatan(say, view.by_kecamatan, "01-12-2026", tmp_path / f"kecamatan-{lang}.png"),
            draw_trend(say, view.trend, "Kabupaten Sijunjung", "Target", view.today, tmp_path / f"trend-{lang}.png"),
        ]
        for path in paths:
            with Image.open(path) as image:
                assert image.format == "PNG" and 1000 <= image.width <= 1300 and image.height > 600
                # Not blank: a chart has many colours.
                assert len(image.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 50
        with Image.open(paths[0]) as quota_chart:
            assert quota_chart.height > 2000  # 62 bars, each readable


async def test_funnel_from_drafts_and_registrations(svc: Services, clock, tmp_path: Path) -> None:
    """Two finish, one stops at the NIK, one at the nagari, one fails eligibility, one has not
    consented yet: shares of starters reaching each step, and where drafts stand."""
    await register(Chat(svc, "tg:1"))
    await register(Chat(svc, "tg:2"), nik="1303055203850002")
    at_nik = Chat(svc, "tg:3")
    await walk_to(at_nik, "nik")
    at_nagari = Chat(svc, "tg:4")
    await walk_to(at_nagari, "nagari", nik="1303055203850003")
    not_eligible = Chat(svc, "tg:5")
    await not_eligible("halo")
    await not_eligible.tap("lang:id")
    await not_eligible.tap("consent:yes")
    await not_eligible.tap("yn:no")  # does not live in Sijunjung
    undecided = Chat(svc, "tg:6")
    await undecided("halo")
    await undecided.tap("lang:id")
    async with svc.db.session() as session:
        found: Funnel = await funnel(svc, session)
    assert found.started == 6 and found.days == 30
    reached = dict(enumerate(found.reached, start=1))
    assert reached[1] == 6 and reached[2] == 5 and reached[5] == 4 and reached[6] == 3 and reached[12] == 2
    assert found.standing == {1: 1, 5: 1, 6: 1} and found.not_eligible == 1
    admin_setup = Chat(svc, ADMIN)
    private_folders(svc, tmp_path)
    await add_officials(svc)
    await admin_setup("/statistik")
    text = next(r.text for r in admin_setup.replies if r.key == "report.funnel")
    assert "6 orang mulai" in text and "12. terkirim: 2 (33,3%)" in text and "5. NIK dan tanggal lahir: 1" in text
