"""`/dasbor` (`/dashboard`): a one-time link to the dashboard in the browser.

The link logs the official in once, within handlers/dashboard/access.LINK_MINUTES; after that
(or once used) it is refused, and `/dasbor` gives a new one. It is sent only to the official
who asked, in their own chat.
"""

from __future__ import annotations

from conversations.officials import Command
from handlers.dashboard.access import LINK_MINUTES, SESSION_HOURS, login_link
from handlers.roles import allowed

from handlers.officials.desk import Desk


async def send_dashboard_link(desk: Desk, command: Command) -> None:
    if not allowed(desk.grants, "view"):
        desk.not_allowed()
        return
    if not desk.svc.dashboard_url:
        desk.answer("dashboard.desk.not_configured")
        return
    url = await login_link(desk.svc, desk.session, desk.who, desk.now)
    if url is None:
        desk.not_allowed()
        return
    desk.answer("dashboard.desk.link", url=url, minutes=LINK_MINUTES, hours=SESSION_HOURS)
