"""A fake Telegram Bot API server on 127.0.0.1, and a person who talks to the bot through it.

`FakeTelegram` answers POST /bot<token>/<method> with {"ok": true, "result": ...} the way the Bot
API does (sendMessage returns a Message, copyMessage a MessageId; getUpdates long-polls the
updates pushed to it and remembers the offset that confirmed them), records every call with the
time it arrived (its own monotonic clock), and can be told to fail a method (429 with
retry_after, 403, 5xx) or to hang on it. Files people attach are held by `add_file` and served as the Bot API does: getFile, then
GET /file/bot<token>/<file_path> (20 MB at most). aiogram's real HTTP session talks to it
(`TelegramAPIServer.from_base`).

`TgPerson` builds realistic updates from tests/fixtures/telegram/*.json for one user, delivers
them (pushed for polling, POSTed for the webhook), waits until the bot has handled them, and
reads the bot's answers back as catalog keys, so tests assert on meaning, not on words.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import html
import itertools
import json
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from conversations.i18n import Catalog
from tests.local_server import serve_locally

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Pendaftaran BPJS TK Sijunjung",
            "username": "SijunjungBpjsBot"}
SEND_METHODS = ("sendMessage", "sendDocument", "sendPhoto", "copyMessage")
# getFile refuses bigger files ("Bad Request: file is too big"; core.telegram.org/bots/api#getfile).
DOWNLOAD_LIMIT = 20 * 1024 * 1024
JSON_FIELDS = ("reply_markup", "allowed_updates", "commands", "scope", "chat_id", "offset", "timeout", "limit",
               "from_chat_id", "message_id")


def fixture(name: str) -> dict[str, Any]:
    """An update of tests/fixtures/telegram, dated now (the real clock): the dates written in the
    files only keep the shape of what Telegram sends, and no test may depend on the day it runs."""
    update = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    now = int(time.time())
    for kind, inner in update.items():
        if isinstance(inner, dict):
            message = inner.get("message") if kind == "callback_query" else inner
            for item in (inner, message):
                if isinstance(item, dict) and "date" in item:
                    item["date"] = now
                    if "edit_date" in item:
                        item["edit_date"] = now
    return update


@dataclass
class Call:
    at: float  # the fake server's time.monotonic() when the request arrived
    token: str
    method: str
    params: dict[str, Any]
    content_type: str = ""  # how the request body came: application/json or a form

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        """The message text (or caption) as a person reads it: HTML markup removed."""
        raw = self.params.get("text") or self.params.get("caption") or ""
        return html.unescape(re.sub(r"</?b>", "", raw))

    @property
    def buttons(self) -> list[str]:
        markup = self.params.get("reply_markup") or {}
        return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]

    @property
    def asks_contact(self) -> bool:
        markup = self.params.get("reply_markup") or {}
        return any(b.get("request_contact") for row in markup.get("keyboard", []) for b in row)

    @property
    def removes_keyboard(self) -> bool:
        return bool((self.params.get("reply_markup") or {}).get("remove_keyboard"))


@dataclass
class Fault:
    status: int
    retry_after: int | None = None
    description: str = "error"


class FakeTelegram:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.confirmed_offset = 0  # getUpdates' offset: updates below it are acknowledged
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.hanging: dict[str, asyncio.Event] = {}
        self.answered: list[Call] = []  # send* calls that got a successful answer
        self.delivered: dict[int, int] = defaultdict(int)  # chat id -> messages answered
        self._delivery_waiters: dict[int, list[tuple[int, asyncio.Future[float]]]] = defaultdict(list)
        self._message_ids = itertools.count(1000)
        self.messages: dict[int, dict[str, Any]] = {}  # message_id -> the bot's message, as edited
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self.downloads: list[str] = []  # file paths fetched through /file/bot<token>/...
        self._new_update = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- control --------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner, self.url = await serve_locally(app)
        return self.url

    async def stop(self) -> None:
        for event in self.hanging.values():
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def push(self, update: dict[str, Any]) -> None:
        """Make an update available to getUpdates (what Telegram does when a person writes)."""
        self.updates.append(update)
        self._new_update.set()

    def add_file(self, content: bytes, name: str) -> str:
        """Hold a file a person attached; its file_id."""
        file_id = f"BQACAgUAAx{len(self.files):04d}"
        self.files[file_id] = (f"documents/file_{len(self.files)}{Path(name).suffix}", content)
        return file_id

    def fail(self, method: str, status: int, times: int = 1, retry_after: int | None = None,
             description: str = "error") -> None:
        for _ in range(times):
            self.faults[method].append(Fault(status, retry_after, description))

    def hang(self, method: str) -> asyncio.Event:
        """Hold every `method` request until the returned event is set, then fail it (502):
        a request that hung counts as never delivered."""
        self.hanging[method] = asyncio.Event()
        return self.hanging[method]

    def sent(self, chat_id: int | None = None, token: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.method in SEND_METHODS
                and (chat_id is None or c.chat_id == chat_id) and (token is None or c.token == token)]

    def method_calls(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def delivered_to(self, chat_id: int, count: int) -> asyncio.Future[float]:
        """Resolves with the arrival time of the chat's `count`-th delivered message."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if self.delivered[chat_id] >= count:
            future.set_result(time.monotonic())
        else:
            self._delivery_waiters[chat_id].append((count, future))
        return future

    def _delivered(self, call: Call) -> None:
        self.answered.append(call)
        chat_id = call.chat_id or 0
        self.delivered[chat_id] += 1
        waiting = self._delivery_waiters.get(chat_id, [])
        for entry in [w for w in waiting if w[0] <= self.delivered[chat_id]]:
            waiting.remove(entry)
            if not entry[1].done():
                entry[1].set_result(call.at)

    @property
    def pending_updates(self) -> int:
        return sum(1 for u in self.updates if u["update_id"] >= self.confirmed_offset)

    # -- the API --------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params = await self._params(request)
        call = Call(time.monotonic(), token, method, params, request.content_type)
        self.calls.append(call)
        if method in self.hanging:
            await self.hanging[method].wait()
            # A request that hung was never delivered (its client timed out or was killed).
            return web.json_response({"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502)
        if self.faults[method]:
            fault = self.faults[method].popleft()
            body: dict[str, Any] = {"ok": False, "error_code": fault.status, "description": fault.description}
            if fault.retry_after is not None:
                body["parameters"] = {"retry_after": fault.retry_after}
                body["description"] = f"Too Many Requests: retry after {fault.retry_after}"
            return web.json_response(body, status=fault.status)
        if method == "getUpdates":
            result: Any = await self._get_updates(params)
        elif method == "getMe":
            result = BOT_USER
        elif method == "getFile":
            return self._get_file(str(params.get("file_id")))
        elif method == "copyMessage":
            # A copy of a message in another chat: the Bot API answers with its MessageId only.
            result = {"message_id": self._message(params)["message_id"]}
            self._delivered(call)
        elif method in SEND_METHODS:
            result = self._message(params)
            self._delivered(call)
        elif method == "editMessageText":
            return self._edit(params)
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":  # the Bot API takes either
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if not isinstance(value, str):
                params[key] = {"filename": getattr(value, "filename", None)}
                continue
            params[key] = json.loads(value) if key in JSON_FIELDS else value
        return params

    def _get_file(self, file_id: str) -> web.Response:
        if file_id not in self.files:
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"},
                                     status=400)
        path, content = self.files[file_id]
        if len(content) > DOWNLOAD_LIMIT:
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: file is too big"},
                                     status=400)
        return web.json_response({"ok": True, "result": {"file_id": file_id, "file_unique_id": f"U{file_id}",
                                                         "file_size": len(content), "file_path": path}})

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        found = [content for file_path, content in self.files.values() if file_path == path]
        if request.match_info["token"] != TOKEN or not found:
            return web.Response(status=404, text="Not Found")
        self.downloads.append(path)
        return web.Response(body=found[0], content_type="application/octet-stream")

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self.confirmed_offset = max(self.confirmed_offset, offset)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            ready = [u for u in self.updates if u["update_id"] >= self.confirmed_offset]
            if ready or time.monotonic() >= deadline:
                return ready[:100]
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
            except TimeoutError:
                pass

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": next(self._message_ids), "from": BOT_USER, "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Siti"},
        }
        if "text" in params:
            message["text"] = params["text"]
        if "caption" in params:
            message["caption"] = params["caption"]
        if isinstance(params.get("reply_markup"), dict) and "inline_keyboard" in params["reply_markup"]:
            message["reply_markup"] = params["reply_markup"]
        self.messages[message["message_id"]] = message
        return message

    def _edit(self, params: dict[str, Any]) -> web.Response:
        """editMessageText of a message the bot sent to that chat; else 400 as Telegram says."""
        message = self.messages.get(int(params.get("message_id") or 0))
        if message is None or message["chat"]["id"] != int(params["chat_id"]):
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": "Bad Request: message to edit not found"}, status=400)
        message["text"] = params["text"]
        message.pop("reply_markup", None)
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        return web.json_response({"ok": True, "result": message})


# -- a person talking to the bot ---------------------------------------------------------------
@functools.cache
def template_pattern(template: str) -> re.Pattern[str] | None:
    """A regex matching any text made from a catalog template (placeholders match anything);
    None for templates with too little fixed text to recognise. Kept: the catalogs hold more
    templates than `re`'s own cache, which compiled them all again for every message read."""
    literal = re.split(r"\{[^{}]*\}", template.replace("*", ""))
    if sum(len(part.strip()) for part in literal) < 8:
        return None
    return re.compile("(?s)" + ".*?".join(re.escape(part) for part in literal))


def keys_of(catalog: Catalog, text: str) -> set[str]:
    """Catalog keys (any language) whose template could have produced `text`."""
    found = set()
    for messages in catalog.messages.values():
        for key, template in messages.items():
            pattern = template_pattern(template)
            if pattern is not None and pattern.search(text):
                found.add(key)
    return found


_update_ids = itertools.count(800000000)


@dataclass
class TgPerson:
    """One Telegram user. `deliver` is how an update reaches the bot (push to the fake for
    polling, POST to the webhook); `settle` waits until the bot has handled everything."""

    fake: FakeTelegram
    catalog: Catalog
    settle: Any  # async () -> None
    user_id: int = 700000001
    webhook: str | None = None
    secret: str | None = None
    seen: int = 0
    replies: list[Call] = field(default_factory=list)

    @property
    def channel_user(self) -> str:
        return f"tg:{self.user_id}"

    def _message(self, name: str, **fields: Any) -> dict[str, Any]:
        update = copy.deepcopy(fixture(name))
        update["update_id"] = next(_update_ids)
        message = update["message"]
        message["from"]["id"] = message["chat"]["id"] = self.user_id
        message["message_id"] = update["update_id"] % 100000
        message.update(fields)
        return update

    def text_update(self, text: str) -> dict[str, Any]:
        return self._message("message_text", text=text)

    def tap_update(self, data: str) -> dict[str, Any]:
        update = copy.deepcopy(fixture("callback_query"))
        update["update_id"] = next(_update_ids)
        query = update["callback_query"]
        query["from"]["id"] = query["message"]["chat"]["id"] = self.user_id
        query["id"] = str(update["update_id"])
        query["data"] = data
        return update

    def contact_update(self, phone: str, own: bool = True) -> dict[str, Any]:
        update = self._message("contact_own" if own else "contact_other")
        contact = update["message"]["contact"]
        contact["phone_number"] = phone
        if own:
            contact["user_id"] = self.user_id
        return update

    def media_update(self, kind: str) -> dict[str, Any]:
        return self._message(kind)

    def document_update(self, name: str, content: bytes, caption: str | None = None,
                        size: int | None = None) -> dict[str, Any]:
        """A document attached in the chat (the file is held by the fake server); `size` is what
        the update announces (the real size unless given)."""
        update = self._message("document")
        document = update["message"]["document"]
        document.update(file_name=name, file_id=self.fake.add_file(content, name),
                        file_size=len(content) if size is None else size,
                        mime_type="text/csv" if name.endswith(".csv") else "application/octet-stream")
        if caption is not None:
            update["message"]["caption"] = caption
        return update

    async def post(self, update: dict[str, Any], secret: str | None = None) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        async with ClientSession() as session:
            async with session.post(self.webhook, json=update, headers=headers) as response:  # type: ignore[arg-type]
                await response.read()
                return response.status

    async def send(self, *updates: dict[str, Any]) -> list[str]:
        """Deliver updates (all at once), wait until handled, return the keys of the answers."""
        if self.webhook:
            statuses = await asyncio.gather(*(self.post(u, self.secret) for u in updates))
            assert all(s == 200 for s in statuses), statuses
        else:
            for update in updates:
                self.fake.push(update)
        await self.settle()
        return self.read()

    def read(self) -> list[str]:
        mine = self.fake.sent(chat_id=self.user_id)
        self.replies, self.seen = mine[self.seen:], len(mine)
        return self.keys

    @property
    def keys(self) -> list[str]:
        """One entry per message: its most specific matching key (sorted for stability)."""
        return [",".join(sorted(keys_of(self.catalog, c.text))) or "?" for c in self.replies]

    def said(self, key: str) -> bool:
        return any(key in keys_of(self.catalog, c.text) for c in self.replies)

    @property
    def buttons(self) -> list[str]:
        return [b for c in self.replies for b in c.buttons]

    async def say(self, text: str) -> list[str]:
        return await self.send(self.text_update(text))

    async def tap(self, data: str, check: bool = True) -> list[str]:
        if check:
            assert data in self.buttons, f"{data} not among {self.buttons}"
        return await self.send(self.tap_update(data))

    async def share_contact(self, phone: str, own: bool = True) -> list[str]:
        return await self.send(self.contact_update(phone, own))


# -- the bot under test ------------------------------------------------------------------------
TOKEN = "123456789:AAFakeTokenForTests-0123456789abcdef"
SECRET = "s3cret-Token_for-tests"


@dataclass
class RunningBot:
    """The Telegram channel served as `python -m bot run` serves it, inside the test process."""

    app: web.Application
    intake: Any  # bot.telegram.intake.TelegramIntake
    fake: FakeTelegram
    webhook: str | None
    tasks: list[asyncio.Task[None]]

    async def settle(self) -> None:
        """Until every update Telegram holds is recorded (polling) and every turn answered."""
        while self.webhook is None and self.fake.pending_updates:
            await asyncio.sleep(0.005)
        await self.intake.idle()

    def person(self, user_id: int = 700000001, secret: str | None = SECRET) -> TgPerson:
        return TgPerson(self.fake, self.intake.svc.catalog, self.settle, user_id, self.webhook,
                        secret if self.webhook else None)


def telegram_environ(fake: FakeTelegram, webhook: bool) -> dict[str, str]:
    environ = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": fake.url}
    if webhook:
        environ["TELEGRAM_WEBHOOK_SECRET"] = SECRET
    return environ


def fast_limits(**overrides: Any) -> Any:
    """Limits that keep conversation tests quick; the rate-limit tests set their own."""
    from bot.telegram.settings import TelegramConfig

    values: dict[str, Any] = {"poll_timeout_seconds": 1, "per_chat_interval_seconds": 0.001, "per_chat_burst": 50,
                              "messages_per_second": 1000, "backoff_seconds": 0.05, "recover_every_seconds": 3600}
    values.update(overrides)
    return TelegramConfig(**values)


class running_bot:  # noqa: N801 - used as `async with running_bot(...)`
    """Serve the Telegram channel of `svc` against `fake` (polling, or webhook on 127.0.0.1)."""

    def __init__(self, svc: Any, fake: FakeTelegram, webhook: bool = False, config: Any = None) -> None:
        self.svc, self.fake, self.webhook = svc, fake, webhook
        svc.config = svc.config.model_copy(update={"telegram": config or fast_limits()})

    async def __aenter__(self) -> RunningBot:
        from bot.commands import CHANNELS
        from bot.server import build_app
        from bot.telegram.intake import INTAKE

        app, self.channels = await build_app(self.svc, telegram_environ(self.fake, self.webhook),
                                                {"tg": CHANNELS["tg"]})
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        tasks = [asyncio.create_task(job()) for channel in self.channels for job in channel.tasks]
        webhook = f"http://127.0.0.1:{port}/telegram/webhook" if self.webhook else None
        self.bot = RunningBot(app, app[INTAKE], self.fake, webhook, tasks)
        return self.bot

    async def __aexit__(self, *exc: Any) -> None:
        for task in self.bot.tasks:
            task.cancel()
        await asyncio.gather(*self.bot.tasks, return_exceptions=True)
        for channel in self.channels:
            if channel.close:
                await channel.close()
        await self.runner.cleanup()
