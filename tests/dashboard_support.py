"""Helpers for the dashboard's tests: the app on its own, a login through a one-time link, and
the page read back as figures and tables (the `data-figure` and `data-value` the template
writes), with no browser."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlparse

from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.dashboard import setup
from handlers.dashboard.access import login_link
from handlers.services import Services


def dashboard_app(svc: Services) -> web.Application:
    """The dashboard alone, figures never cached (tests change the data between requests)."""
    app = web.Application()
    setup(app, svc, ttl=0)
    return app


async def new_link(svc: Services, who: str, base: str = "http://dasbor.test") -> str:
    async with svc.db.session() as session:
        url = await login_link(svc, session, who, svc.clock.now(), base_url=base)
        await session.commit()
    assert url is not None, f"{who} may not log in"
    return url


async def log_in(client: TestClient, svc: Services, who: str) -> None:
    path = urlparse(await new_link(svc, who)).path
    form = await client.get(path)
    assert form.status == 200, await form.text()
    done = await client.post(path, allow_redirects=False)
    assert done.status == 303, await done.text()


class PageReader(HTMLParser):
    """figures: data-figure -> data-value; tables: data-table -> rows of {column key: data-value}."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.tables: dict[str, list[dict[str, str]]] = {}
        self._table: str | None = None
        self._row: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if "data-figure" in found:
            self.figures[found["data-figure"]] = found.get("data-value", "")
        if tag == "table" and "data-table" in found:
            self._table = found["data-table"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {}
        elif tag == "td" and self._row is not None and "data-key" in found:
            self._row[found["data-key"]] = found.get("data-value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row:
            assert self._table is not None
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None


def read_page(html: str) -> PageReader:
    reader = PageReader()
    reader.feed(html)
    return reader


def as_number(value: Any) -> float:
    return float(value)
