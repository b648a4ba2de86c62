"""Registers subcommands of the channels and features beyond the registration core.

Each feature module adds itself on import -- subcommands to bot.cli.EXTRA_COMMANDS, channels
with bot.server.register_channel, message interceptors to handlers.router.INTERCEPTORS -- and is
listed here.
"""
import bot.whatsapp.channel  # noqa: F401,E402  (WhatsApp channel: /whatsapp/webhook)
import bot.worker  # noqa: F401,E402  (issue 6: `worker` command; campaign and stop/start interceptors)
import bot.telegram.channel  # noqa: F401,E402  (Telegram channel: polling or /telegram/webhook)
import bot.officials_cli  # noqa: F401,E402  (issue 5: `officials` command; officials' chat commands)
import bot.inbox_cli  # noqa: F401,E402  (`inbox list|show`: updates set aside)
