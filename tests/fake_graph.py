"""A fake Graph API (WhatsApp Cloud API) on 127.0.0.1 for tests and benchmarks.

Answers what pywa's real HTTP client sends: POST /v{version}/{phone_number_id}/messages,
POST /v{version}/{phone_number_id}/media, and for media people sent (`add_media`) the two steps of
a download: GET /v{version}/{media_id} gives a URL and the size, GET on that URL (with the access
token, as Meta requires) gives the bytes. Every request is recorded with its arrival time. It can
be told to fail the next sends with Cloud API error codes (as Meta words them), or to hold sends
until released (a request that never completes, for crash tests).

The business account's message templates, as the Business Management API answers: POST
/{waba_id}/message_templates creates one ({"id", "status", "category"}: PENDING, or APPROVED with
`template_review = "APPROVED"`; a name given to `refuse_template` gets Meta's error for an invalid
template, code 100 with a 2388xxx subcode and error_user_title/error_user_msg; the same name and
language twice gets Meta's "already exists"); GET /{waba_id}/message_templates lists them in
pages (`data`, `paging` with cursors and an absolute `next` URL, `summary` when asked);
GET /{template_id} reads one; POST /{template_id} edits its components (reviewed again).
`set_template_status` plays Meta's review. Every template call checks the access token.
"""

from __future__ import annotations

import asyncio
import base64
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
from urllib.parse import urlencode

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
    # The WhatsApp Business Account (the entry id of pywa's template webhook fixtures).
    waba_id: str = "102290129340398"
    # Meta's templates by id, as GET answers them; creates and edits as they were posted.
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    template_requests: list[Recorded] = field(default_factory=list)
    # What Meta's review answers a create or an edit at once: PENDING, or APPROVED.
    template_review: str = "PENDING"
    # Template name -> subcode of Meta's refusal to create it (see TEMPLATE_ERRORS).
    refusals: dict[str, int] = field(default_factory=dict)
    # At most this many templates a page of the list (Meta's default is 25); pages served.
    templates_page_max: int = 25
    template_pages: int = 0
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post(r"/v{version}/{phone}/messages", self.messages)
        app.router.add_post(r"/v{version}/{phone}/media", self.media)
        app.router.add_post(r"/v{version}/{waba}/message_templates", self.create_template)
        app.router.add_get(r"/v{version}/{waba}/message_templates", self.list_templates)
        app.router.add_get(r"/v{version}/{media_id}", self.media_url)
        app.router.add_post(r"/v{version}/{template_id}", self.edit_template)
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
        if media_id in self.templates:
            return self.template(request)
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

    # -- message templates ------------------------------------------------------------------------
    def refuse_template(self, name: str, subcode: int = 2388299) -> None:
        """Creating `name` gets Meta's refusal of an invalid template (TEMPLATE_ERRORS)."""
        self.refusals[name] = subcode

    def template_named(self, name: str, language: str) -> dict[str, Any] | None:
        return next((t for t in self.templates.values() if t["name"] == name and t["language"] == language), None)

    def set_template_status(self, name: str, language: str, status: str, reason: str = "NONE") -> dict[str, Any]:
        """Meta's review (or a pause, a disabling) of one template."""
        template = self.template_named(name, language)
        assert template is not None, f"no template {name} ({language})"
        template["status"], template["rejected_reason"] = status, reason
        return template

    @property
    def created(self) -> list[dict[str, Any]]:
        """The bodies of the create calls, in order."""
        return [r.body for r in self.template_requests if r.path.endswith("/message_templates")]

    @property
    def edited(self) -> list[Recorded]:
        return [r for r in self.template_requests if not r.path.endswith("/message_templates")]

    def _refused(self, request: web.Request, waba: str | None = None) -> web.Response | None:
        """The access token, then the business account, checked as Meta does."""
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(190, "Invalid OAuth access token - Cannot parse access token", status=401)
        if waba is not None and waba != self.waba_id:
            return _unsupported(request.method, waba)
        return None

    async def create_template(self, request: web.Request) -> web.Response:
        refused = self._refused(request, request.match_info["waba"])
        if refused is not None:
            return refused
        body = await request.json()
        self.template_requests.append(Recorded(time.monotonic(), request.path, body))
        name, language = str(body.get("name")), str(body.get("language"))
        if name in self.refusals:
            return _template_error(self.refusals[name])
        if self.template_named(name, language) is not None:
            return _template_error(2388024)
        template_id = str(1689556908129800 + len(self.templates))
        self.templates[template_id] = {
            "name": name, "components": body.get("components", []), "language": language,
            "status": self.template_review, "category": body.get("category"), "id": template_id,
            "parameter_format": body.get("parameter_format", "POSITIONAL"), "rejected_reason": "NONE"}
        return web.json_response({"id": template_id, "status": self.template_review, "category": body.get("category")})

    async def list_templates(self, request: web.Request) -> web.Response:
        refused = self._refused(request, request.match_info["waba"])
        if refused is not None:
            return refused
        self.template_pages += 1
        query = dict(request.query)
        limit = max(1, min(int(query.get("limit") or 25), self.templates_page_max))
        start = int(base64.b64decode(query["after"]).decode()) + 1 if query.get("after") else 0
        everything = list(self.templates.values())
        page = everything[start:start + limit]
        answer: dict[str, Any] = {"data": page, "paging": {"cursors": {
            "before": base64.b64encode(str(start).encode()).decode(),
            "after": base64.b64encode(str(start + len(page) - 1).encode()).decode()}}}
        if start + len(page) < len(everything):
            following = {**query, "after": answer["paging"]["cursors"]["after"]}
            answer["paging"]["next"] = f"https://graph.facebook.com{request.path}?{urlencode(following)}"
        if "summary" in query:
            answer["summary"] = {"total_count": len(everything), "message_template_count": len(everything),
                                 "message_template_limit": 250, "are_translations_complete": True}
        return web.json_response(answer)

    def template(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        return refused or web.json_response(self.templates[request.match_info["media_id"]])

    async def edit_template(self, request: web.Request) -> web.Response:
        template_id = request.match_info["template_id"]
        refused = self._refused(request)
        if refused is not None:
            return refused
        if template_id not in self.templates:
            return _unsupported("POST", template_id)
        body = await request.json()
        self.template_requests.append(Recorded(time.monotonic(), request.path, body))
        template = self.templates[template_id]
        template["components"] = body.get("components", template["components"])
        template["status"], template["rejected_reason"] = self.template_review, "NONE"
        return web.json_response({"success": True, "id": template_id, "name": template["name"],
                                  "category": template["category"]})

    async def media_bytes(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        # Meta answers 401 (or 404) to a download without the access token.
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return web.Response(status=401, text="Unauthorized")
        if media_id not in self.media_files:
            return web.Response(status=404, text="Not Found")
        self.downloads.append(media_id)
        return web.Response(body=self.media_files[media_id][0], content_type="application/octet-stream")


# Meta's template creation errors: subcode -> (error_user_title, error_user_msg).
TEMPLATE_ERRORS = {
    2388299: ("Variables can't be at the start or end of the template",
              "Variables can't be at the start or end of the template."),
    2388293: ("Message template has too many variables for its length",
              "This template has too many variables for its length. Reduce the number of variables or increase "
              "the message length."),
    2388040: ("Message template character limit exceeded",
              "One of the fields in your message template has exceeded its character limit."),
    2388024: ("Content in this language already exists",
              "Content for this language already exists for this template name. Edit the existing content or "
              "choose another name."),
}


def _template_error(subcode: int) -> web.Response:
    """Meta's answer to a template it will not create: code 100 "Invalid parameter", the
    subcode, and what it tells the user (Graph API error format)."""
    title, message = TEMPLATE_ERRORS[subcode]
    return web.json_response({"error": {
        "message": "Invalid parameter", "type": "OAuthException", "code": 100, "error_subcode": subcode,
        "is_transient": False, "error_user_title": title, "error_user_msg": message,
        "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUv"}}, status=400)


def _unsupported(method: str, object_id: str) -> web.Response:
    """Meta's answer for an object id it does not know (or the token may not see)."""
    return web.json_response({"error": {
        "message": f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be "
                   "loaded due to missing permissions, or does not support this operation. Please read the Graph "
                   "API documentation at https://developers.facebook.com/docs/graph-api",
        "type": "GraphMethodException", "code": 100, "error_subcode": 33,
        "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUv"}}, status=400)


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


def environ(graph_url: str, business_account: bool = False) -> dict[str, str]:
    """The WhatsApp channel's variables for the fake; `business_account`: with
    WHATSAPP_BUSINESS_ACCOUNT_ID too (the server then follows Meta's review of the templates)."""
    variables = {"WHATSAPP_PHONE_NUMBER_ID": FakeGraph.phone_number_id, "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
                 "WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
                 "WHATSAPP_API_BASE": graph_url}
    if business_account:
        variables["WHATSAPP_BUSINESS_ACCOUNT_ID"] = FakeGraph.waba_id
    return variables


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
async def whatsapp_harness(svc: Any, telegram: Any = None, business_account: bool = False,
                           **config: Any) -> AsyncIterator[Harness]:
    """`telegram`: a started tests.fake_telegram.FakeTelegram to serve the Telegram channel too,
    in the same app (people on both channels: a WhatsApp worker, an official on Telegram).
    `business_account`: WHATSAPP_BUSINESS_ACCOUNT_ID set (the channel's template sync is a task
    the harness does not start: call `webhook.templates.sync_once()`)."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.commands import CHANNELS
    from bot.server import build_app
    from bot.whatsapp.channel import WEBHOOK_KEY

    svc.config = svc.config.model_copy(
        update={"whatsapp": svc.config.whatsapp.model_copy(update={**TEST_LIMITS, **config})})
    graph = FakeGraph()
    await graph.start()
    settings, specs = environ(graph.url, business_account), {"wa": CHANNELS["wa"]}
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
