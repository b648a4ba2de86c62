"""The regency's dashboard in a browser, served by the bot's own web server at /dasbor.

`setup` mounts it on the app bot/server.py builds (the webhooks' app): one process, one port,
one reverse-proxy rule. The figures are handlers/dashboard/'s; the pages, charts and downloads
are here (web.py, pages.py, svg.py, tables.py). docs/dashboard.md says what each page shows.
"""

from __future__ import annotations

from aiohttp.web import Application, Request, Response

from handlers.dashboard.access import PREFIX
from handlers.services import Services


def setup(app: Application, svc: Services, ttl: float = 60.0) -> Application:
    """Mount the dashboard on `app` (/dasbor and below); returns its sub-application. `ttl`:
    how long figures are kept (seconds)."""
    from bot.dashboard.web import build

    async def to_index(request: Request) -> Response:
        return Response(status=308, headers={"Location": f"{PREFIX}/"})

    # Before the sub-application, which would take "/dasbor" too (and find no page there).
    app.router.add_get(PREFIX, to_index)
    dashboard = build(svc, ttl)
    app.add_subapp(PREFIX, dashboard)
    return dashboard
