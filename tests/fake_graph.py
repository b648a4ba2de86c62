"""A fake Graph API (WhatsApp Cloud API) on 127.0.0.1 for tests and benchmarks.

Answers what pywa's real HTTP client sends: POST /v{version}/{phone_number_id}/messages,
POST /v{version}/{phone_number_id}/media, and for media people sent (`add_media`) the two steps of
a download: GET /v{version}/{media_id} gives a URL and the size, GET on that URL (with the access
token, as Meta requires) gives the bytes. Every request is recorded with its arrival time. It can
be told to fail the next sends with Cloud API error codes (as Meta words them), or to hold sends
until released (a request that never completes, for crash tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.local_server import serve_locally

ERRORS = {
    130429: "(#130429) Rate limit hit",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
    131047: "Re-engagement message",
    131026: "Message undeliverable",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages.",
    131048: "Spam rate limit hit",
}


@dataclass
class Recorded:
    at: float  # time.monotonic() on arrival
    path: str
    body: dict[str, Any]

    @property
    def to(self) -> str:
        return str(self.body.get("to") or self.body.get("recipient"))

    @property
    def type(self) -> str:
        return str(self.body.get("type"))

    @property
    def text(self) -> str:
        """The visible text of a text or interactive message, or a media message's caption."""
        if self.type == "text":
            return str(self.body["text"]["body"])
        if self.type == "interactive":
            return str(self.body["interactive"]["body"]["text"])
        if self.type in ("image", "video", "document"):
            return str(self.body[self.type].get("caption") or "")
        return ""

    @property
    def media_id(self) -> str | None:
        """The media id a media message is sent by (None: a link, an upload or no media)."""
        media = self.body.get(self.type)
        return str(media["id"]) if isinstance(media, dict) and "id" in media else None

    @property
    def choice_ids(self) -> list[str]:
        """Ids of reply buttons or list rows of an interactive message."""
        if self.type != "interactive":
            return []
        action = self.body["interactive"]["action"]
        if "buttons" in action:
            return [b["reply"]["id"] for b in action["buttons"]]
        return [row["id"] for section in action["sections"] for row in section["rows"]]


@dataclass
class FakeGraph:
    phone_number_id: str = "106540352242922"
    sent: list[Recorded] = field(default_factory=list)
    uploads: list[Recorded] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    # media id -> (content, the file_size the URL lookup announces)
    media_files: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)  # media ids whose bytes were fetched
    held: asyncio.Event | None = None
    url: str = ""
    access_token: str = "EAAtest-access-token"  # the token this fake accepts (ACCESS_TOKEN below)
    phone_lookups: int = 0
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post(r"/v{version}/{phone}/messages", self.messages)
        app.router.add_post(r"/v{version}/{phone}/media", self.media)
        app.router.add_get(r"/v{version}/{media_id}", self.media_url)
        app.router.add_get(r"/attachments/{media_id}", self.media_bytes)
        self._runner, self.url = await serve_locally(app)
        return self.url

    async def stop(self) -> None:
        if self.held is not None:
            self.held.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, code: int, times: int = 1) -> None:
        self.failures.extend([code] * times)

    def hold(self) -> None:
        """Sends wait (unanswered) until `release`."""
        self.held = asyncio.Event()

    def release(self) -> None:
        if self.held is not None:
            self.held.set()
            self.held = None

    def add_media(self, content: bytes, declared_size: int | None = None) -> str:
        """Hold a file a person sent; its media id. `declared_size` makes the URL lookup lie."""
        media_id = f"{1600000000000000 + len(self.media_files)}"
        self.media_files[media_id] = (content, len(content) if declared_size is None else declared_size)
        return media_id

    def to(self, recipient: str) -> list[Recorded]:
        return [r for r in self.sent if r.to == recipient]

    async def messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        if request.match_info["phone"] != self.phone_number_id:
            return _error(100, "(#100) Invalid parameter", status=400)
        self.sent.append(Recorded(time.monotonic(), request.path, body))
        if self.held is not None:
            await self.held.wait()
        if self.failures:
            code = self.failures.pop(0)
            return _error(code, ERRORS.get(code, "error"))
        recipient = body.get("to") or body.get("recipient")
        contact = {"input": recipient, ("wa_id" if str(recipient).isdigit() else "user_id"): recipient}
        return web.json_response({"messaging_product": "whatsapp", "contacts": [contact],
                                  "messages": [{"id": f"wamid.FAKE{next(self._ids):08d}", "message_status": "accepted"}]})

    async def media(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        self.uploads.append(Recorded(time.monotonic(), request.path, {
            "filename": getattr(upload, "filename", None), "type": form.get("type"),
            "messaging_product": form.get("messaging_product")}))
        return web.json_response({"id": f"{9000000000 + len(self.uploads)}"})


    async def media_url(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        if media_id == self.phone_number_id:
            return self.phone_number(request)
        if media_id not in self.media_files or request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return _error(100, "(#100) Invalid parameter")
        content, size = self.media_files[media_id]
        return web.json_response({
            "url": f"{self.url}/attachments/{media_id}", "mime_type": "text/csv",
            "sha256": hashlib.sha256(content).hexdigest(), "file_size": size, "id": media_id,
            "messaging_product": "whatsapp"})

    def phone_number(self, request: web.Request) -> web.Response:
        """GET /{phone_number_id}: the number's details, as Meta answers them -- or, with a token
        it does not know, its "Invalid OAuth access token" error (code 190, HTTP 401)."""
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(190, "Invalid OAuth access token - Cannot parse access token", status=401)
        self.phone_lookups += 1
        return web.json_response({"id": self.phone_number_id, "display_phone_number": "+62 811-6600-1234",
                                  "verified_name": "Satu Nagari 100 Pekerja Rentan", "quality_rating": "GREEN",
                                  "code_verification_status": "VERIFIED", "platform_type": "CLOUD_API",
                                  "throughput": {"level": "STANDARD"}})

    async def media_bytes(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        # Meta answers 401 (or 404) to a download without the access token.
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return web.Response(status=401, text="Unauthorized")
        if media_id not in self.media_files:
            return web.Response(status=404, text="Not Found")
        self.downloads.append(media_id)
        return web.Response(body=self.media_files[media_id][0], content_type="application/octet-stream")


def _error(code: int, message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": {
        "message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": message},
        "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUv"}}, status=status)


# ---------------------------------------------------------------------------------------------
# The other side of the webhook: Meta posting signed updates into our aiohttp app.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "whatsapp"
APP_SECRET = "sijunjung-test-app-secret"
VERIFY_TOKEN = "sijunjung-verify"
ACCESS_TOKEN = "EAAtest-access-token"
WA_ID = "6281234567890"


def fixture(name: str, at: datetime | None = None) -> dict[str, Any]:
    """A webhook body of tests/fixtures/whatsapp, dated `at` (default: the real clock, now).

    The timestamps written in the files are only there to keep the shape Meta posts: every
    message and status is dated when the test runs, since the bot ignores a signed message
    older than `whatsapp.max_message_age_hours` as a replay. A date frozen in a file makes a
    test fail once that many hours have passed."""
    body = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    stamp = str(int((at.timestamp() if at is not None else time.time())))
    for entry in body.get("entry", []):
        for change in entry.get("changes", []):
            value = change.get("value", {})
            for item in [*value.get("messages", []), *value.get("statuses", [])]:
                if "timestamp" in item:
                    item["timestamp"] = stamp
    return body


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    """X-Hub-Signature-256 as Meta computes it: HMAC-SHA256 of the raw body, hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


_wamids = itertools.count(1)


def message(kind: str = "text", *, text: str | None = None, choice: str | None = None, wa_id: str | None = WA_ID,
            at: datetime | None = None, wamid: str | None = None) -> dict[str, Any]:
    """A webhook body from a fixture, with a fresh message id (unless given), the sender's
    number, the time sent, and what was typed or tapped."""
    body = fixture(kind, at)
    value = body["entry"][0]["changes"][0]["value"]
    msg, contact = value["messages"][0], value["contacts"][0]
    msg["id"] = wamid or f"wamid.TEST{next(_wamids):010d}"
    if wa_id and contact.get("wa_id"):
        contact["wa_id"] = msg["from"] = wa_id
        contact["user_id"] = msg["from_user_id"] = f"ID.{wa_id[::-1]}"
    if text is not None:
        msg["text"]["body"] = text
    if choice is not None:
        reply = msg["interactive"][msg["interactive"]["type"]]
        reply["id"] = reply["title"] = choice
    return body


@dataclass
class Meta:
    """Posts (signed) webhook bodies to the app under test."""

    client: Any  # aiohttp.test_utils.TestClient
    path: str = "/whatsapp/webhook"

    async def post(self, body: dict[str, Any] | bytes, signature: str | None = "sign") -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            headers["X-Hub-Signature-256"] = sign(raw)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await self.client.post(self.path, data=raw, headers=headers)


def environ(graph_url: str) -> dict[str, str]:
    return {"WHATSAPP_PHONE_NUMBER_ID": FakeGraph.phone_number_id, "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
            "WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN, "WHATSAPP_API_BASE": graph_url}


# Quick limits for tests: the pair rate would otherwise space one person's messages 6 s apart.
TEST_LIMITS = {"pair_interval_seconds": 0.01, "pair_burst": 45, "retry_base_seconds": 0.01}


@dataclass
class Harness:
    """The real aiohttp app with the WhatsApp channel, a fake Graph API, and Meta's side."""

    svc: Any  # handlers.services.Services
    graph: FakeGraph
    meta: Meta
    webhook: Any  # bot.whatsapp.channel.WhatsAppWebhook
    app: Any = None  # the aiohttp app (with the Telegram channel too, when asked)

    @property
    def sender(self) -> Any:
        return self.webhook.sender

    async def send(self, body: dict[str, Any]) -> list[Recorded]:
        """Post one signed update, let the background handling finish; what the bot sent."""
        before = len(self.graph.sent)
        response = await self.meta.post(body)
        assert response.status == 200, await response.text()
        await self.webhook.idle()
        return self.graph.sent[before:]

    def said(self, sent: list[Recorded], key: str, lang: str = "id") -> bool:
        """Whether the catalog text of `key` (its first line) is among the messages sent."""
        first_line = self.svc.catalog.text(lang, key).split("{")[0].splitlines()[0]
        return any(first_line in r.text for r in sent)


@asynccontextmanager
async def whatsapp_harness(svc: Any, telegram: Any = None, **config: Any) -> AsyncIterator[Harness]:
    """`telegram`: a started tests.fake_telegram.FakeTelegram to serve the Telegram channel too,
    in the same app (people on both channels: a WhatsApp worker, an official on Telegram)."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.commands import CHANNELS
    from bot.server import build_app
    from bot.whatsapp.channel import WEBHOOK_KEY

    svc.config = svc.config.model_copy(
        update={"whatsapp": svc.config.whatsapp.model_copy(update={**TEST_LIMITS, **config})})
    graph = FakeGraph()
    await graph.start()
    settings, specs = environ(graph.url), {"wa": CHANNELS["wa"]}
    if telegram is not None:
        from tests.fake_telegram import fast_limits, telegram_environ

        svc.config = svc.config.model_copy(update={"telegram": fast_limits()})
        settings, specs = {**settings, **telegram_environ(telegram, webhook=True)}, {**specs, "tg": CHANNELS["tg"]}
    app, channels = await build_app(svc, settings, specs)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Harness(svc, graph, Meta(client), app[WEBHOOK_KEY], app)
    finally:
        for ch in channels:
            if ch.close:
                await ch.close()
        await client.close()
        await graph.stop()
