"""Use-case: export registrations for the operator on the server (full NIK: an operator's tool).

CSV cells that a spreadsheet would turn into numbers (NIK: Excel keeps 15 digits; phone: it
drops the "+") are written as text formulas ="...", which Excel and LibreOffice show verbatim.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from typing import IO, Any

from sqlalchemy import select

from handlers.clock import LOCAL_TZ
from handlers.services import Services
from storage.models import Nagari, Registration

COLUMNS = (
    "reference", "status", "nik", "name", "sex", "birth_date", "nagari_code", "nagari", "kecamatan",
    "jorong", "phone", "category", "income_base", "monthly_contribution", "heir_name", "heir_relation",
    "channel_user", "flags", "created_at",
)
TEXT_COLUMNS = {"nik", "phone"}
# Village schemes buy work-accident and death cover (DOMAIN.md); JHT is for self-paying workers.
PROGRAMMES = "JKK+JKM"


def as_text_cell(value: str) -> str:
    return f'="{value}"'


def row_of(svc: Services, registration: Registration, nagari: Nagari) -> dict[str, Any]:
    """Every exportable field (conversations.officials.EXPORT_FIELDS) of one registration."""
    category = svc.rules.category(registration.category)
    work = category.title("id") if category else registration.category
    if registration.category == "lainnya" and registration.category_other:
        work = f"{work}: {registration.category_other}"
    return {
        "reference": registration.reference,
        "status": registration.status,
        "nik": svc.cipher.decrypt(registration.nik_enc),
        "kk": "",  # the family-card number is not collected by the registration form
        "name": registration.name,
        "sex": registration.sex,
        "birth_date": registration.birth_date.isoformat(),
        "nagari_code": registration.nagari_code,
        "nagari": nagari.name,
        "kecamatan": nagari.kecamatan,
        "jorong": registration.jorong,
        "address": f"Jorong {registration.jorong}, Nagari {nagari.name}, Kec. {nagari.kecamatan}, "
                   f"{svc.config.regency.name}",
        "phone": registration.phone,
        "category": work,
        "income_base": registration.income_base,
        "monthly_contribution": registration.monthly_contribution,
        "programmes": PROGRAMMES,
        "heir_name": registration.heir_name or "",
        "heir_relation": registration.heir_relation or "",
        "funding_source": registration.funding_source,
        "decided_at": registration.decided_at.astimezone(LOCAL_TZ).date().isoformat() if registration.decided_at else "",
        "kpj": registration.kpj or "",
        "coverage_start": registration.coverage_start.isoformat() if registration.coverage_start else "",
        "created_at": registration.created_at.astimezone(LOCAL_TZ).isoformat(timespec="seconds"),
    }


async def registration_rows(svc: Services, nagari_code: str | None = None) -> AsyncIterator[dict[str, Any]]:
    query = select(Registration, Nagari).join(Nagari, Nagari.code == Registration.nagari_code).order_by(Registration.id)
    if nagari_code:
        query = query.where(Registration.nagari_code == nagari_code)
    async with svc.db.session() as session:
        result = await session.stream(query.execution_options(yield_per=1000))
        async for registration, nagari in result:
            # The same field values as the officials' exports, plus who registered and the flags.
            row = row_of(svc, registration, nagari)
            # The server-side export keeps category ids (stable for scripts), not display titles.
            row["category"] = registration.category
            if registration.category == "lainnya" and registration.category_other:
                row["category"] = f"lainnya: {registration.category_other}"
            row["channel_user"] = registration.channel_user
            row["flags"] = ";".join(registration.flags or [])
            yield {column: row[column] for column in COLUMNS}


async def export_csv(svc: Services, out: IO[str], nagari_code: str | None = None) -> int:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    async for row in registration_rows(svc, nagari_code):
        for column in TEXT_COLUMNS:
            row[column] = as_text_cell(str(row[column]))
        writer.writerow(row)
        count += 1
    return count
