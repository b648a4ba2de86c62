"""The WhatsApp channel (Meta Cloud API through pywa): webhook, adapter, sender.

Kept import-light: bot/config.py imports `bot.whatsapp.config` for validation at start.
"""
