"""Use-case: links that bring people in, and which ones worked.

- `link_event`: a message whose link code verifies (Telegram's `/start <code>`, or the code in the
  text a WhatsApp link filled in) becomes the conversation's `LinkOpened`; anything else, a
  made-up or changed code included, stays the message it was.
- `make_link`: the link of a nagari (and jorong, and agent): its row, made on first request
  (storage/links.py), its code and the Telegram and WhatsApp links that carry it.
- `poster_of`: the printable poster of a link (handlers/posters.py), in the language of the
  people it is for.
- `source_view`: how many registrations each link brought, for /statistik; `link_rows` for the
  export's `source` column.

The code's format and signature are conversations/links.py; the signing key is the services'
(`svc.cipher.link_key`, derived from the master key for this purpose only).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.events import Event, LinkOpened, Text
from conversations.links import Links, SourceLine, SourceView, find_code, links_for, make_code, read_code, slug
from conversations.links import digits_of, source_of
from conversations.validators import format_phone
from conversations.wilayah import Nagari
from handlers.clock import LOCAL_TZ
from handlers.posters import Poster, PosterText, draw_poster
from handlers.quota import COUNTED
from handlers.services import Services
from handlers.turn import Turn
from storage.crypto import who as pseudonym
from storage.links import RecruitmentLink, link_for, links_by_id
from storage.models import Registration

log = logging.getLogger(__name__)


# -- a link opened ---------------------------------------------------------------------------------
async def link_event(turn: Turn) -> Event:
    """The turn's event as the registration conversation takes it: `LinkOpened` for a code of
    ours whose row exists, else the event unchanged (a Telegram "/start <anything else>" is then
    a plain "/start"; a WhatsApp text with a made-up code an ordinary message)."""
    event = turn.event
    if not isinstance(event, Text):
        return event
    typed = event.link or find_code(event.text)
    if not typed:
        return event
    code = read_code(turn.svc.cipher.link_key, typed)
    if code is None:
        log.info("%s: a link code that does not verify, taken as an ordinary message", pseudonym(turn.who))
        return event
    row = await turn.session.get(RecruitmentLink, code.link_id)
    if row is None or row.nagari_code != code.nagari_code or turn.svc.wilayah.by_code(row.nagari_code) is None:
        log.info("%s: a link code of no link here, taken as an ordinary message", pseudonym(turn.who))
        return event
    return LinkOpened(code.link_id, row.nagari_code)


async def link_of_submission(session: AsyncSession, link: dict[str, object] | None) -> int | None:
    """The link row a submitted draft came through (State.link), if it still exists."""
    link_id = link.get("id") if link else None
    if not isinstance(link_id, int):
        return None
    return link_id if await session.get(RecruitmentLink, link_id) is not None else None


# -- making links and posters ------------------------------------------------------------------------
@dataclass(frozen=True)
class MadeLink:
    row: RecruitmentLink
    nagari: Nagari
    links: Links


async def make_link(svc: Services, session: AsyncSession, nagari_code: str, jorong: str | None,
                    agent: str | None, actor: str, now: datetime) -> MadeLink:
    """The link (made on first request: the same names give the same code) and its URLs. The text
    WhatsApp fills in is in the default language: links are for the nagari's people."""
    nagari = svc.wilayah.by_code(nagari_code)
    if nagari is None:
        raise ValueError(f"no nagari {nagari_code}")
    row = await link_for(session, nagari_code, jorong, agent, actor, now)
    if row.id is None:  # flushed by link_for: never None once stored
        raise RuntimeError("a link row without an id")
    code = make_code(svc.cipher.link_key, nagari_code, row.id)
    prefilled = svc.catalog.text(svc.rules.default_language, "link.whatsapp_text", code=code)
    return MadeLink(row, nagari, links_for(svc.link_targets, code, prefilled))


def poster_text(svc: Services, made: MadeLink, lang: str | None = None) -> PosterText:
    lang = lang or svc.rules.default_language

    def t(key: str, **params: object) -> str:
        return svc.catalog.text(lang, key, **params)

    row, number = made.row, svc.link_targets.whatsapp_number
    extra = [t("link.poster.jorong", jorong=row.jorong)] if row.jorong else []
    if row.agent:
        extra.append(t("link.poster.agent", agent=row.agent))
    return PosterText(
        title=t("link.poster.title"), tagline=t("link.poster.tagline"),
        nagari=t("link.poster.nagari", nagari=made.nagari.name),
        place=t("link.poster.place", kecamatan=made.nagari.kecamatan.name, regency=svc.config.regency.name),
        offer=t("link.poster.offer"), who=t("link.poster.who"),
        scan_whatsapp=t("link.poster.scan_whatsapp"), scan_telegram=t("link.poster.scan_telegram"),
        extra=" · ".join(extra),
        number=t("link.poster.number", phone=format_phone("+" + number), code=made.links.code) if number else "")


def poster_name(made: MadeLink) -> str:
    """poster-1303042001-muaro[-jorong-koto-tuo][-agen-rina]: sorted by nagari code in a folder."""
    parts = ["poster", digits_of(made.row.nagari_code), slug(made.nagari.name)]
    if made.row.jorong:
        parts += ["jorong", slug(made.row.jorong)]
    if made.row.agent:
        parts += ["agen", slug(made.row.agent)]
    return "-".join(parts)


def poster_of(svc: Services, made: MadeLink, folder: Path, unique: bool = False, lang: str | None = None) -> Poster:
    """The poster's PDF and PNG in `folder`; `unique`: a time and a random part in the name (chat
    files under chart_dir, deleted after officials.file_retention_hours)."""
    name = poster_name(made)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if unique:
        stamp = svc.clock.now().astimezone(LOCAL_TZ).strftime("%Y%m%d-%H%M%S")
        name = f"{name}-{stamp}-{secrets.token_hex(4)}"
    return draw_poster(poster_text(svc, made, lang), made.links.whatsapp, made.links.telegram, folder / name)


# -- which links worked ---------------------------------------------------------------------------
async def source_view(session: AsyncSession, svc: Services, codes: set[str] | None) -> SourceView:
    """Registrations (every status) and the approved or enrolled among them, per link, of the
    registrations in `codes` (None: every nagari): one GROUP BY over the registrations, then the
    few link rows it names."""
    covered = func.sum(case((Registration.status.in_(COUNTED), 1), else_=0))
    query = select(Registration.link_id, func.count(), covered).group_by(Registration.link_id)
    if codes is not None:
        query = query.where(Registration.nagari_code.in_(sorted(codes)))
    counts = (await session.execute(query)).all()
    rows = await links_by_id(session, {link_id for link_id, _, _ in counts if link_id is not None})
    lines = []
    for link_id, total, approved in counts:
        row = rows.get(link_id) if link_id is not None else None
        nagari = svc.wilayah.by_code(row.nagari_code) if row is not None else None
        lines.append(SourceLine(
            kind=source_of(row is not None, row.jorong if row else None, row.agent if row else None),
            nagari=nagari.name if nagari else (row.nagari_code if row else None),
            jorong=row.jorong if row else None, agent=row.agent if row else None,
            total=int(total), covered=int(approved or 0)))
    return SourceView(tuple(lines))
