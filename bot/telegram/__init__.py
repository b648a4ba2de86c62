"""The Telegram channel (Bot API through aiogram 3): intake by long polling or webhook, the
adapter between updates and the conversation's events, and the one rate-limited sender.

Kept import-light: the settings models import `bot.telegram.settings`, and bot/commands.py imports
`bot.telegram.channel` for every command; aiogram (about 6 s to import) is loaded only when the
channel actually starts.
"""
