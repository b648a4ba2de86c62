"""A fake messaging platform on 127.0.0.1 and a minimal HTTP sender for it (outbox tests and
bench/b_campaigns.py only; the real channels have their own senders and fakes).

The server records every message with *its own* clock (time.monotonic() when the request
arrived), so rate limits are measured where the platform would measure them. Recipients in
`blocked` get 403 (like Telegram's "bot was blocked"), `refused` get 400 (permanent), `flaky`
recipients get one 500 first (transient).

As a worker plugin (`python -m bot worker --plugin tests.fake_platform`), its CHANNELS are channels
"tg" and "wa" whose sender posts to FAKE_PLATFORM_URL.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from conversations.events import Reply
from bot.ratelimit import PriorityGate
from handlers.delivery import DeliveryResult, Priority


@dataclass
class FakePlatform:
    received: list[tuple[float, str, str]] = field(default_factory=list)  # (server time, to, key)
    blocked: set[str] = field(default_factory=set)
    flaky: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    runner: web.AppRunner | None = None
    url: str = ""

    async def send(self, request: web.Request) -> web.Response:
        body = await request.json()
        to = body["to"]
        if to in self.blocked:
            return web.json_response({"ok": False, "description": "Forbidden: bot was blocked by the user"}, status=403)
        if to in self.refused:
            return web.json_response({"ok": False, "description": "Bad Request: chat not found"}, status=400)
        if to in self.flaky:
            self.flaky.discard(to)
            return web.json_response({"ok": False, "description": "Internal Server Error"}, status=500)
        self.received.append((time.monotonic(), to, body.get("key", "")))
        return web.json_response({"ok": True, "message_id": len(self.received)})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/send", self.send)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def per_person(self) -> Counter[str]:
        return Counter(to for _, to, _ in self.received)

    def max_per_second(self, channel: str | None = None) -> int:
        """The most messages in any 1-second window, on the server's clock."""
        times = sorted(t for t, to, _ in self.received if channel is None or to.startswith(channel + ":"))
        best, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best


class HttpSender:
    """Posts each message to the fake platform; maps HTTP statuses like a real sender would."""

    def __init__(self, channel: str, base_url: str, per_second: float | None = None) -> None:
        self.channel = channel
        self.base_url = base_url
        self.session: aiohttp.ClientSession | None = None
        # Paced like a real sender (bot/ratelimit.py): every send passes the channel's one gate.
        self.per_second = per_second
        self.gate = PriorityGate(per_second) if per_second else None

    async def send(self, to: str, reply: Reply, priority: Priority = Priority.REPLY,
                   template: str | None = None, replace: str | None = None,
                   lang: str | None = None) -> DeliveryResult:
        # `replace` is ignored: the fake platform only counts messages, each one a new message.
        if self.gate is not None:
            await self.gate.acquire(int(priority))
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        async with self.session.post(f"{self.base_url}/send", json={"to": to, "text": reply.text, "key": reply.key}) as response:
            body: dict[str, Any] = await response.json()
        if response.status == 200:
            return DeliveryResult(ok=True, message_id=str(body["message_id"]))
        if response.status == 403:
            return DeliveryResult(ok=False, permanent=True, unreachable=True, error=body.get("description"))
        return DeliveryResult(ok=False, permanent=400 <= response.status < 429, error=body.get("description"))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def fake_channels() -> dict[str, Any]:
    """Channels "tg" and "wa" that send to FAKE_PLATFORM_URL (paced at FAKE_PLATFORM_RATE)."""
    from bot.server import Channel, ChannelSpec

    def configured(environ: Mapping[str, str]) -> bool:
        return bool(environ.get("FAKE_PLATFORM_URL"))

    def setup_for(name: str) -> Any:
        async def setup(app: web.Application, svc: Any, environ: Mapping[str, str]) -> Channel:
            rate = float(environ.get("FAKE_PLATFORM_RATE") or 0) or None
            sender = HttpSender(name, environ["FAKE_PLATFORM_URL"],
                                svc.config.delivery.share(rate) if rate else None)
            return Channel(name, sender=sender, close=sender.close)

        return setup

    return {name: ChannelSpec(configured, setup_for(name)) for name in ("tg", "wa")}


# Read by `python -m bot worker --plugin tests.fake_platform`.
CHANNELS = fake_channels()


class SimDriver:
    """Drives the in-process simulator (bot/simulate.py) line by line, like a test script:
    `await sim.say(user, "halo")`, `await sim.tap(user, "camp:kkbc")`, `await sim.clock(moment)`;
    each returns the messages the bot sent because of that line ({"to", "text", ...})."""

    def __init__(self, svc: Any, clock: Any) -> None:
        import io

        from bot.simulate import Simulator

        self.out = io.StringIO()
        self.simulator = Simulator(svc, clock, self.out)
        self.number = 0

    async def line(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        import json

        self.number += 1
        start = self.out.tell()
        await self.simulator.line(self.number, json.dumps(obj))
        self.out.seek(start)
        lines = [json.loads(raw) for raw in self.out.read().splitlines()]
        assert not any("error" in line for line in lines), lines
        return [line for line in lines if "to" in line]

    async def say(self, user: str, text: str) -> list[dict[str, Any]]:
        return await self.line({"from": user, "text": text})

    async def tap(self, user: str, button: str) -> list[dict[str, Any]]:
        return await self.line({"from": user, "button": button})

    async def clock(self, moment: Any) -> list[dict[str, Any]]:
        return await self.line({"clock": moment.isoformat()})
