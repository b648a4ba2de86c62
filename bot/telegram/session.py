"""aiogram's HTTP session, with request bodies in JSON.

aiogram's `AiohttpSession` sends every Bot API call as a form: each field of the method is
prepared on its own (a keyboard walked key by key, then dumped to JSON), the form is URL-encoded,
and the server decodes it again. The Bot API takes an `application/json` body as well
(core.telegram.org/bots/api#making-requests), and a call without a file is sent that way here:
one `model_dump` of the method, one `json.dumps`. The answer is read by aiogram's own
`check_response`, so its errors (TelegramRetryAfter, TelegramForbiddenError, ...) and result
types are unchanged. A call carrying a file (sendDocument, sendPhoto with an upload) still goes
as aiogram's multipart form.

What is sent is what aiogram would send: fields that are None or empty text are left out, the
bot's defaults fill `Default` fields (parse mode, link previews), enums go as their values, dates
as Unix times.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from enum import Enum
from typing import Any, cast

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile
from aiohttp import ClientError

JSON_HEADERS = {"Content-Type": "application/json"}


class HasFile(Exception):
    """The method carries an upload: it has to go as a multipart form."""


class JsonSession(AiohttpSession):
    """`AiohttpSession` sending JSON bodies (see the module's docstring)."""

    def json_body(self, bot: Bot, method: TelegramMethod[Any]) -> bytes | None:
        """The method as a JSON body; None when it carries a file."""
        try:
            fields = {key: prepared for key, value in method.model_dump(warnings=False, exclude_none=True).items()
                      if (prepared := _prepared(value, bot)) is not None and prepared != ""}
        except HasFile:
            return None
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType],
                           timeout: int | None = None) -> TelegramType:
        body = self.json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(url, data=body, headers=JSON_HEADERS,
                                    timeout=self.timeout if timeout is None else timeout) as response:
                raw = await response.text()
        except asyncio.TimeoutError as problem:
            raise TelegramNetworkError(method=method, message="Request timeout error") from problem
        except ClientError as problem:
            raise TelegramNetworkError(method=method, message=f"{type(problem).__name__}: {problem}") from problem
        answer = self.check_response(bot=bot, method=method, status_code=response.status, content=raw)
        return cast(TelegramType, answer.result)


def _prepared(value: Any, bot: Bot) -> Any:
    """A dumped field's value as the Bot API takes it in JSON (aiogram's `prepare_value` for a
    JSON body): None for what is left out."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, Default):
        return _prepared(bot.default[value.name], bot)
    if isinstance(value, InputFile):
        raise HasFile
    if isinstance(value, dict):
        return {key: prepared for key, item in value.items() if (prepared := _prepared(item, bot)) is not None}
    if isinstance(value, (list, tuple)):
        return [prepared for item in value if (prepared := _prepared(item, bot)) is not None]
    if isinstance(value, datetime.timedelta):
        return round((datetime.datetime.now() + value).timestamp())  # noqa: DTZ005 - as aiogram does
    if isinstance(value, datetime.datetime):
        return round(value.timestamp())
    if isinstance(value, Enum):
        return _prepared(value.value, bot)
    return value
