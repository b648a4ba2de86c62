"""The `whatsapp:` section of config.yaml: the models live in handlers/settings.py (below the
use-cases, which must not import bot/); re-exported here for the channel's modules.
"""

from handlers.settings import RenderLimits, WhatsAppConfig

# `templates push|sync` and the server's template sync need it (bot/whatsapp/template_admin.py).
BUSINESS_ACCOUNT_VARIABLE = "WHATSAPP_BUSINESS_ACCOUNT_ID"

__all__ = ["BUSINESS_ACCOUNT_VARIABLE", "RenderLimits", "WhatsAppConfig"]
