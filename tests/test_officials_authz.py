"""The authorisation matrix: every command x role (admin, operator, viewer) x own/other nagari,
plus someone with no role. Each cell asserts the answer's key and, for refusals, that nothing
changed in the database (registrations, audit trail, officials, invitations, quotas)."""

from __future__ import annotations

import pytest

from conversations.events import ButtonPress
from conversations.links import LinkTargets

from tests.conftest import Chat
from tests.officials_support import (
    ADMIN,
    KANDANG,
    MUARO,
    OPERATOR,
    OTHER_OPERATOR,
    VIEWER,
    add_officials,
    add_registrations,
    snapshot,
)

NOBODY = "tg:4242"
ROLES = {"admin": ADMIN, "operator_own": OPERATOR, "operator_other": OTHER_OPERATOR, "viewer": VIEWER,
         "nobody": NOBODY}
DENIED = "official.not_allowed"
# A reference the official may not act on reads as one that does not exist in their nagari.
NOT_FOUND = "official.not_found"
# command template -> expected first answer key per role ({ref} is a pending registration of Muaro).
MATRIX: dict[str, dict[str, str]] = {
    "/antrian": {"admin": "official.queue.header", "operator_own": "official.queue.header",
                 "operator_other": "official.queue.header", "viewer": "official.queue.header", "nobody": DENIED},
    "/lihat {ref}": {"admin": "official.details", "operator_own": "official.details", "operator_other": NOT_FOUND,
                     "viewer": "official.details", "nobody": DENIED},
    "/lihat {ref} nik": {"admin": DENIED, "operator_own": "official.details", "operator_other": NOT_FOUND,
                         "viewer": DENIED, "nobody": DENIED},
    "/riwayat {ref}": {"admin": "official.history", "operator_own": "official.history", "operator_other": NOT_FOUND,
                       "viewer": "official.history", "nobody": DENIED},
    "/setujui {ref}": {"admin": "official.approve.done", "operator_own": "official.approve.done",
                       "operator_other": NOT_FOUND, "viewer": DENIED, "nobody": DENIED},
    "/tolak {ref} data palsu": {"admin": "official.reject.done", "operator_own": "official.reject.done",
                                "operator_other": NOT_FOUND, "viewer": DENIED, "nobody": DENIED},
    "/perbaiki {ref} nama salah eja": {"admin": "official.fix.done", "operator_own": "official.fix.done",
                                       "operator_other": NOT_FOUND, "viewer": DENIED, "nobody": DENIED},
    "/kuota Muaro": {"admin": "official.quota.view", "operator_own": "official.quota.view",
                     "operator_other": DENIED, "viewer": "official.quota.view", "nobody": DENIED},
    "/kuota Muaro 120": {"admin": "official.quota.view", "operator_own": DENIED, "operator_other": DENIED,
                         "viewer": DENIED, "nobody": DENIED},
    "/ekspor Muaro": {"admin": "official.export.done", "operator_own": "official.export.done",
                      "operator_other": DENIED, "viewer": "official.export.done", "nobody": DENIED},
    "/ekspor audit": {"admin": "official.export.audit", "operator_own": "official.export.audit",
                      "operator_other": "official.export.audit", "viewer": "official.export.audit", "nobody": DENIED},
    "/impor": {"admin": "official.import.send_file", "operator_own": DENIED, "operator_other": DENIED,
               "viewer": DENIED, "nobody": DENIED},
    "/statistik": {"admin": "official.stats.text", "operator_own": "official.stats.text",
                   "operator_other": "official.stats.text", "viewer": "official.stats.text", "nobody": DENIED},
    "/undang viewer": {"admin": "official.invite.created", "operator_own": DENIED, "operator_other": DENIED,
                       "viewer": DENIED, "nobody": DENIED},
    "/daftarkan": {"admin": "official.assist.start", "operator_own": "official.assist.start",
                   "operator_other": "official.assist.start", "viewer": DENIED, "nobody": DENIED},
    "/kode NOPE2345": {role: "official.code.invalid" for role in ROLES},
    "/tautan Muaro agen Rina": {"admin": "link.desk.links", "operator_own": "link.desk.links", "operator_other": DENIED,
                                "viewer": DENIED, "nobody": DENIED},
}
# Answers that change nothing but write an audit entry (exports are recorded) or state.
RECORDED = {"official.export.done", "official.export.audit", "official.assist.start"}


@pytest.mark.parametrize("template", list(MATRIX))
@pytest.mark.parametrize("role", list(ROLES))
async def test_matrix(svc, tmp_path, template: str, role: str) -> None:
    svc.config = svc.config.model_copy(update={"officials": svc.config.officials.model_copy(
        update={"export_dir": tmp_path / "exports", "chart_dir": tmp_path / "charts"})})
    svc.link_targets = LinkTargets("SijunjungBot", "628116600123")
    await add_officials(svc)
    [reference] = await add_registrations(svc, 1, MUARO)
    await add_registrations(svc, 1, KANDANG, start=50)
    before = await snapshot(svc)
    chat = Chat(svc, ROLES[role])
    await chat(template.format(ref=reference))
    expected = MATRIX[template][role]
    assert chat.keys and chat.keys[0] == expected, (template, role, chat.keys)
    if role in ("operator_other", "nobody") and "{ref}" in template:
        # Never another nagari's data (the reference they typed may be echoed back).
        assert "Pekerja" not in chat.text and (reference not in chat.text or expected == NOT_FOUND)
    if role == "operator_other" and template == "/antrian":
        assert reference not in chat.text
    if expected in (DENIED, NOT_FOUND, "official.code.invalid"):
        assert chat.others == []
        if expected == "official.code.invalid":  # the wrong guess is counted (lock-out), nothing else
            before["AuditEvent"] += 1
        assert await snapshot(svc) == before, (template, role)
    if expected.startswith("official.queue") or expected in ("official.details", "official.history",
                                                             "official.quota.view") and "120" not in template:
        after = await snapshot(svc)
        assert after["registrations"] == before["registrations"]


@pytest.mark.parametrize("role", list(ROLES))
async def test_unknown_reference_answers_like_a_forbidden_one(svc, role: str) -> None:
    """Whether a reference exists is not revealed to someone who may not act on it."""
    await add_officials(svc)
    [other] = await add_registrations(svc, 1, KANDANG)
    chat = Chat(svc, ROLES[role])
    await chat("/setujui SJ-ZZZZZZ")
    unknown = chat.keys
    if role in ("operator_own", "operator_other", "admin"):
        assert unknown == [NOT_FOUND] and "SJ-ZZZZZZ" in chat.text
        if role == "operator_own":
            unknown_text = chat.text.replace("SJ-ZZZZZZ", "REF")
            await chat(f"/setujui {other}")
            assert chat.keys == unknown and chat.text.replace(other, "REF") == unknown_text
    else:
        # A role that may not decide at all: the plain "not allowed".
        assert unknown == [DENIED]


async def test_worker_tapping_an_officials_button_is_refused(svc) -> None:
    await add_officials(svc)
    [reference] = await add_registrations(svc, 1)
    before = await snapshot(svc)
    worker = Chat(svc, "tg:1001")
    await worker.send(ButtonPress(f"off:approve:{reference}"))  # a forged or forwarded button
    assert worker.keys == [DENIED] and await snapshot(svc) == before
    await worker(f"lihat {reference}")  # without "/": the worker flow answers, never data
    assert "official.details" not in worker.keys
