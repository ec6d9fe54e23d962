"""Field encryption at rest: AES-256-GCM for message text, summaries, facts, names and tokens.

Besides sealing text, the cipher derives (HKDF) two keyed digests from the encryption key:
`pseudonym` (a user id that cannot be reversed, for records kept after erasure) and
`fingerprint` (equality checks on text stored encrypted, e.g. "was this fact deleted?").

An encrypted value is stored as BSON binary: one version byte, a random 96-bit nonce, then the
ciphertext with its 16-byte tag. Plaintext is stored as a BSON string. The two types never
overlap, so text written before a key was configured still reads after one is, and a user who
types something that looks like a ciphertext is never mistaken for one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from companion.config import Environment, PrivacySettings

log = logging.getLogger(__name__)

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
VERSION_AES_GCM_V1: Final = 1

# A stored field value: plaintext (str) or an encrypted envelope (bytes).
StoredText = str | bytes


class EncryptionKeyError(ValueError):
    """The encryption key or key file is missing, malformed or unsafe."""


class DecryptionError(RuntimeError):
    """A stored value could not be decrypted (wrong key, or the data was altered)."""


class FieldCipher(Protocol):
    """What repositories use to store text fields; see `PlaintextCipher` and `AesGcmCipher`."""

    @property
    def encrypts(self) -> bool: ...

    def encrypt(self, text: str) -> StoredText: ...

    def decrypt(self, value: object) -> str: ...

    def pseudonym(self, user_id: int) -> str:
        """A stable id that does not reveal the user id (keyed when a key is configured)."""
        ...

    def fingerprint(self, text: str) -> str:
        """A stable keyed digest of `text` (HMAC-SHA256 when a key is configured), for equality
        checks on text that is stored encrypted: without the key a guess cannot be confirmed."""
        ...

    def fingerprints(self, text: str) -> tuple[str, ...]:
        """`fingerprint(text)` under the current key first, then under each previous key, so a
        digest stored before a key rotation still matches."""
        ...


class PlaintextCipher:
    """Plaintext storage: what runs when encryption at rest is switched off."""

    @property
    def encrypts(self) -> bool:
        return False

    def encrypt(self, text: str) -> StoredText:
        return text

    def decrypt(self, value: object) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bytes):
            raise DecryptionError(
                "found encrypted data but no encryption key is configured "
                "(set COMPANION_PRIVACY__ENCRYPTION_KEY or the key file)"
            )
        raise DecryptionError(f"cannot read a stored text of type {type(value).__name__}")

    def pseudonym(self, user_id: int) -> str:
        # Without a key this is only a hash: Telegram ids are guessable, so it is weak. Production
        # always has a key (Settings refuses to start without one).
        return hashlib.sha256(f"companion-user:{user_id}".encode()).hexdigest()

    def fingerprint(self, text: str) -> str:
        # Unkeyed, like the pseudonym: only for development without encryption at rest.
        return hashlib.sha256(b"companion-text:" + text.encode("utf-8")).hexdigest()

    def fingerprints(self, text: str) -> tuple[str, ...]:
        return (self.fingerprint(text),)


def _derive(key: bytes, purpose: bytes) -> bytes:
    """A sub-key for one purpose (HKDF-SHA256): the encryption key itself is never reused."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key)


class AesGcmCipher:
    """AES-256-GCM with a fresh random nonce per value."""

    def __init__(self, key: bytes, *, previous_keys: Sequence[bytes] = ()) -> None:
        for candidate in (key, *previous_keys):
            if len(candidate) != KEY_BYTES:
                raise EncryptionKeyError(
                    f"an encryption key must be {KEY_BYTES} bytes, not {len(candidate)}"
                )
        self._aead = AESGCM(key)
        # After a key rotation, data written with an earlier key still reads until re-encrypted.
        self._previous = [AESGCM(old) for old in previous_keys if old != key]
        self._pseudonym_key = _derive(key, b"companion user pseudonym")
        # One fingerprint key per encryption key, current first: after a rotation digests made
        # under the earlier key keep matching until the data they guard is rewritten.
        self._fingerprint_keys = [
            _derive(candidate, b"companion text fingerprint")
            for candidate in dict.fromkeys((key, *previous_keys))
        ]

    @property
    def encrypts(self) -> bool:
        return True

    def encrypt(self, text: str) -> StoredText:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), None)
        return bytes([VERSION_AES_GCM_V1]) + nonce + sealed

    def decrypt(self, value: object) -> str:
        if isinstance(value, str):
            return value  # written before encryption was switched on
        return self._open(value)[0]

    def reencrypted(self, value: object) -> StoredText | None:
        """`value` sealed with the current key if it was under an earlier one, else None."""
        if not isinstance(value, bytes):
            return None
        text, current = self._open(value)
        return None if current else self.encrypt(text)

    def _open(self, value: object) -> tuple[str, bool]:
        """The text, and whether it was sealed with the current key."""
        if not isinstance(value, bytes):
            raise DecryptionError(f"cannot read a stored text of type {type(value).__name__}")
        if len(value) < 1 + NONCE_BYTES + 16 or value[0] != VERSION_AES_GCM_V1:
            raise DecryptionError("stored value is not a known encrypted format")
        nonce, sealed = value[1 : 1 + NONCE_BYTES], value[1 + NONCE_BYTES :]
        for index, aead in enumerate((self._aead, *self._previous)):
            try:
                return aead.decrypt(nonce, sealed, None).decode("utf-8"), index == 0
            except InvalidTag:
                continue
        raise DecryptionError(
            "stored text could not be decrypted: the encryption key differs from the one "
            "it was written with (set privacy.previous_encryption_keys after a rotation), "
            "or the data was altered"
        )

    def pseudonym(self, user_id: int) -> str:
        return hmac.new(self._pseudonym_key, str(user_id).encode(), hashlib.sha256).hexdigest()

    def fingerprint(self, text: str) -> str:
        return self.fingerprints(text)[0]

    def fingerprints(self, text: str) -> tuple[str, ...]:
        data = text.encode("utf-8")
        return tuple(
            hmac.new(key, data, hashlib.sha256).hexdigest() for key in self._fingerprint_keys
        )


def generate_key() -> str:
    """A new key in the form `privacy.encryption_key` expects (base64 of 32 random bytes)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def decode_key(text: str, *, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EncryptionKeyError(f"{source} is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise EncryptionKeyError(
            f"{source} must be base64 of {KEY_BYTES} bytes, got {len(key)} bytes "
            "(generate one with: python -c 'import base64,os;"
            "print(base64.b64encode(os.urandom(32)).decode())')"
        )
    return key


def load_cipher(privacy: PrivacySettings, environment: Environment) -> FieldCipher:
    """The cipher the settings ask for: configured key, else the key file, else plaintext."""
    previous = [
        decode_key(old.get_secret_value(), source=f"privacy.previous_encryption_keys[{index}]")
        for index, old in enumerate(privacy.previous_encryption_keys)
    ]
    if privacy.encryption_key is not None:
        key = decode_key(privacy.encryption_key.get_secret_value(), source="privacy.encryption_key")
        return AesGcmCipher(key, previous_keys=previous)
    if not privacy.encrypt_at_rest:
        log.warning("encryption at rest is off: message text is stored in plaintext")
        return PlaintextCipher()
    if environment is Environment.PRODUCTION:
        # Settings already refuse this; kept so a hand-built PrivacySettings cannot slip through.
        raise EncryptionKeyError("privacy.encryption_key must be set in production")
    return AesGcmCipher(read_or_create_key_file(privacy.key_file), previous_keys=previous)


def read_or_create_key_file(path: Path) -> bytes:
    """The key in `path`, created (0600, atomically) when the file does not exist yet."""
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(generate_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # link() never replaces an existing file: if another process created the key first,
            # we use theirs instead of overwriting a key that may already protect data.
            os.link(temp, path)
            log.info("created encryption key file %s", path)
        except FileExistsError:
            pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    _fsync_directory(path.parent)
    return _read_key_file(path)


def _read_key_file(path: Path) -> bytes:
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise EncryptionKeyError(f"key file {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise EncryptionKeyError(
            f"key file {path} has permissions {mode:04o}; it must be readable by its owner "
            f"only (chmod 600 {path})"
        )
    if info.st_size > 1024:
        raise EncryptionKeyError(
            f"key file {path} is {info.st_size} bytes; expected one base64 line of a "
            f"{KEY_BYTES}-byte key"
        )
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as exc:
        raise EncryptionKeyError(f"key file {path} is not a base64 text key") from exc
    return decode_key(text, source=f"key file {path}")


def _fsync_directory(directory: Path) -> None:
    # Make the new directory entry durable; not possible on every platform, hence best effort.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
