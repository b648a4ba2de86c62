"""After an accident or a death, the family gets what the programme promises.

Through the turn (handlers/router.dispatch), on SQLite and PostgreSQL where storage matters:
- an heir writing in Minang finds the worker by NIK (shown masked, confirmed), says what
  happened, and gets the checklist for the case (the Solok branch, "menurut ketentuan", the
  documents, who the heir is decided by); the nagari's operator gets the report at once with
  what a report to BPJS needs, the NIK masked; the case is stored with its text encrypted;
- a worker's own accident needs no NIK; the deadline is the event's day + 2; the desk shows it
  first; `/kasus` lists and changes it, the family is told each change in their language; other
  nagari see nothing, viewers read only;
- an operator reports for a family; reminders (report, documents, school grant, claim limit,
  abandoned conversations) are due by the clock and sent once;
- `/statistik` and `/ekspor klaim` count cases, amounts, days and uses (counts only);
- no input crashes the helper; the registration form is not taken over; a NIK is never shown.
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from conversations.claims import DIALOG_PREFIX
from conversations.events import ButtonPress
from handlers.claims_cases import claims_due
from handlers.services import Services
from storage.claims import ClaimCase
from storage.models import AuditEvent, Conversation, Registration
from storage.outbox import OutboxMessage
from tests.conftest import GOOD_NIK, START, Chat, register
from tests.officials_support import ADMIN, KANDANG, OPERATOR, OTHER_OPERATOR, VIEWER, add_officials, nik, private_folders
from tests.test_flow_registration import walk_to

HEIR = "wa:6281299990000"
MASKED = GOOD_NIK[:4] + "*" * 12
KPJ = "26001234567"


async def set_row(svc: Services, reference: str, **values: Any) -> None:
    async with svc.db.session() as session:
        await session.execute(update(Registration).where(Registration.reference == reference).values(**values))
        await session.commit()


async def enrolled(svc: Services, user: str = "tg:4401", lang: str = "id", number: str = GOOD_NIK) -> str:
    """A worker of Nagari Muaro, registered in `lang`, approved and enrolled with a KPJ."""
    worker = Chat(svc, user)
    reference = await register(worker, nik=number, lang=lang)
    assert reference
    await Chat(svc, OPERATOR)(f"/setujui {reference}")
    await set_row(svc, reference, status="enrolled", kpj=KPJ, coverage_start=date(2026, 12, 1))
    return reference


async def only_case(svc: Services) -> ClaimCase:
    async with svc.db.session() as session:
        (case,) = (await session.execute(select(ClaimCase))).scalars().all()
    return case


def everything(chat: Chat) -> str:
    return json.dumps([r.text for r in chat.replies] + [o.reply.text for o in chat.others], ensure_ascii=False)


async def press(chat: Chat, button: str) -> None:
    """A tap on a button of an earlier message (Chat.tap only knows the last replies)."""
    await chat.send(ButtonPress(button))


async def test_an_heir_writing_in_minang_reports_a_death(any_svc: Services) -> None:
    svc = any_svc
    await add_officials(svc)
    reference = await enrolled(svc)
    heir = Chat(svc, HEIR)

    await heir("laki ambo maningga")
    assert heir.keys == ["claims.start", "claims.ask.identify"]
    await heir(GOOD_NIK)
    assert heir.keys == ["claims.ask.confirm"]
    assert MASKED in heir.text and "Muaro" in heir.text and GOOD_NIK not in heir.text
    await heir.tap("cl:yes")
    # "maningga" says a death, not its cause: the two deaths are offered.
    assert heir.keys == ["claims.ask.kind"] and heir.buttons() == ["cl:kind:death_illness", "cl:kind:death_accident"]
    await heir.tap("cl:kind:death_illness")
    assert heir.keys == ["claims.ask.date_death"]
    await heir("kemarin")
    # WhatsApp gives the heir's number; only their name is asked.
    assert heir.keys == ["claims.ask.name"]
    await heir("Rosna")
    assert heir.keys == ["claims.opened", "claims.checklist.death_illness", "claims.never"]
    for shown in ("K1", "BPJS Ketenagakerjaan Kantor Cabang Solok", "Rp 42.000.000", "Rp 20.000.000",
                  "Rp 12.000.000", "Rp 10.000.000", "menurut ketentuan", "Lapak Asik", "bukan lewat aplikasi JMO",
                  "surat keterangan ahli waris", "175", "tidak menetapkan ahli waris"):
        assert shown in heir.text, shown

    # The nagari's operator hears at once, with what a report to BPJS needs.
    (report,) = [o for o in heir.others if o.to == OPERATOR]
    assert report.reply.key == "claims.official.new"
    for shown in ("K1", "Siti Rahmah", MASKED, KPJ, reference, "27-11-2026", "Rosna", "+62 812-9999-0000"):
        assert shown in report.reply.text, shown
    assert report.reply.buttons[0].id == "off:case:1"
    assert GOOD_NIK not in everything(heir)

    case = await only_case(svc)
    assert (case.kind, case.status, case.family, case.event_date) == ("death_illness", "new", HEIR, date(2026, 11, 27))
    assert case.notifier_name_enc and "Rosna" not in case.notifier_name_enc
    assert svc.cipher.decrypt(case.notifier_name_enc) == "Rosna"
    async with svc.db.session() as session:
        assert await session.get(Conversation, DIALOG_PREFIX + HEIR) is None
        actions = (await session.execute(select(AuditEvent.action, AuditEvent.reference)
                                         .where(AuditEvent.action == "claim_opened"))).all()
    assert actions == [("claim_opened", reference)]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_workers_own_accident_the_desk_and_the_case(svc: Services, lang: str, tmp_path: Path) -> None:
    await add_officials(svc)
    private_folders(svc, tmp_path)
    reference = await enrolled(svc, lang=lang)
    worker = Chat(svc, "tg:4401")
    words = {"id": ("saya jatuh dari pohon waktu kerja", "hari ini", "kebun karet Koto Tuo",
                    "memanjat batang karet, jatuh, kaki patah; dilihat Pak Udin"),
             "en": ("I fell from a tree at work", "today", "rubber garden in Koto Tuo",
                    "climbing a rubber tree, fell, broke a leg; Pak Udin saw it")}[lang]

    await worker(words[0])
    # Their own registration: no NIK asked, no "who".
    assert worker.keys == ["claims.start", "claims.ask.date"]
    for text in words[1:]:
        await worker(text)
    assert worker.keys == ["claims.opened", "claims.checklist.work_accident", "claims.never"]
    for shown in ("30-11-2026", "RSUD Sawahlunto", "2 x 24", "Rp 70.000.000", "175"):
        assert shown in worker.text, shown
    assert ("menurut ketentuan" if lang == "id" else "What the rules provide") in worker.text

    # The desk shows the accident first, with its button first.
    operator = Chat(svc, OPERATOR)
    await operator("halo")
    assert operator.keys == ["official.desk.summary"]
    assert operator.buttons()[0] == "off:case"
    first = operator.text.splitlines()[1]
    assert "K1" in first and "30-11-2026" in first
    await operator("/kasus")
    assert operator.keys == ["claims.official.list"] and "K1" in operator.text and "30-11-2026" in operator.text

    # Other nagari see nothing; viewers read but do not change.
    other = Chat(svc, OTHER_OPERATOR)
    for typed in ("/kasus K1", "/kasus K1 dibayar 5000000"):
        await other(typed)
        assert other.keys == ["claims.official.not_found"]
    await other("/kasus")
    assert other.keys == ["claims.official.list_empty"]
    viewer = Chat(svc, VIEWER)
    await viewer("/kasus K1")
    assert viewer.keys == ["claims.official.details"] and MASKED in viewer.text and viewer.buttons() == []
    await viewer("/kasus K1 lengkap")
    assert viewer.keys == ["official.not_allowed"]

    # Each change reaches the family, in their language.
    await operator("/kasus K1")
    assert operator.buttons() == ["off:case:1:reported"]
    await operator.tap("off:case:1:reported")
    assert operator.keys == ["claims.official.changed"]
    (notice,) = operator.others
    assert (notice.to, notice.reply.key) == ("tg:4401", "claims.family.reported")
    assert notice.reply.text == svc.catalog.text(lang, "claims.family.reported", code="K1", nagari="Muaro")
    await operator("/kasus K1 dibayar")
    assert operator.keys == ["claims.official.amount_needed"]
    await operator("/kasus K1 ditolak")
    assert operator.keys == ["claims.official.reason_needed"]
    await operator("/kasus K1 dibayar 2,5 juta")
    (paid,) = operator.others
    assert paid.reply.key == "claims.family.paid" and "Rp 2.500.000" in paid.reply.text
    assert [b.id for b in paid.reply.buttons][:2] == ["cl:use:1:school", "cl:use:1:business"]

    # How the payout was used: the family's answer, once; nobody else's.
    await Chat(svc, "tg:4999").send(ButtonPress("cl:use:1:debt"))
    await press(worker, "cl:use:1:business")
    assert worker.keys == ["claims.use.thanks"]
    await press(worker, "cl:use:1:school")
    assert (await only_case(svc)).usage == "business"

    # The regency's view: counts, amounts, days, uses.
    admin = Chat(svc, ADMIN)
    await admin("/statistik")
    (section,) = [r for r in admin.replies if r.key == "claims.stats"]
    for shown in ("Rp 2.500.000", "Muaro: 1, 0, 1", "0 hari", "modal usaha 1"):
        assert shown in section.text, shown
    await admin("/ekspor klaim csv")
    assert admin.keys == ["claims.export.done"]
    with open(admin.last.document or "", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["KODE", "REFERENSI", "NAGARI"] and rows[1][:3] == ["K1", reference, "Muaro"]
    assert rows[1][-2:] == ["2500000", "modal usaha"]
    assert GOOD_NIK not in json.dumps(rows) and "Siti" not in json.dumps(rows)
    await admin("/ekspor klaim")
    assert admin.keys == ["claims.export.done"] and (admin.last.document or "").endswith(".xlsx")


async def test_an_operator_reports_for_a_family(svc: Services) -> None:
    await add_officials(svc)
    await enrolled(svc)
    stranger = Chat(svc, "tg:4402")
    await register(stranger, nik=nik(7))
    async with svc.db.session() as session:
        await session.execute(update(Registration).where(Registration.channel_user == "tg:4402")
                              .values(nagari_code=KANDANG, status="enrolled"))
        await session.commit()
    operator = Chat(svc, OPERATOR)
    await operator("suami bu Siti meninggal karena kecelakaan di ladang")
    assert operator.keys == ["claims.start", "claims.ask.identify_official"]
    # A worker of another nagari is not found by this operator.
    await operator(nik(7))
    assert operator.keys == ["claims.not_found", "claims.ask.identify_official"]
    await operator(GOOD_NIK)
    await operator("ya")
    assert operator.keys == ["claims.ask.date_death"]
    for text in ("25-11-2026", "ladang Koto Tuo", "tertimpa pohon waktu menebang", "Ahmad Yani"):
        await operator(text)
    assert operator.keys == ["claims.ask.phone_official"]
    await operator("0812 7777 6666")
    assert operator.keys[:2] == ["claims.opened", "claims.checklist.death_accident"]
    case = await only_case(svc)
    # The family hears through the worker's own chat; the deadline had passed: no reminder of it.
    assert case.by_official and case.family == "tg:4401" and case.notifier == OPERATOR
    assert svc.cipher.decrypt(case.notifier_phone_enc or "") == "+6281277776666"
    # An operator asking about cases gets the list.
    await operator("ada laporan kecelakaan?")
    assert operator.keys == ["claims.official.list"] and "K1" in operator.text
    # A viewer's words are not a report.
    viewer = Chat(svc, VIEWER)
    await viewer("suami saya meninggal")
    assert not [k for k in viewer.keys if k.startswith("claims.")]


async def outbox(svc: Services) -> list[tuple[str, str]]:
    """The reminders queued (each with its dedupe key "claim:<case>:<rule>:<person>")."""
    async with svc.db.session() as session:
        return [(to, key) for to, key in (await session.execute(
            select(OutboxMessage.channel_user, OutboxMessage.key).where(OutboxMessage.dedupe_key.startswith("claim:"))
            .order_by(OutboxMessage.id))).all()]


async def test_reminders_come_when_due_and_once(svc: Services) -> None:
    await add_officials(svc)
    await enrolled(svc)
    worker = Chat(svc, "tg:4401")
    for text in ("saya kecelakaan di kebun", "hari ini", "kebun", "tangan kena parang"):
        await worker(text)
    assert worker.keys[0] == "claims.opened"
    # Someone starts and walks away.
    walker = Chat(svc, "tg:4700")
    await walker("suami saya meninggal")
    clock = svc.clock

    await claims_due(svc, clock.now())
    assert await outbox(svc) == []
    clock.set(START + timedelta(hours=25))  # type: ignore[attr-defined]
    await claims_due(svc, clock.now())
    await claims_due(svc, clock.now())
    assert await outbox(svc) == [("tg:4401", "claims.family.report_due"), (OPERATOR, "claims.official.report_due")]
    clock.set(START + timedelta(hours=49))  # type: ignore[attr-defined]
    await claims_due(svc, clock.now())
    async with svc.db.session() as session:
        assert await session.get(Conversation, DIALOG_PREFIX + "tg:4700") is None
        assert await session.get(Conversation, DIALOG_PREFIX + "tg:4401") is None
    await Chat(svc, OPERATOR)("/kasus K1 dilaporkan")
    clock.set(START + timedelta(days=6))  # type: ignore[attr-defined]
    await claims_due(svc, clock.now())
    await claims_due(svc, clock.now())
    assert (await outbox(svc))[2:] == [("tg:4401", "claims.family.documents_due"),
                                       (OPERATOR, "claims.official.documents_due")]

    # The claim right about to lapse, and a school grant's yearly renewal.
    today = clock.now().date()
    async with svc.db.session() as session:
        case = (await session.execute(select(ClaimCase))).scalar_one()
        await session.execute(update(ClaimCase).values(event_date=today.replace(year=today.year - 5) + timedelta(days=30)))
        session.add(ClaimCase(registration_id=case.registration_id, reference=case.reference, nagari_code=case.nagari_code,
                              kind="scholarship", status="paid", notifier="tg:4401", family="tg:4401", lang="id",
                              opened_at=clock.now() - timedelta(days=400), updated_at=clock.now() - timedelta(days=366),
                              paid_at=clock.now() - timedelta(days=366), amount_paid=1_500_000))
        await session.commit()
    before = len(await outbox(svc))
    await claims_due(svc, clock.now())
    await claims_due(svc, clock.now())
    assert sorted((await outbox(svc))[before:]) == sorted([
        ("tg:4401", "claims.family.limit"), (OPERATOR, "claims.official.limit"),
        ("tg:4401", "claims.family.scholarship_renewal")])


async def test_no_input_crashes_it_and_the_form_is_not_taken_over(svc: Services) -> None:
    await add_officials(svc)
    reference = await enrolled(svc)
    heir = Chat(svc, HEIR)
    await heir("suami saya meninggal")
    await heir.media("photo")
    assert heir.keys == ["claims.no_photos", "claims.ask.identify"]
    for _ in range(2):
        await heir("entah")
        assert heir.keys == ["claims.identify.invalid", "claims.ask.identify"]
    await heir("entah")
    assert heir.keys == ["claims.identify.invalid", "claims.stuck", "claims.ask.identify"]
    assert "tk:ask" in heir.buttons()
    await heir("x" * 1200)
    assert heir.keys == ["input.too_long", "claims.ask.identify"]
    for serial in (91, 92):
        await heir(nik(serial))
        assert heir.keys == ["claims.not_found", "claims.ask.identify"]
    await heir(nik(93))
    assert heir.keys == ["claims.not_found_limit"]

    # A chronology with a NIK in it is refused; "batal" ends it.
    worker = Chat(svc, "tg:4401")
    for text in ("saya kecelakaan di kebun", "kemarin", "kebun"):
        await worker(text)
    await worker(f"jatuh, NIK saya {GOOD_NIK}")
    assert worker.keys == ["claims.no_nik", "claims.ask.story"]
    await worker("batal")
    assert worker.keys == ["claims.cancelled"]
    await worker("halo")
    assert worker.keys == ["aftercare.enrolled"]

    # A registration not yet decided is not covered.
    pending = Chat(svc, "tg:4403")
    other = await register(pending, nik=nik(5))
    await heir("istri saya meninggal")
    await heir(other or "")
    assert heir.keys == ["claims.not_covered"]

    # In the middle of the form, words are answers; only "klaim" starts the helper.
    newcomer = Chat(svc, "tg:4404")
    await walk_to(newcomer, "name")
    await newcomer("saya kecelakaan")
    assert not [k for k in newcomer.keys if k.startswith("claims.")]
    await newcomer("klaim")
    assert newcomer.keys[0] == "claims.start"
    # Ending it takes the newcomer back to the question the form had reached.
    await newcomer("batal")
    assert newcomer.keys == ["claims.cancelled", "nik.prompt"]  # "saya kecelakaan" was taken as a name
    # Another of the worker's commands ends the claim conversation and is answered as always.
    await worker("klaim")
    await worker("status")
    assert worker.keys == ["status.text"]
    await worker("halo")
    assert worker.keys == ["aftercare.enrolled"]
    assert reference and GOOD_NIK not in everything(heir)


async def test_deleting_ones_data_blanks_the_cases_one_reported(svc: Services) -> None:
    await add_officials(svc)
    await enrolled(svc)
    # In the middle of a claim conversation, "hapus data" and its "ya" are the person's right.
    walker = Chat(svc, "tg:4700")
    await walker("suami saya meninggal")
    await walker("hapus data")
    await walker("ya")
    assert walker.keys == ["delete.done"]
    async with svc.db.session() as session:
        assert await session.get(Conversation, DIALOG_PREFIX + "tg:4700") is None
    heir = Chat(svc, HEIR)
    for text in ("istri saya meninggal", GOOD_NIK, "ya"):
        await heir(text)
    await heir.tap("cl:kind:death_illness")
    for text in ("kemarin", "Rosna"):
        await heir(text)
    assert heir.keys[0] == "claims.opened"
    await heir("hapus data")
    await heir("ya")
    case = await only_case(svc)
    assert (case.notifier_name_enc, case.notifier_phone_enc, case.family, case.notifier) == (None, None, None, "erased")
    assert (case.kind, case.status) == ("death_illness", "new")
