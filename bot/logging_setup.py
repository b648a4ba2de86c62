"""Logging: one line per record -- plain text, or one JSON object with LOG_FORMAT=json (for
journald, Docker or a log collector) -- and a filter that masks anything shaped like a NIK as a
last line of defence (the code never logs one on purpose)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

# 16 digits, possibly separated by spaces/dots/dashes, as people type a NIK.
NIK_SHAPE = re.compile(r"(?<!\d)(\d[ .\-]?){15}\d(?!\d)")


class NikRedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if NIK_SHAPE.search(message):
            record.msg = NIK_SHAPE.sub("[NIK disamarkan]", message)
            record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            text = str(record.exc_info[1])
            if NIK_SHAPE.search(text):
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
    # Library chatter at INFO would log request URLs and payload sizes on every message.
    for noisy in ("aiosqlite", "sqlalchemy.engine", "httpx", "httpcore", "aiogram.event", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
