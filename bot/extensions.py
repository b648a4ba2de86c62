"""Registers subcommands of the channels and features beyond the registration core.

Each feature module adds itself to bot.cli.EXTRA_COMMANDS on import; list it here.
"""
