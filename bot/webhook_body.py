"""Reading a webhook's body, after its credentials were checked from the headers alone.

What a caller who has not proven anything yet may cost us: the body is read only once the
signature or secret header has the right shape (WhatsApp: checked against the body after), at
most `limits.webhook_body_max_bytes`, and all of it within `limits.slow_client_seconds`. A body
too large, too slow or cut off is answered (413, 408, 400) with one INFO line: nothing a caller
sends before authentication is worth an ERROR or a traceback.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import ClientError, web
from aiohttp.http_exceptions import HttpProcessingError

from handlers.settings import AbuseLimits

log = logging.getLogger(__name__)


async def read_body(request: web.Request, limits: AbuseLimits, channel: str) -> bytes | web.Response:
    """The body, or the response that refuses it."""
    declared = request.content_length
    if declared is not None and declared > limits.webhook_body_max_bytes:
        log.info("%s webhook: refused a body of %d bytes (limit %d)", channel, declared, limits.webhook_body_max_bytes)
        return web.Response(status=413, text="Payload Too Large")
    try:
        async with asyncio.timeout(limits.slow_client_seconds):
            body = await request.content.read(limits.webhook_body_max_bytes + 1)
            # read(n) returns what has arrived up to n bytes: keep reading until the end.
            while len(body) <= limits.webhook_body_max_bytes and not request.content.at_eof():
                more = await request.content.read(limits.webhook_body_max_bytes + 1 - len(body))
                if not more:
                    break
                body += more
    except TimeoutError:
        log.info("%s webhook: the body did not arrive within %g s; closed", channel, limits.slow_client_seconds)
        return web.Response(status=408, text="Request Timeout", headers={"Connection": "close"})
    except (ConnectionError, OSError, ValueError, ClientError, HttpProcessingError) as problem:  # cut off, bad chunks
        log.info("%s webhook: the body could not be read (%s)", channel, type(problem).__name__)
        return web.Response(status=400, text="Bad Request", headers={"Connection": "close"})
    if len(body) > limits.webhook_body_max_bytes:
        log.info("%s webhook: refused a body over %d bytes", channel, limits.webhook_body_max_bytes)
        return web.Response(status=413, text="Payload Too Large", headers={"Connection": "close"})
    return body
