"""Encryption of the NIK at rest, and the keyed hash that finds duplicates without decrypting.

One master key (BOT_SECRET_KEY, or a key file generated on first run for the embedded default)
is stretched with HKDF into two independent keys: a Fernet key (AES-128-CBC + HMAC-SHA256) for
encryption and an HMAC-SHA256 key for lookup. Losing the master key makes stored NIKs unreadable,
so the key file's creation is logged as a warning telling the operator to back it up.
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
