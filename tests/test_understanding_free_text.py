"""A NIK-shaped number in an official's reason or an admin's broadcast text is refused with an
explanation and never stored or sent on (the registration's own free text: test_understanding)."""

from __future__ import annotations

from sqlalchemy import update

from handlers.services import Services
from storage.models import Registration
from tests.conftest import GOOD_NIK, Chat, register
from tests.officials_support import OPERATOR, add_officials, registration
from tests.test_campaigns_sim import ADMIN, make_admin


async def test_a_reason_with_a_nik_is_refused(svc: Services) -> None:
    await add_officials(svc)
    worker = Chat(svc, "tg:1001")
    reference = await register(worker)
    operator = Chat(svc, OPERATOR)
    await operator(f"/tolak {reference} NIK {GOOD_NIK} sudah terdaftar di nagari lain")
    assert operator.keys == ["official.reason.nik"] and operator.others == []
    assert GOOD_NIK not in operator.text
    row = await registration(svc, reference)
    assert (row.status, row.decision_reason) == ("pending", None)
    await operator(f"/perbaiki {reference} nik nomor 1303 0552 0385 0001 salah ketik")
    assert operator.keys == ["official.reason.nik"] and operator.others == []
    assert (await registration(svc, reference)).status == "pending"
    await operator(f"/tolak {reference} sudah terdaftar di nagari lain")
    assert operator.keys == ["official.reject.done"]


async def test_a_broadcast_with_a_nik_is_refused(svc: Services) -> None:
    await make_admin(svc)
    admin = Chat(svc, ADMIN)
    await admin("/siaran")
    await admin(f"Selamat kepada Bapak Ahmad (NIK {GOOD_NIK}) yang sudah terdaftar")
    assert admin.keys == ["campaign.compose.nik_in_text", "campaign.compose.text"]
    assert GOOD_NIK not in admin.text
    await admin("Kerja keras bebas cemas: daftar BPJS Ketenagakerjaan di nagari Anda")
    assert admin.keys == ["campaign.compose.text_en"]
    await admin("Work hard, worry free: 1303-0552-0385-0001")
    assert admin.keys == ["campaign.compose.nik_in_text", "campaign.compose.text_en"]


async def test_the_composer_reads_typed_choices_like_every_step(svc: Services) -> None:
    """The admin may type a button's words; the same reader as the registration's decides."""
    await make_admin(svc)
    # Someone in Kecamatan Sijunjung (Muaro) whose registration was rejected: the KKBC invitation
    # is for them (not for people covered or on the way), an audience of 1.
    reference = await register(Chat(svc, "tg:5005"))
    async with svc.db.session() as session:
        await session.execute(update(Registration).where(Registration.reference == reference)
                              .values(status="rejected"))
        await session.commit()
    admin = Chat(svc, ADMIN)
    await admin("/siaran")
    await admin.tap("camp:kkbc")
    assert admin.keys == ["campaign.compose.audience"]
    await admin("kecamatan")
    assert admin.keys == ["campaign.compose.pick"]
    await admin("sijunjung")
    assert admin.keys == ["campaign.compose.audience"] and "Sijunjung" in admin.text
    await admin("hitung penerima")
    assert admin.keys == ["campaign.compose.preview"]
    await admin("kirim sekarang")
    assert admin.keys == ["campaign.compose.confirm"]
    await admin("zzz qqq")
    assert admin.keys == ["campaign.compose.not_understood", "campaign.compose.confirm"]
