"""Where an inbound message goes: the routes, in order, and the one way to run a turn.

Each route answers the message or passes it on (handlers/turn.py, `Route`): it decides from the
turn's preloaded context and writes through the turn's session without committing. The first
that answers wins:

1. opt-out: "berhenti"/"stop", and "mulai"/"start" from someone who stopped messages;
2. the broadcast composer: an admin's `/siaran` and the dialogue that follows;
3. officials' commands (and an operator's assisted registration, an admin's uploaded file, the
   reason an official was asked to type);
   (between 3 and 4) after an accident or a death: the claim helper (handlers/claims.py), from a
   message about one ("suami saya meninggal", "klaim") or its conversation in progress;
4. a person to talk to: a worker asking for an official, the worker's messages while their
   ticket is open (the form is paused), and the officials' ticket commands;
5. a registered worker writing again: an answer by the status of their registration;
6. an official's desk: whatever else an official writes (handlers/desk_front.py), unless they
   register as a worker themselves;
7. the registration conversation, which answers everything else.
"""

from __future__ import annotations

import logging

from conversations.events import Inbound
from handlers import aftercare, campaigns, claims, desk_front, handover, identity, officials, optout
from handlers.delivery import Outgoing
from handlers.inbound import registration_route
from handlers.outbox import send_claimed
from handlers.services import Services
from handlers.turn import Route, TurnResult, take_turn

log = logging.getLogger(__name__)

ROUTES: tuple[Route, ...] = (
    optout.route,
    campaigns.route,
    identity.route,
    officials.route,
    claims.route,
    handover.route,
    aftercare.route,
    desk_front.route,
    registration_route,
)

__all__ = ["ROUTES", "dispatch", "turn"]


async def turn(svc: Services, who: str, event: Inbound, known_phone: str | None = None,
               inbox_id: int | None = None) -> TurnResult:
    """One committed turn through the routes; the caller holds the person's lock and sends."""
    return await take_turn(svc, ROUTES, who, event, known_phone, inbox_id)


async def dispatch(svc: Services, who: str, event: Inbound, known_phone: str | None = None) -> list[Outgoing]:
    """Handle one message from `who` and send what it produced (the simulator, the terminal
    chat, tests): under the person's lock, one turn, then its messages through the channels'
    senders. Returns what was sent (or, for a channel without a sender, what would have been)."""
    async with svc.locks.hold(who):
        result = await turn(svc, who, event, known_phone)
        await send_claimed(svc, result.messages, result.bodies)
    return result.outgoing
