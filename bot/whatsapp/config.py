"""The `whatsapp:` section of config.yaml: the models live in handlers/settings.py (below the
use-cases, which must not import bot/); re-exported here for the channel's modules.
"""

from handlers.settings import RenderLimits, WhatsAppConfig

__all__ = ["RenderLimits", "WhatsAppConfig"]
