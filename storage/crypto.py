"""Encryption of the NIK at rest, and the keyed hash that finds duplicates without decrypting.

One master key (BOT_SECRET_KEY, or a key file generated on first run for the embedded default)
is stretched with HKDF into two independent keys: a Fernet key (AES-128-CBC + HMAC-SHA256) for
encryption and an HMAC-SHA256 key for lookup. Losing the master key makes stored NIKs unreadable,
so the key file's creation is logged as a warning telling the operator to back it up.

Log lines name people with `who(channel_user)`: a short keyed hash ("wa#1f3a9c0b2e"), stable for
one master key, so one person's lines can be followed without their phone number or platform id
ever reaching a log. Its key is a third HKDF derivation (`use_for_logs`, at start); before that a
random per-process key is used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sijunjung-bot/" + purpose).derive(master)


_log_key = secrets.token_bytes(32)
PSEUDONYM_HEX = 10


def use_for_logs(master_key: bytes) -> None:
    """Make `who` stable for this master key (called once at start)."""
    global _log_key
    _log_key = _derive(master_key, b"log-pseudonym")


def who(channel_user: object) -> str:
    """How a log line names a person: the channel and a keyed hash of the id ("tg#9b1e0c44d2");
    the same person gives the same name, and the name gives away neither number nor id."""
    text = str(channel_user)
    channel, _, rest = text.partition(":") if ":" in text else ("?", "", text)
    digest = hmac.new(_log_key, text.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
    return f"{channel[:4] if rest else '?'}#{digest}"


class NikCipher:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < 32:
            raise ValueError("the master key must be at least 32 bytes")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(master_key, b"nik-encryption")))
        self._hash_key = _derive(master_key, b"nik-lookup")

    def encrypt(self, nik: str) -> str:
        return self._fernet.encrypt(nik.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("NIK ciphertext cannot be decrypted with this key") from None

    def lookup_hash(self, nik: str) -> str:
        return hmac.new(self._hash_key, nik.encode(), hashlib.sha256).hexdigest()


def load_master_key(secret: str, key_file: Path) -> bytes:
    """The key from the environment, else from the key file, else a new key file."""
    if secret:
        return secret.encode()
    if key_file.exists():
        return key_file.read_bytes().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48).encode()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    log.warning(
        "No BOT_SECRET_KEY set: generated a new NIK encryption key in %s. Back it up: without it "
        "the stored NIKs cannot be read. Set BOT_SECRET_KEY in production.",
        key_file,
    )
    return key
