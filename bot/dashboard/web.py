"""The dashboard's web application: a sub-application mounted at /dasbor on the bot's server.

Every page but the login link and the stylesheet needs a session: an HttpOnly cookie (never
readable by a script), SameSite=Strict (no other site can make the browser use it: that is the
protection of the few forms against cross-site requests), Secure whenever the dashboard is
reached over https (the request itself, the reverse proxy's X-Forwarded-Proto, or DASHBOARD_URL),
limited to /dasbor. Without one, or with an official whose roles were revoked, or for a page
their roles do not show, the answer is 403 -- the same page whether or not the nagari exists.

The login link is opened in two steps: GET shows a button, and only its POST uses the link.
Chat apps fetch a link's page to draw its preview; a GET that logged in would spend the link
before the official ever tapped it.

Pages are rendered on the server (aiohttp-jinja2), with no script; tables sort by a link in
their header (or, on a phone, a small form), and every page's tables download as XLSX or CSV
(`?format=xlsx|csv`, `&table=NAME` for one table). The figures come from
handlers/dashboard/figures.py through a one-minute cache kept warm while in use (cache.py),
read through storage/dashboard.Reader, which keeps long SQLite reads off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.reports import number
from handlers.clock import LOCAL_TZ
from handlers.dashboard import access
from handlers.dashboard import figures as fig
from handlers.dashboard.access import PREFIX, SESSION_HOURS, Viewer
from handlers.services import Services
from storage import dashboard as store

import bot.dashboard.pages as pages
from bot.dashboard.cache import FigureCache
from bot.dashboard.tables import Table, to_csv, to_xlsx

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES, STATIC = HERE / "templates", HERE / "static"
COOKIE = "dasbor_sesi"
NAGARI_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
# Scripts: none. Styles and images: this server only (the charts are inline SVG markup).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def template(name: str) -> str:
    return Path(name).with_suffix(".html").name


@dataclass(frozen=True)
class NavItem:
    name: str
    path: str
    title_key: str
    regency_only: bool


NAV = (
    NavItem("overview", "/", "dashboard.page.overview", True),
    NavItem("board", "/nagari", "dashboard.page.board", False),
    NavItem("funnel", "/corong", "dashboard.page.funnel", True),
    NavItem("health", "/layanan", "dashboard.page.health", False),
    NavItem("campaigns", "/kampanye", "dashboard.page.campaigns", True),
    NavItem("sources", "/sumber", "dashboard.page.sources", False),
)


class Dashboard:
    """What the dashboard's handlers share: the services, the reader and the figures' cache."""

    def __init__(self, svc: Services, ttl: float) -> None:
        self.svc = svc
        self.reader = store.Reader(svc.db)
        self.cache = FigureCache(ttl)

    async def figures(self, key: Hashable, compute: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async def run() -> Any:
            async with self.reader.session() as session:
                return await compute(session)

        return await self.cache.get(key, run)

    def t(self, lang: str) -> Callable[..., str]:
        catalog = self.svc.catalog

        def say(key: str, **params: Any) -> str:
            return catalog.text(lang, key, **params)

        return say


DASHBOARD = web.AppKey("dashboard", Dashboard)
VIEWER = web.RequestKey("dashboard_viewer", Viewer)


def build(svc: Services, ttl: float = 60.0) -> web.Application:
    app = web.Application(middlewares=[guard])
    app[DASHBOARD] = Dashboard(svc, ttl)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                         autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                         undefined=jinja2.StrictUndefined)
    app.router.add_get("/masuk/{token}", login_form, name="login")
    app.router.add_post("/masuk/{token}", log_in, name="login_post")
    app.router.add_post("/keluar", log_out)
    app.router.add_post("/bahasa", set_language)
    app.router.add_get("/", overview)
    app.router.add_get("/nagari", board)
    app.router.add_get("/nagari/{code}", nagari)
    app.router.add_get("/corong", funnel)
    app.router.add_get("/layanan", health)
    app.router.add_get("/kampanye", campaigns)
    app.router.add_get("/sumber", sources)
    app.router.add_static("/static", STATIC, name="static")
    app.cleanup_ctx.append(_running)
    return app


async def _running(app: web.Application) -> AsyncIterator[None]:
    """While the server runs: the figures in use are counted again before they expire
    (cache.py); at its end the reader's connections close."""
    dashboard = app[DASHBOARD]
    warm = asyncio.create_task(dashboard.cache.keep_warm_loop()) if dashboard.cache.ttl > 0 else None
    yield
    if warm is not None:
        warm.cancel()
        await asyncio.gather(warm, return_exceptions=True)
    await dashboard.reader.dispose()


PUBLIC = frozenset({"login", "login_post", "static"})


@web.middleware
async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> web.StreamResponse:
    """Every page needs a live session of an official who still holds a role."""
    if request.match_info.route.name not in PUBLIC:
        viewer = await viewer_of(request)
        if viewer is None:
            response: web.StreamResponse = await message(request, 403, "dashboard.error.login_title",
                                                          "dashboard.error.login")
            return secured(response)
        request[VIEWER] = viewer
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        response = await message(request, 404, "dashboard.error.not_found_title", "dashboard.error.not_found")
    return secured(response)


def secured(response: web.StreamResponse) -> web.StreamResponse:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def is_https(request: web.Request, svc: Services) -> bool:
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https" or svc.dashboard_url.startswith("https://")


async def viewer_of(request: web.Request) -> Viewer | None:
    token = request.cookies.get(COOKIE, "")
    if not TOKEN.match(token):
        return None
    svc = request.app[DASHBOARD].svc
    async with svc.db.session() as session:
        return await access.viewer_of(session, token, svc.clock.now())


def default_lang(request: web.Request) -> str:
    viewer = request.get(VIEWER)
    return viewer.lang if viewer is not None else request.app[DASHBOARD].svc.rules.default_language


async def message(request: web.Request, status: int, title_key: str, text_key: str) -> web.Response:
    dashboard = request.app[DASHBOARD]
    t = dashboard.t(default_lang(request))
    return aiohttp_jinja2.render_template(template("message"), request, {
        "t": t, "lang": default_lang(request), "title": t(title_key), "text": t(text_key), "prefix": PREFIX,
        "signed_in": request.get(VIEWER) is not None}, status=status)


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


# -- logging in and out --------------------------------------------------------------------------
async def login_form(request: web.Request) -> web.Response:
    dashboard = request.app[DASHBOARD]
    svc = dashboard.svc
    token = request.match_info["token"]
    row = None
    if TOKEN.match(token):
        async with svc.db.session() as session:
            row = await store.usable_link(session, token, svc.clock.now())
    if row is None:
        return await message(request, 403, "dashboard.error.link_title", "dashboard.error.link")
    lang = svc.rules.default_language
    t = dashboard.t(lang)
    return aiohttp_jinja2.render_template(template("login"), request, {
        "t": t, "lang": lang, "action": access.login_path(token), "hours": SESSION_HOURS, "prefix": PREFIX})


async def log_in(request: web.Request) -> web.StreamResponse:
    svc = request.app[DASHBOARD].svc
    token = request.match_info["token"]
    session_token = None
    if TOKEN.match(token):
        async with svc.db.session() as session:
            session_token = await access.log_in(svc, session, token, svc.clock.now())
            await session.commit()
    if session_token is None:
        log.info("dashboard: a login link was refused (unknown, used or expired)")
        return await message(request, 403, "dashboard.error.link_title", "dashboard.error.link")
    response = see_other(f"{PREFIX}/")
    response.set_cookie(COOKIE, session_token, max_age=SESSION_HOURS * 3600, path=PREFIX, httponly=True,
                        samesite="Strict", secure=is_https(request, svc))
    return response


async def log_out(request: web.Request) -> web.Response:
    svc = request.app[DASHBOARD].svc
    async with svc.db.session() as session:
        await store.end_session(session, request.cookies.get(COOKIE, ""), svc.clock.now())
        await session.commit()
    request.pop(VIEWER, None)
    response = await message(request, 200, "dashboard.logged_out_title", "dashboard.logged_out")
    response.del_cookie(COOKIE, path=PREFIX)
    return response


def safe_next(value: str) -> str:
    """Back to a page of the dashboard after a form, never elsewhere."""
    if value.startswith(PREFIX + "/") and "//" not in value and "\\" not in value:
        return value
    return PREFIX + "/"


async def set_language(request: web.Request) -> web.StreamResponse:
    dashboard = request.app[DASHBOARD]
    form = await request.post()
    lang = str(form.get("lang", ""))
    if lang in dashboard.svc.rules.languages:
        async with dashboard.svc.db.session() as session:
            await store.set_session_lang(session, request.cookies.get(COOKIE, ""), lang)
            await session.commit()
    return see_other(safe_next(str(form.get("next", ""))))


# -- pages --------------------------------------------------------------------------------------
def forbidden(request: web.Request) -> Awaitable[web.Response]:
    return message(request, 403, "dashboard.error.forbidden_title", "dashboard.error.forbidden")


async def overview(request: web.Request) -> web.StreamResponse:
    """The regency's page; an operator's overview is their nagari's page (or, with several
    nagari, their board)."""
    viewer: Viewer = request[VIEWER]
    if not viewer.regency:
        codes = sorted(viewer.codes or ())
        query = f"?{request.query_string}" if request.query_string else ""
        return see_other((f"{PREFIX}/nagari/{codes[0]}" if len(codes) == 1 else f"{PREFIX}/nagari") + query)
    dashboard = request.app[DASHBOARD]
    svc = dashboard.svc
    figures = await dashboard.figures(("overview", None), lambda s: fig.overview(svc, s, None))
    return await respond(request, pages.overview(dashboard.t(viewer.lang), svc, figures, viewer.lang))


async def board(request: web.Request) -> web.StreamResponse:
    viewer: Viewer = request[VIEWER]
    dashboard = request.app[DASHBOARD]
    figures = await dashboard.figures(("board", viewer.codes), lambda s: fig.board(dashboard.svc, s, viewer.codes))
    return await respond(request, pages.board(dashboard.t(viewer.lang), figures))


async def nagari(request: web.Request) -> web.StreamResponse:
    viewer: Viewer = request[VIEWER]
    code = request.match_info["code"]
    if not viewer.may_see(code):
        return await forbidden(request)
    if not NAGARI_CODE.match(code):
        raise web.HTTPNotFound()
    dashboard = request.app[DASHBOARD]
    figures = await dashboard.figures(("nagari", code), lambda s: fig.nagari_page(dashboard.svc, s, code))
    if figures is None:
        raise web.HTTPNotFound()
    return await respond(request, pages.nagari(dashboard.t(viewer.lang), figures))


async def funnel(request: web.Request) -> web.StreamResponse:
    viewer: Viewer = request[VIEWER]
    if not viewer.regency:
        return await forbidden(request)
    dashboard = request.app[DASHBOARD]
    figures = await dashboard.figures(("funnel",), lambda s: fig.funnel_page(dashboard.svc, s))
    return await respond(request, pages.funnel(dashboard.t(viewer.lang), figures))


async def health(request: web.Request) -> web.StreamResponse:
    viewer: Viewer = request[VIEWER]
    dashboard = request.app[DASHBOARD]
    figures = await dashboard.figures(("health", viewer.codes), lambda s: fig.health(dashboard.svc, s, viewer.codes))
    return await respond(request, pages.health(dashboard.t(viewer.lang), figures))


async def campaigns(request: web.Request) -> web.StreamResponse:
    viewer: Viewer = request[VIEWER]
    if not viewer.regency:
        return await forbidden(request)
    dashboard = request.app[DASHBOARD]
    figures = await dashboard.figures(("campaigns",), lambda s: fig.campaigns(dashboard.svc, s))
    return await respond(request, pages.campaigns(dashboard.t(viewer.lang), figures))


async def sources(request: web.Request) -> web.StreamResponse:
    if not fig.has_sources():
        raise web.HTTPNotFound()
    viewer: Viewer = request[VIEWER]
    dashboard = request.app[DASHBOARD]
    figures = await dashboard.figures(("sources", viewer.codes), lambda s: fig.sources(dashboard.svc, s, viewer.codes))
    return await respond(request, pages.sources(dashboard.t(viewer.lang), figures))


# -- rendering ------------------------------------------------------------------------------------
def nav(viewer: Viewer, current: str, t: Callable[..., str]) -> list[dict[str, Any]]:
    items = []
    for item in NAV:
        if item.regency_only and not viewer.regency:
            continue
        if item.name == "sources" and not fig.has_sources():
            continue
        items.append({"href": PREFIX + item.path, "title": t(item.title_key), "current": item.name == current})
    return items


def who(viewer: Viewer, t: Callable[..., str], request: web.Request) -> str:
    """The roles, and an operator's nagari by name: never the official's id (a phone number)."""
    roles = ", ".join(t(f"dashboard.role.{role}") for role in viewer.roles)
    if viewer.codes is None:
        return roles
    wilayah = request.app[DASHBOARD].svc.wilayah
    names = [n.name if (n := wilayah.by_code(code)) else code for code in sorted(viewer.codes)]
    return f"{roles} · {', '.join(names)}"


async def respond(request: web.Request, page: pages.Page) -> web.StreamResponse:
    viewer: Viewer = request[VIEWER]
    dashboard = request.app[DASHBOARD]
    t = dashboard.t(viewer.lang)
    sort, direction = request.query.get("sort"), request.query.get("dir", "asc")
    for table in page.tables:
        if table.sortable:
            table.sort(sort, direction == "desc")
    wanted = request.query.get("format")
    if wanted in FORMATS:
        return download(request, page, wanted, dashboard.svc)
    kept = {k: v for k, v in request.query.items() if k in ("sort", "dir")}
    now = dashboard.svc.clock.now().astimezone(LOCAL_TZ)
    return aiohttp_jinja2.render_template(template("page"), request, {
        "t": t, "lang": viewer.lang, "page": page, "nav": nav(viewer, page.name, t), "who": who(viewer, t, request),
        "prefix": PREFIX, "path": request.path, "sort": sort, "dir": direction, "number": number,
        "languages": dashboard.svc.rules.languages,
        "downloads": {fmt: "?" + urlencode({**kept, "format": fmt}) for fmt in FORMATS},
        "generated": now.strftime("%d-%m-%Y %H:%M"), "regency": dashboard.svc.config.regency.name})


def download(request: web.Request, page: pages.Page, wanted: str, svc: Services) -> web.Response:
    tables: list[Table] = page.tables
    only = request.query.get("table")
    if only:
        tables = [table for table in tables if table.name == only]
        if not tables:
            raise web.HTTPNotFound()
    body = to_csv(tables) if wanted == "csv" else to_xlsx(tables)
    stamp = svc.clock.now().astimezone(LOCAL_TZ).strftime("%Y%m%d-%H%M")
    name = "-".join(["dasbor", page.name, *([only] if only else []), stamp])
    return web.Response(body=body, headers={
        "Content-Type": FORMATS[wanted],
        "Content-Disposition": f'attachment; filename="{Path(name).with_suffix("." + wanted).name}"'})
