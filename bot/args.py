"""Argument types shared by the subcommands."""

from __future__ import annotations

from pathlib import Path


def database_arg(value: str) -> str:
    """--db takes a database URL or, for the embedded SQLite database, a plain file path."""
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"
