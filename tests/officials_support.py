"""Helpers for the officials' tests: grant roles, insert registrations quickly, read the DB."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from handlers.roles import grant
from handlers.services import Services
from storage.links import RecruitmentLink
from storage.models import AuditEvent, Registration
from storage.officials import Invitation, Official
from storage.officials_extra import CorrectionRequest, NagariQuota
from storage.repo import Repository

MUARO = "13.03.04.2001"  # Nagari Muaro, Kec. Sijunjung (Nagari name "Muaro")
KANDANG = "13.03.04.2002"  # Nagari Kandang Baru, Kec. Sijunjung
ADMIN, OPERATOR, OTHER_OPERATOR, VIEWER, WORKER = "tg:9001", "tg:9002", "tg:9003", "tg:9004", "tg:1001"


def nik(serial: int, day: int = 12) -> str:
    """A valid NIK of Sijunjung: 1303 05 DD 03 85 SSSS (men; women would have day + 40)."""
    return f"130305{day:02d}0385{serial:04d}"


def answers(serial: int, nagari_code: str = MUARO, phone: str | None = None) -> dict[str, Any]:
    return {
        "nik": nik(serial), "name": f"Pekerja {serial}", "sex": "L", "birth_date": "1985-03-12",
        "birth_date_nik": "1985-03-12", "nagari_code": nagari_code, "jorong": "Koto Tuo",
        "phone": phone or f"+62812{serial:08d}", "category": "petani", "income": 1_000_000,
        "income_base": 1_000_000, "monthly_contribution": 16_800, "heir_name": "Ahmad",
        "heir_relation": "suami_istri", "flags": [],
    }


async def add_officials(svc: Services) -> None:
    """An admin, an operator of Muaro, an operator of Kandang Baru, a viewer."""
    now = svc.clock.now()
    async with svc.db.session() as session:
        await grant(session, ADMIN, "admin", None, "test", now)
        await grant(session, OPERATOR, "operator", MUARO, "test", now)
        await grant(session, OTHER_OPERATOR, "operator", KANDANG, "test", now)
        await grant(session, VIEWER, "viewer", None, "test", now)
        await session.commit()


async def add_registrations(svc: Services, count: int, nagari_code: str = MUARO, start: int = 1,
                            channel_prefix: str = "tg:5", status: str = "pending",
                            step: timedelta = timedelta(seconds=1)) -> list[str]:
    """Registrations created one second apart (so the queue order is known); their references."""
    references = []
    async with svc.db.session() as session:
        repo = Repository(session, svc.cipher)
        for serial in range(start, start + count):
            registration = await repo.create_registration(
                answers(serial, nagari_code), f"{channel_prefix}{serial:05d}", "id", None,
                svc.clock.now() + step * (serial - start))
            registration.status = status
            if status in ("approved", "enrolled"):
                registration.decided_at = svc.clock.now()
            references.append(registration.reference)
        await session.commit()
    return references


async def registration(svc: Services, reference: str) -> Registration:
    async with svc.db.session() as session:
        found = await Repository(session, svc.cipher).registration(reference)
        assert found is not None
        return found


async def snapshot(svc: Services) -> dict[str, Any]:
    """What an unauthorised command must not change."""
    async with svc.db.session() as session:
        statuses = (await session.execute(select(Registration.reference, Registration.status, Registration.updated_at)
                                          .order_by(Registration.reference))).all()
        counts = {}
        for table in (AuditEvent, Official, Invitation, NagariQuota, CorrectionRequest, RecruitmentLink):
            counts[table.__name__] = (await session.execute(select(func.count()).select_from(table))).scalar_one()
        return {"registrations": [tuple(r) for r in statuses], **counts}


def officials_config(svc: Services, **changes: Any) -> None:
    """Change the `officials:` configuration of these services (e.g. folders under tmp_path)."""
    svc.config = svc.config.model_copy(update={"officials": svc.config.officials.model_copy(update=changes)})


def private_folders(svc: Services, root: Any) -> None:
    officials_config(svc, export_dir=root / "exports", chart_dir=root / "charts", import_dir=root / "imports")
