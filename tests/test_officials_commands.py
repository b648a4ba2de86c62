"""Transcripts of officials' commands through the router (the path every channel adapter
takes): queue, details, approve, reject, corrections, quota, history, help, invitations."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import Chat, register
from tests.officials_support import (
    ADMIN,
    KANDANG,
    OPERATOR,
    OTHER_OPERATOR,
    VIEWER,
    add_officials,
    add_registrations,
    registration,
    snapshot,
)


async def test_operator_sees_own_queue_oldest_first_with_actions(svc) -> None:
    await add_officials(svc)
    mine = await add_registrations(svc, 7)
    await add_registrations(svc, 2, KANDANG, start=100)
    operator = Chat(svc, OPERATOR)
    await operator("/antrian")
    assert operator.keys[0] == "official.queue.header"
    assert "7" in operator.replies[0].text
    items = [r for r in operator.replies if r.key == "official.queue.item"]
    assert [r.text.split("*")[1] for r in items] == mine[:5]
    assert {b.id for b in items[0].buttons} == {f"off:approve:{mine[0]}", f"off:ask:{mine[0]}", f"off:show:{mine[0]}"}
    assert all(len(b.title) <= 20 for r in operator.replies for b in r.buttons)  # WhatsApp button titles
    await operator.tap("off:queue:2")
    assert [r.text.split("*")[1] for r in operator.replies if r.key == "official.queue.item"] == mine[5:]
    admin = Chat(svc, ADMIN)
    await admin("queue")
    assert "9" in admin.replies[0].text  # all nagari


async def test_worker_registers_operator_approves_and_worker_is_told(svc) -> None:
    await add_officials(svc)
    worker = Chat(svc, "tg:1001")
    reference = await register(worker, lang="en")
    operator = Chat(svc, OPERATOR)
    await operator(f"/lihat {reference}")
    assert operator.keys == ["official.details"]
    assert "1303************" in operator.text and "1303055203850001" not in operator.text
    await operator.tap(f"off:approve:{reference}")
    assert operator.keys == ["official.approve.done"]
    assert [(o.to, o.reply.key) for o in operator.others] == [("tg:1001", "official.worker.approved")]
    assert "Rp 16.800" in operator.others[0].reply.text and "approved" in operator.others[0].reply.text
    assert (await registration(svc, reference)).status == "approved"
    await operator(f"/setujui {reference}")
    assert operator.keys == ["official.decide.already"]
    await operator(f"/riwayat {reference}")
    assert operator.keys == ["official.history"] and OPERATOR in operator.text


async def test_full_nik_only_for_operator_of_that_nagari_and_audited(svc) -> None:
    await add_officials(svc)
    [reference] = await add_registrations(svc, 1)
    operator = Chat(svc, OPERATOR)
    await operator(f"/lihat {reference} nik")
    assert "1303051203850001" in operator.text
    for who in (ADMIN, VIEWER, OTHER_OPERATOR):
        other = Chat(svc, who)
        await other(f"/show {reference} nik")
        # Another nagari's operator: the registration reads as not in their nagari.
        expected = "official.not_found" if who == OTHER_OPERATOR else "official.not_allowed"
        assert other.keys == [expected], who
    await operator(f"/riwayat {reference}")
    assert "NIK" in operator.text  # "NIK lengkap dilihat" in the history


async def test_reject_with_reason_and_fix_walks_worker_through_fields(svc) -> None:
    await add_officials(svc)
    worker = Chat(svc, "tg:1001")
    reference = await register(worker)
    operator = Chat(svc, OPERATOR)
    await operator(f"/tolak {reference}")
    assert operator.keys == ["official.usage.reject"]
    await operator(f"/perbaiki {reference} nama,hp foto KTP tidak cocok")
    assert operator.keys == ["official.fix.done"]
    to_worker = [o.reply.key for o in operator.others]
    assert to_worker[0] == "official.worker.correction" and to_worker[1] == "name.prompt"
    assert (await registration(svc, reference)).status == "correction"
    await worker("Siti Rahmawati")
    assert "phone.prompt" in worker.keys
    await worker("0812-3456-7899")
    assert worker.keys[-1] == "correct.done"
    fixed = await registration(svc, reference)
    assert (fixed.status, fixed.name, fixed.phone) == ("pending", "Siti Rahmawati", "+6281234567899")
    await operator(f"/reject {reference} bukan warga nagari")
    assert operator.keys == ["official.reject.done"]
    assert operator.others[0].reply.key == "official.worker.rejected"
    assert "bukan warga nagari" in operator.others[0].reply.text


async def test_quota_full_waiting_list_and_promotion(svc) -> None:
    await add_officials(svc)
    svc.config = svc.config.model_copy(update={"officials": svc.config.officials.model_copy(
        update={"quota": svc.config.officials.quota.model_copy(update={"default": 2})})})
    refs = await add_registrations(svc, 4)
    operator = Chat(svc, OPERATOR)
    for reference in refs[:2]:
        await operator(f"/setujui {reference}")
        assert operator.keys == ["official.approve.done"]
    await operator(f"/setujui {refs[2]}")
    assert operator.keys == ["official.approve.waiting"] and operator.others[0].reply.key == "official.worker.waiting"
    await operator(f"/setujui {refs[3]}")
    await operator("/kuota")
    assert operator.keys == ["official.quota.view"]
    assert f"{refs[2]}, {refs[3]}" in operator.text
    # Rejecting an approved one frees its slot: the first waiting is promoted and told.
    await operator(f"/tolak {refs[0]} meninggal dunia sebelum didaftarkan")
    assert [o.reply.key for o in operator.others] == ["official.worker.rejected", "official.worker.approved"]
    assert (await registration(svc, refs[2])).status == "approved"
    # An admin raises the quota: the next waiting one is promoted.
    admin = Chat(svc, ADMIN)
    await admin("/kuota Muaro 3")
    assert admin.keys == ["official.quota.view"] and (await registration(svc, refs[3])).status == "approved"
    await operator("/kuota Muaro 10")
    assert operator.keys == ["official.not_allowed"]


async def test_help_for_officials_and_worker_commands_stay_with_worker(svc) -> None:
    await add_officials(svc)
    operator = Chat(svc, OPERATOR)
    await operator("bantuan")
    assert operator.keys == ["official.help"] and "/setujui" in operator.text and "/undang" not in operator.text
    admin = Chat(svc, ADMIN)
    await admin("/help")
    assert "/invite" in admin.text or "/undang" in admin.text
    worker = Chat(svc, "tg:1001")
    await worker("bantuan")
    assert worker.keys and worker.keys[0] != "official.help"
    await worker("/setujui SJ-ABCDEF")
    assert worker.keys == ["official.not_allowed"]
    await worker("perbaiki data")
    assert "official.not_allowed" not in worker.keys


async def test_invitation_one_time_and_expiring(svc, clock) -> None:
    await add_officials(svc)
    admin = Chat(svc, ADMIN)
    await admin("/undang operator Muaro")
    assert admin.keys == ["official.invite.created"]
    code = admin.text.split("*")[1]
    newcomer = Chat(svc, "wa:6281111111111")
    await newcomer(f"/kode {code}")
    assert newcomer.keys[0] == "official.code.ok"
    await newcomer("/antrian")
    assert newcomer.keys == ["official.queue.empty"]
    again = Chat(svc, "tg:7777")
    await again(f"/kode {code}")
    assert again.keys == ["official.code.invalid"]
    await admin("/invite viewer")
    late = admin.text.split("*")[1]
    clock.advance(timedelta(hours=72, seconds=1))
    await again(f"/code {late}")
    assert again.keys == ["official.code.invalid"]
    await admin("/undang admin")
    revoked = admin.text.split("*")[1]
    await admin(f"/undang cabut {revoked}")
    assert admin.keys == ["official.invite.revoked"]
    await again(f"/kode {revoked}")
    assert again.keys == ["official.code.invalid"]
    operator = Chat(svc, OPERATOR)
    before = await snapshot(svc)
    await operator("/undang admin")
    assert operator.keys == ["official.not_allowed"] and await snapshot(svc) == before
