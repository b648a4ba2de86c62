"""The dashboard in a real browser: Debian's Chromium, driven by Selenium through chromium-driver.

- An official logs in with the one-time link (the button, then the session cookie, which the
  page's scripts cannot read), and every page shows the numbers /statistik gives for the same
  data;
- at a phone's width (360 CSS pixels) no page scrolls sideways, and each prints on A4 landscape;
- an operator opening another nagari's page gets 403;
- a used or an expired link is refused.

Needs `chromium` and `chromedriver` (apt-get install chromium chromium-driver; .ci/run installs
them): skipped without them, except with REQUIRE_SERVICES=1 (CI), where they must be there.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from conversations.reports import number
from handlers.services import Services
from handlers.stats import funnel, operator_view, regency_view
from tests.conftest import REQUIRE_SERVICES, Chat, register
from tests.dashboard_support import dashboard_app, new_link
from tests.local_server import serve_locally
from tests.officials_support import ADMIN, KANDANG, MUARO, OPERATOR, add_officials, private_folders
from tests.test_stats import fixture

PHONE, DESKTOP = 360, 1280
PAGES = {"overview": "/dasbor/", "board": "/dasbor/nagari", "nagari": f"/dasbor/nagari/{MUARO}",
         "funnel": "/dasbor/corong", "health": "/dasbor/layanan", "campaigns": "/dasbor/kampanye",
         "sources": "/dasbor/sumber"}
# A4 landscape in PDF points (297 x 210 mm).
A4_LANDSCAPE = (841.89, 595.28)


def _browser_or_skip() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:  # pragma: no cover - the lock installs it
        driver = None
    if chromium is None or driver is None:
        what = "chromium and chromedriver (apt-get install chromium chromium-driver) and selenium"
        if REQUIRE_SERVICES:
            pytest.fail(f"{what} are required (REQUIRE_SERVICES=1) but missing")
        pytest.skip(f"{what} not installed")
    return chromium, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={DESKTOP},900", "--lang=id"):
        options.add_argument(argument)
    # The network log: the HTTP status of each page (a browser shows a 403 page like any other).
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class Browser:
    """The blocking driver, called from the test's event loop in a thread (the server under test
    runs on that loop)."""

    def __init__(self, driver: Any, base: str) -> None:
        self.driver, self.base = driver, base

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(function, *args)

    async def open(self, path_or_url: str) -> int:
        """Open a page; its HTTP status."""
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        await self.call(self.driver.get_log, "performance")  # forget earlier requests
        await self.call(self.driver.get, url)
        return await self.status_of(url)

    async def status_of(self, url: str) -> int:
        for entry in await self.call(self.driver.get_log, "performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.responseReceived" and message["params"]["type"] == "Document":
                response = message["params"]["response"]
                if response["url"] == url:
                    return int(response["status"])
        raise AssertionError(f"no response seen for {url}")

    async def js(self, script: str) -> Any:
        return await self.call(self.driver.execute_script, script)

    async def figures(self) -> dict[str, str]:
        return await self.js("return Object.fromEntries([...document.querySelectorAll('[data-figure]')]"
                             ".map(e => [e.dataset.figure, e.dataset.value]))")

    async def table(self, name: str) -> list[dict[str, str]]:
        return await self.js(f"return [...document.querySelectorAll('table[data-table=\"{name}\"] tbody tr')]"
                             ".map(r => Object.fromEntries([...r.querySelectorAll('td[data-key]')]"
                             ".map(c => [c.dataset.key, c.dataset.value])))")

    async def log_in(self, svc: Services, who: str) -> str:
        url = await new_link(svc, who, self.base)
        assert await self.open(url) == 200
        button = await self.call(self.driver.find_element, "id", "masuk")
        await self.call(button.click)
        await self.until(lambda driver: "/masuk/" not in driver.current_url)  # the POST's answer arrived
        return url

    async def until(self, condition: Callable[[Any], Any]) -> None:
        from selenium.webdriver.support.wait import WebDriverWait

        await self.call(WebDriverWait(self.driver, 10).until, condition)

    async def width(self, pixels: int, print_media: bool = False) -> None:
        await self.call(self.driver.execute_cdp_cmd, "Emulation.setDeviceMetricsOverride",
                        {"width": pixels, "height": 800, "deviceScaleFactor": 1, "mobile": pixels < 600})
        await self.call(self.driver.execute_cdp_cmd, "Emulation.setEmulatedMedia",
                        {"media": "print" if print_media else ""})

    async def sideways_scroll(self) -> tuple[int, int]:
        widths = await self.js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        return int(widths[0]), int(widths[1])

    async def reset(self) -> None:
        await self.call(self.driver.delete_all_cookies)
        await self.width(DESKTOP)


async def served(svc: Services, driver: Any) -> tuple[Any, Browser]:
    runner, base = await serve_locally(dashboard_app(svc))
    browser = Browser(driver, base)
    await browser.reset()
    return runner, browser


async def test_log_in_by_link_and_every_page_shows_the_statistik_numbers(svc: Services, clock, tmp_path: Path,
                                                                          browser: Any) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    await fixture(svc, clock)
    await register(Chat(svc, "wa:6281200000001"), nik="1303055203850009")
    admin = Chat(svc, ADMIN)
    await admin("/statistik")
    statistik = admin.replies[0].text
    operator = Chat(svc, OPERATOR)
    await operator("/statistik")
    async with svc.db.session() as session:
        view = await regency_view(svc, session, None)
        muaro = await operator_view(svc, session, MUARO)
        started = await funnel(svc, session)
    runner, page = await served(svc, browser)
    try:
        await page.log_in(svc, ADMIN)
        assert page.driver.current_url == page.base + "/dasbor/"
        # The session cookie: HttpOnly (no script reads it), SameSite=Strict, only under /dasbor.
        cookies = {c["name"]: c for c in await page.call(page.driver.get_cookies)}
        session_cookie = cookies["dasbor_sesi"]
        assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict" and session_cookie["path"] == "/dasbor"
        assert await page.js("return document.cookie") == ""
        # Overview: the regency's numbers, as /statistik says them.
        found = await page.figures()
        assert {k: int(float(v)) for k, v in found.items()} == {
            "registrations": view.total, "enrolled": 0, "approved": view.by_status["approved"],
            "pending": view.backlog, "covered": view.covered, "vulnerable": view.vulnerable, "places": view.used}
        assert f"{number(view.covered)} dari target kabupaten {number(view.target)}" in statistik
        kecamatan = {row["name"]: row for row in await page.table("kecamatan")}
        assert "• Sijunjung: {total} / {covered} / {pending}".format(**kecamatan["Sijunjung"]) in statistik
        # The board: Muaro's line as /statistik's.
        assert await page.open(PAGES["board"]) == 200
        board = {row["nagari"]: row for row in await page.table("nagari")}
        assert len(board) == 62
        assert "• Muaro: {used}/{limit} (5%), menunggu {pending}".format(**board["Muaro"]) in statistik
        assert "tanpa operator: {}".format(sum(1 for r in board.values() if r["operator"] == "belum")) in statistik
        # Sorted by a click on a column's title.
        await page.call(lambda: page.driver.find_element("css selector", 'th a[data-sort="pending"]').click())
        await page.until(lambda driver: "sort=pending" in driver.current_url)
        rows = await page.table("nagari")
        assert rows[0]["nagari"] == "Muaro" and "sort=pending" in page.driver.current_url
        # One nagari: the operator's /statistik.
        assert await page.open(PAGES["nagari"]) == 200
        nagari = await page.figures()
        assert (nagari["used"], nagari["left"], nagari["waiting"], nagari["pending"]) == (
            str(muaro.used), str(muaro.left), str(muaro.waiting), str(muaro.backlog))
        assert f"{muaro.used} dari {muaro.limit} terisi" in operator.text
        # The funnel: /statistik's funnel (admins see it in the chat).
        assert await page.open(PAGES["funnel"]) == 200
        funnel_figures = await page.figures()
        assert funnel_figures["started"] == str(started.started) and started.started >= 1
        steps = await page.table("corong")
        assert [int(float(r["reached"])) for r in steps[:len(started.reached)]] == list(started.reached)
        funnel_text = next(r.text for r in admin.replies if r.key == "report.funnel")
        assert f"{number(started.started)} orang mulai" in funnel_text
        for name in ("health", "campaigns", "sources"):
            assert await page.open(PAGES[name]) == 200, name
            assert await page.js("return document.querySelector('h1').textContent")
        # Log out: the pages are closed again.
        await page.call(lambda: page.driver.find_element("id", "keluar").click())
        await page.until(lambda driver: "Sesi dasbor sudah ditutup" in driver.find_element("tag name", "body").text)
        assert await page.open(PAGES["overview"]) == 403
    finally:
        await runner.cleanup()


async def test_every_page_fits_a_phone_and_prints_on_a4_landscape(svc: Services, clock, tmp_path: Path,
                                                                  browser: Any) -> None:
    await add_officials(svc)
    await fixture(svc, clock)
    runner, page = await served(svc, browser)
    try:
        await page.log_in(svc, ADMIN)
        for name, path in PAGES.items():
            for pixels in (PHONE, DESKTOP):
                await page.width(pixels)
                assert await page.open(path) == 200
                scroll, client = await page.sideways_scroll()
                assert scroll <= client, (name, pixels, scroll, client)
                await page.call(page.driver.save_screenshot, str(tmp_path / f"{name}-{pixels}.png"))
            # The chart text keeps a readable size on the phone (no shrinking viewBox).
            await page.width(PHONE)
            await page.open(path)
            sizes = await page.js("return [...document.querySelectorAll('svg.chart text')]"
                                  ".map(t => parseFloat(getComputedStyle(t).fontSize))")
            assert all(size >= 11 for size in sizes), (name, sorted(set(sizes)))
            await page.width(DESKTOP, print_media=True)
            await page.open(path)
            pdf = await page.call(page.driver.execute_cdp_cmd, "Page.printToPDF", {"preferCSSPageSize": True})
            boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", base64.b64decode(pdf["data"]))
            assert boxes, name
            for width, height in boxes:
                assert (round(float(width)), round(float(height))) == tuple(round(x) for x in A4_LANDSCAPE), name
    finally:
        await runner.cleanup()


async def test_an_operator_cannot_open_another_nagari(svc: Services, clock, browser: Any) -> None:
    await add_officials(svc)
    await fixture(svc, clock)
    runner, page = await served(svc, browser)
    try:
        await page.log_in(svc, OPERATOR)
        assert page.driver.current_url == page.base + PAGES["nagari"]  # their own nagari is their overview
        assert (await page.figures())["used"] == "5"
        assert await page.open(f"/dasbor/nagari/{KANDANG}") == 403
        body = await page.js("return document.body.innerText")
        assert "Tidak diizinkan" in body and "Kandang Baru" not in body
        for path in ("/dasbor/corong", "/dasbor/kampanye", f"/dasbor/nagari/{KANDANG}?format=csv"):
            assert await page.open(path) == 403, path
        assert await page.open(PAGES["board"]) == 200
        assert [row["nagari"] for row in await page.table("nagari")] == ["Muaro"]
    finally:
        await runner.cleanup()


async def test_a_used_or_expired_link_is_refused(svc: Services, clock, browser: Any) -> None:
    await add_officials(svc)
    runner, page = await served(svc, browser)
    try:
        used = await page.log_in(svc, ADMIN)
        await page.call(page.driver.delete_all_cookies)
        assert await page.open(used) == 403
        assert "Tautan tidak berlaku" in await page.js("return document.body.innerText")
        assert await page.open(PAGES["overview"]) == 403
        expired = await new_link(svc, ADMIN, page.base)
        clock.advance(timedelta(minutes=11))
        assert await page.open(expired) == 403
        clock.advance(timedelta(minutes=-11))
        late = await new_link(svc, ADMIN, page.base)
        assert await page.open(late) == 200  # the form, while the link is valid ...
        clock.advance(timedelta(minutes=11))
        await page.call(lambda: page.driver.find_element("id", "masuk").click())  # ... but too late to use it
        await page.until(lambda driver: "Tautan tidak berlaku" in driver.find_element("tag name", "body").text)
        assert await page.open(PAGES["overview"]) == 403
    finally:
        await runner.cleanup()
