"""What a channel is to the server and the worker: its background work, its sender, and how it
is known to be configured. The channels themselves are listed in bot/commands.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

from handlers.services import Services


@dataclass
class Channel:
    name: str  # "tg" | "wa"
    sender: Any = None  # handlers.delivery.Sender
    # Long-running tasks started with the server (e.g. Telegram long polling, inbox recovery).
    tasks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Called on shutdown (close HTTP sessions).
    close: Callable[[], Awaitable[None]] | None = None
    # Called on shutdown before `close`, with the seconds left of the grace: let the turns in
    # flight finish (and send their replies) for that long, then cancel them.
    stop: Callable[[float], Awaitable[None]] | None = None
    # What the channel adds to /readyz's body (e.g. the WhatsApp templates Meta has not
    # approved): information only, never a reason to answer 503.
    readiness: Callable[[], Awaitable[dict[str, Any]]] | None = None


ChannelSetup = Callable[[web.Application, Services, Mapping[str, str]], Awaitable[Channel]]


class ChannelSpec(NamedTuple):
    """How a channel is known to be configured (its tokens are in the environment), and set up."""

    is_configured: Callable[[Mapping[str, str]], bool]
    setup: ChannelSetup


def configured_channels(environ: Mapping[str, str], channels: Mapping[str, ChannelSpec]) -> dict[str, ChannelSpec]:
    """The channels whose settings are present in `environ`, in the order given."""
    return {name: spec for name, spec in channels.items() if spec.is_configured(environ)}
