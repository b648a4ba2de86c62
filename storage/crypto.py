"""Encryption of the NIK at rest, and the keyed hash that finds duplicates without decrypting.

One master key (BOT_SECRET_KEY, or a key file generated on first run for the embedded default)
is stretched with HKDF into independent keys: an AES-256-GCM key for encryption, an HMAC-SHA256
key for lookup, another that signs the codes of recruitment links, and a public fingerprint (from which no key can be recovered) that the database
stores so that a start-up with another key is refused before anything is written
(storage/keyring.py).

A token is "g1:" and the URL-safe base64 of a random 96-bit nonce followed by the AES-GCM
ciphertext and its 128-bit tag (authenticated: a changed token does not decrypt). Every update
encrypts its payload and its replies, so the cipher's cost is paid several times per message:
AES-GCM takes about 3 microseconds where Fernet took 50. Values written before (Fernet tokens,
"gAAAA...", under a Fernet key derived from the same master key) still decrypt, and `python -m
bot keys rotate` rewrites them in the new form. Losing the master key makes stored NIKs
unreadable, so the key file's creation is logged as a warning telling the operator exactly how
to keep it.

Log lines name people with `who(channel_user)`: a short keyed hash ("wa#1f3a9c0b2e"), stable for
one master key, so one person's lines can be followed without their phone number or platform id
ever reaching a log. Its key is another HKDF derivation (`use_for_logs`, at start); before that a
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

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sijunjung-bot/" + purpose).derive(master)


_log_key = secrets.token_bytes(32)
PSEUDONYM_HEX = 10
# The mark of a token of this module's AES-GCM form (not a base64 character: never a Fernet token).
GCM_PREFIX = "g1:"
NONCE_BYTES = 12


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
    """Encrypts and decrypts the personal data stored (NIKs, conversation drafts, inbox payloads,
    queued messages); `lookup_hash` finds a NIK without decrypting anything."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < 32:
            raise ValueError("the master key must be at least 32 bytes")
        self._gcm = AESGCM(_derive(master_key, b"data-encryption-aes-gcm"))
        # Reads what earlier versions wrote; nothing new is written with it.
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(master_key, b"nik-encryption")))
        self._hash_key = _derive(master_key, b"nik-lookup")
        self.fingerprint = _derive(master_key, b"key-fingerprint")[:12].hex()
        # Signs the codes of recruitment links (conversations/links.py): a key of its own, so a
        # code (public, on every poster) says nothing about the keys that protect NIKs. It
        # changes with the master key: after `keys rotate`, links made before no longer verify
        # (they start an ordinary conversation) and posters are printed again.
        self.link_key = _derive(master_key, b"recruitment-link-signature")

    def encrypt(self, text: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._gcm.encrypt(nonce, text.encode(), None)
        return GCM_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._open(token).decode()
        except (InvalidToken, InvalidTag, ValueError, UnicodeDecodeError):
            raise ValueError("ciphertext cannot be decrypted with this key") from None

    def can_decrypt(self, token: str) -> bool:
        try:
            self._open(token)
        except (InvalidToken, InvalidTag, ValueError):
            return False
        return True

    def is_current(self, token: str) -> bool:
        """Whether `token` is in the form `encrypt` writes now (a rotation rewrites the others)."""
        return token.startswith(GCM_PREFIX)

    def _open(self, token: str) -> bytes:
        if not token.startswith(GCM_PREFIX):
            return self._fernet.decrypt(token.encode())
        raw = base64.urlsafe_b64decode(token[len(GCM_PREFIX):])
        if len(raw) < NONCE_BYTES + 16:
            raise ValueError("token too short")
        return self._gcm.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None)

    def lookup_hash(self, nik: str) -> str:
        return hmac.new(self._hash_key, nik.encode(), hashlib.sha256).hexdigest()


KEY_ADVICE = (
    "Keep it: put BOT_SECRET_KEY=$(cat {path}) in the environment of every process (.env or the "
    "service's environment file) and store a copy of the key outside this machine, apart from the "
    "database backups; without it the stored NIKs cannot be read."
)


def private_dir(path: Path) -> None:
    """Create a folder (and missing parents) readable by this user only (0700)."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)


def private_file(path: Path) -> None:
    """Create an empty file readable by this user only (0600), or tighten an existing one."""
    private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def load_master_key(secret: str, key_file: Path) -> bytes:
    """The key from the environment, else from the key file, else a new key file (0600)."""
    if secret:
        return secret.encode()
    if key_file.exists():
        return read_key_file(key_file)
    return write_key_file(key_file, new_master_key())


def read_key_file(key_file: Path) -> bytes:
    """A key file's key. Refused (ValueError) when other users may read the file: the key opens
    every NIK, so it must be this user's alone."""
    if key_file.stat().st_mode & 0o077:
        raise ValueError(f"the key file {key_file} can be read by other users: run chmod 600 {key_file}")
    key = key_file.read_bytes().strip()
    if len(key) < 32:
        raise ValueError(f"the key file {key_file} holds fewer than 32 characters")
    return key


def write_key_file(key_file: Path, key: bytes) -> bytes:
    """Store a newly generated key (0600, in a 0700 folder) and say how to keep it; returns the
    key in the file (another process starting at the same moment may have written its own)."""
    private_dir(key_file.parent)
    # Written aside, then linked into place: processes starting at once never read half a key,
    # and the first one's key wins.
    draft = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(draft, key_file)
    except FileExistsError:
        return key_file.read_bytes().strip()
    finally:
        draft.unlink()
    log.warning(
        "No BOT_SECRET_KEY set: generated a new NIK encryption key in %s. %s", key_file,
        KEY_ADVICE.format(path=key_file))
    return key


def new_master_key() -> bytes:
    return secrets.token_urlsafe(48).encode()


def replace_key_file(key_file: Path, new_key: bytes) -> Path | None:
    """After `keys rotate`: the key file holds the new key, replaced atomically (written aside,
    synced, renamed over it: a reader sees the old key or the new, never half of one), and the
    old key is kept beside it as `<name>.old` (0600): backups made before need it. An earlier
    `.old` holding another key is first moved to `.old.2`, `.old.3`, ...: no key is ever lost.
    Returns the `.old` file, or None when the file already held the new key."""
    old_key = read_key_file(key_file)
    if old_key == new_key:
        return None
    kept = key_file.with_name(key_file.name + ".old")
    if kept.exists() and kept.read_bytes().strip() != old_key:
        n = 2
        while kept.with_name(f"{kept.name}.{n}").exists():
            n += 1
        os.rename(kept, kept.with_name(f"{kept.name}.{n}"))
    _write_atomically(kept, old_key)
    _write_atomically(key_file, new_key)
    return kept


def _write_atomically(path: Path, data: bytes) -> None:
    """`data` in `path` (0600), or `path` unchanged if anything fails before the rename."""
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(draft, path)
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)
