"""Before authentication, a caller costs little and logs nothing alarming: the webhooks served as
in production (bot.server.make_runner on a real port), spoken to over raw TCP the way a hostile
client would -- bytes a normal HTTP client refuses to send, bodies that never finish, idle
connections.

- the signature (WhatsApp) or secret (Telegram) header is judged before the body is read,
  whatever bytes it carries: 401/403, never a 500;
- a body is read with a size limit and a time limit (`limits`), then the connection is closed;
- an idle connection is closed after `limits.slow_client_seconds`;
- none of it logs an ERROR or a traceback.
A signed message whose fields carry unexpected JSON types is set aside with one WARNING.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.server import make_runner
from handlers.services import Services
from storage.inbox import InboundUpdate
from tests.fake_graph import message, sign, whatsapp_harness
from tests.fake_telegram import FakeTelegram

SLOW = 0.5


@asynccontextmanager
async def served(svc: Services, telegram: FakeTelegram | None = None) -> AsyncIterator[int]:
    """The app of both channels on 127.0.0.1, as `serve` runs it; its port."""
    svc.config = svc.config.model_copy(update={"limits": svc.config.limits.model_copy(
        update={"slow_client_seconds": SLOW, "webhook_body_max_bytes": 64 * 1024})})
    async with whatsapp_harness(svc, telegram=telegram) as wa:
        runner = make_runner(wa.app, svc, 1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield runner.addresses[0][1]
        finally:
            await runner.cleanup()


async def exchange(port: int, head: bytes, body: bytes = b"", wait: float = 5.0) -> bytes:
    """Send raw bytes; everything the server answers until it closes (or `wait` passes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), wait)
    except TimeoutError:
        return b""
    finally:
        writer.close()


def request(path: str, headers: dict[str, bytes], length: int) -> bytes:
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Content-Type: application/json",
             f"Content-Length: {length}".encode()]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def alarming(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.ERROR or r.exc_info]


async def test_odd_signature_bytes_are_refused_without_reading_or_a_traceback(
        svc: Services, fake: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with served(svc, fake) as port:
        for value in ("sha256=é".encode(), b"sha256=\xff\xfe" + b"0" * 62, b"\xc3\x28", b"sha256=" + b"g" * 64,
                      b"sha1=" + b"0" * 40, b""):
            # A body announced but never sent: the answer must not wait for it.
            answer = await exchange(port, request("/whatsapp/webhook", {"X-Hub-Signature-256": value}, 50_000))
            assert status_of(answer) in (401, 403), (value, answer[:80])
        answer = await exchange(port, request("/whatsapp/webhook", {}, 50_000))
        assert status_of(answer) == 401
        for value in ("ñ".encode(), b"\xff\xfe\xfd", b""):
            answer = await exchange(port, request("/telegram/webhook", {"X-Telegram-Bot-Api-Secret-Token": value},
                                                  50_000))
            assert status_of(answer) == 401, (value, answer[:80])
    assert alarming(caplog) == []


async def test_slow_cut_off_and_oversized_bodies_cost_a_bounded_time(
        svc: Services, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with served(svc) as port:
        body = json.dumps(message(text="halo")).encode()
        head = request("/whatsapp/webhook", {"X-Hub-Signature-256": sign(body).encode()}, len(body))
        # Half the body, then nothing: closed with 408 once the time is up.
        started = asyncio.get_running_loop().time()
        answer = await exchange(port, head, body[: len(body) // 2], wait=SLOW * 10)
        assert status_of(answer) == 408 and asyncio.get_running_loop().time() - started < SLOW * 8
        # Announced too large: refused at once.
        answer = await exchange(port, request("/whatsapp/webhook", {"X-Hub-Signature-256": sign(b"x").encode()},
                                              10 * 1024 * 1024))
        assert status_of(answer) == 413
        # Many slow clients at once are all closed, none logs an ERROR.
        answers = await asyncio.gather(*(exchange(port, head, body[:10], wait=SLOW * 10) for _ in range(50)))
        assert [status_of(a) for a in answers] == [408] * 50
        # Cut off mid-body: nothing recorded, nothing alarming.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + body[:20])
        await writer.drain()
        writer.close()
        await asyncio.sleep(SLOW * 2)
        # An idle connection (no request at all) is closed too.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request_line = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        writer.write(request_line)
        await writer.drain()
        first = await asyncio.wait_for(reader.read(65536), 5)
        assert status_of(first) == 200
        closed = await asyncio.wait_for(reader.read(65536), SLOW * 10)
        assert closed == b""  # the server hung up on the idle keep-alive connection
        writer.close()
    assert alarming(caplog) == []
    async with svc.db.session() as session:
        assert (await session.execute(select(InboundUpdate.id))).all() == []


@pytest.mark.parametrize("body", [5, 3.5, ["a"], {"x": 1}, True])
async def test_a_signed_message_with_an_unexpected_json_type_is_set_aside_with_one_warning(
        svc: Services, caplog: pytest.LogCaptureFixture, body: Any) -> None:
    caplog.set_level(logging.DEBUG)
    async with whatsapp_harness(svc) as wa:
        update = message(text="x")
        update["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = body
        sent = await wa.send(update)
        assert sent == []
        await wa.send(message(text="halo"))  # the person is not stuck behind it
        assert wa.graph.sent, "the next message was answered"
    assert alarming(caplog) == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "set aside" in r.getMessage()]
    assert len(warnings) == 1
    async with svc.db.session() as session:
        reasons = (await session.execute(select(InboundUpdate.set_aside_reason)
                                         .where(InboundUpdate.set_aside_reason.is_not(None)))).scalars().all()
    assert len(reasons) == 1
