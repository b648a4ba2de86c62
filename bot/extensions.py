"""Registers subcommands of the channels and features beyond the registration core.

Each feature module adds itself on import -- subcommands to bot.cli.EXTRA_COMMANDS, channels
with bot.server.register_channel, message interceptors to handlers.router.INTERCEPTORS -- and is
listed here.
"""
