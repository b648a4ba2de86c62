"""Logging: one line per record -- plain text, or one JSON object with LOG_FORMAT=json (for
journald, Docker or a log collector) -- and a filter that masks anything shaped like a NIK as a
last line of defence (the code never logs one on purpose)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from conversations.validators import contains_nik, mask_niks_in


THIRD_PARTY_LOGGERS = ("pywa", "pywa_async", "httpx", "httpcore", "hpack", "aiohttp", "aiohttp.access",
                       "aiohttp.server", "aiohttp.client", "aiohttp.web", "aiogram", "aiosqlite", "asyncpg",
                       "sqlalchemy", "redis", "asyncio", "alembic", "matplotlib", "PIL", "urllib3", "openpyxl",
                       # matplotlib's PDF output subsets fonts with fontTools, which logs every table at INFO.
                       "fontTools", "segno", "prometheus_client", "multipart", "charset_normalizer", "dotenv")


class NikRedactingFilter(logging.Filter):
    """The project's one NIK guard (conversations.validators.nik_spans) on every log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if contains_nik(message):
            record.msg = mask_niks_in(message, "[NIK disamarkan]")
            record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            text = str(record.exc_info[1])
            if contains_nik(text):
                record.exc_info = None
                record.exc_text = None
                record.msg = f"{record.msg} (exception text withheld: it may hold personal data)"
        return True


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message"} and "exception" when there is one, per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", stream=None, fmt: str = "text") -> None:  # type: ignore[no-untyped-def]
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(NikRedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Other packages' loggers stay at WARNING whatever LOG_LEVEL says: at DEBUG, pywa logs every
    # request it sends (phone numbers, ids, message text), httpx and aiohttp every URL and
    # address, aiogram every update; LOG_LEVEL=DEBUG is for this project's own logs. The NIK
    # filter above still guards whatever they log at WARNING.
    for library in THIRD_PARTY_LOGGERS:
        logging.getLogger(library).setLevel(max(logging.WARNING, root.level))
