from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import SecretStr

from companion.config import Environment, PrivacySettings
from companion.storage.crypto import (
    AesGcmCipher,
    DecryptionError,
    EncryptionKeyError,
    PlaintextCipher,
    generate_key,
    load_cipher,
    read_or_create_key_file,
)


def _key() -> bytes:
    return os.urandom(32)


def test_round_trip_and_fresh_nonce_per_value() -> None:
    cipher = AesGcmCipher(_key())
    text = "Привет, я переехала в Казань 🏙"
    first, second = cipher.encrypt(text), cipher.encrypt(text)
    assert isinstance(first, bytes)
    assert first != second  # random nonce: equal texts do not give equal ciphertexts
    assert first[0] == 1  # version byte
    assert text.encode() not in first
    assert cipher.decrypt(first) == text
    assert cipher.decrypt(second) == text


def test_plaintext_written_before_a_key_still_reads() -> None:
    legacy = PlaintextCipher().encrypt("written without a key")
    assert legacy == "written without a key"
    assert AesGcmCipher(_key()).decrypt(legacy) == "written without a key"


def test_text_that_looks_like_a_ciphertext_stays_text() -> None:
    sealed = AesGcmCipher(_key()).encrypt("x")
    assert isinstance(sealed, bytes)
    looks_encrypted = "\x01" + base64.b64encode(sealed).decode()
    assert AesGcmCipher(_key()).decrypt(looks_encrypted) == looks_encrypted


def test_wrong_key_or_tampering_is_refused() -> None:
    sealed = AesGcmCipher(_key()).encrypt("secret")
    assert isinstance(sealed, bytes)
    with pytest.raises(DecryptionError, match="key"):
        AesGcmCipher(_key()).decrypt(sealed)
    cipher = AesGcmCipher(_key())
    good = cipher.encrypt("secret")
    assert isinstance(good, bytes)
    tampered = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered)
    with pytest.raises(DecryptionError, match="no encryption key"):
        PlaintextCipher().decrypt(good)


def test_pseudonym_is_stable_keyed_and_hides_the_id() -> None:
    key = _key()
    a, b = AesGcmCipher(key), AesGcmCipher(key)
    assert a.pseudonym(42) == b.pseudonym(42)
    assert a.pseudonym(42) != a.pseudonym(43)
    assert a.pseudonym(42) != AesGcmCipher(_key()).pseudonym(42)
    # Not the unkeyed hash anyone could compute for every Telegram id.
    assert a.pseudonym(42) != PlaintextCipher().pseudonym(42)
    assert len(a.pseudonym(42)) == 64


def test_configured_key_is_used(tmp_path: Path) -> None:
    key = generate_key()
    privacy = PrivacySettings(encryption_key=SecretStr(key), key_file=tmp_path / "unused.key")
    cipher = load_cipher(privacy, Environment.PRODUCTION)
    assert cipher.encrypts
    sealed = cipher.encrypt("hello")
    assert AesGcmCipher(base64.b64decode(key)).decrypt(sealed) == "hello"
    assert not (tmp_path / "unused.key").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64 at all!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "32 bytes, got 5"),
        (base64.b64encode(os.urandom(48)).decode(), "32 bytes, got 48"),
    ],
)
def test_malformed_configured_key_gives_a_clear_error(value: str, message: str) -> None:
    privacy = PrivacySettings(encryption_key=SecretStr(value))
    with pytest.raises(EncryptionKeyError, match=message) as info:
        load_cipher(privacy, Environment.DEVELOPMENT)
    assert "privacy.encryption_key" in str(info.value)
    assert value not in str(info.value)  # the secret is never echoed


def test_key_file_created_with_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "secret.key"
    privacy = PrivacySettings(key_file=path)
    first = load_cipher(privacy, Environment.DEVELOPMENT)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text().strip())) == 32
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temp file left
    second = load_cipher(privacy, Environment.DEVELOPMENT)
    assert second.decrypt(first.encrypt("same key")) == "same key"


def test_concurrent_creation_yields_one_key(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda _: read_or_create_key_file(path), range(16)))
    assert len(set(keys)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_key_file_with_wide_permissions_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_text(generate_key())
    path.chmod(0o644)
    with pytest.raises(EncryptionKeyError, match="chmod 600"):
        load_cipher(PrivacySettings(key_file=path), Environment.DEVELOPMENT)


def test_key_file_of_wrong_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_text(base64.b64encode(os.urandom(16)).decode())
    path.chmod(0o600)
    with pytest.raises(EncryptionKeyError, match="32 bytes, got 16"):
        load_cipher(PrivacySettings(key_file=path), Environment.DEVELOPMENT)
    path.write_bytes(os.urandom(4096))
    with pytest.raises(EncryptionKeyError, match="4096 bytes"):
        load_cipher(PrivacySettings(key_file=path), Environment.DEVELOPMENT)


def test_production_never_creates_a_key_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    with pytest.raises(EncryptionKeyError, match="production"):
        load_cipher(PrivacySettings(key_file=path), Environment.PRODUCTION)
    assert not path.exists()


def test_encryption_off_stores_plaintext(tmp_path: Path) -> None:
    cipher = load_cipher(
        PrivacySettings(encrypt_at_rest=False, key_file=tmp_path / "k"), Environment.DEVELOPMENT
    )
    assert not cipher.encrypts
    assert cipher.encrypt("plain") == "plain"
    assert not (tmp_path / "k").exists()


def test_previous_keys_read_old_data_and_new_data_uses_the_new_key() -> None:
    old_key, new_key = _key(), _key()
    old_value = AesGcmCipher(old_key).encrypt("written under the old key")
    rotated = AesGcmCipher(new_key, previous_keys=[old_key])
    assert rotated.decrypt(old_value) == "written under the old key"
    new_value = rotated.encrypt("new")
    assert AesGcmCipher(new_key).decrypt(new_value) == "new"
    with pytest.raises(DecryptionError):
        AesGcmCipher(old_key).decrypt(new_value)
    resealed = rotated.reencrypted(old_value)
    assert resealed is not None
    assert AesGcmCipher(new_key).decrypt(resealed) == "written under the old key"
    assert rotated.reencrypted(new_value) is None  # already under the current key
    assert rotated.reencrypted("plain") is None


def test_previous_keys_come_from_settings(tmp_path: Path) -> None:
    old = generate_key()
    old_value = AesGcmCipher(base64.b64decode(old)).encrypt("old")
    privacy = PrivacySettings(
        encryption_key=SecretStr(generate_key()),
        previous_encryption_keys=[SecretStr(old)],
    )
    assert load_cipher(privacy, Environment.PRODUCTION).decrypt(old_value) == "old"
    # The key file path gets them too.
    from_file = load_cipher(
        PrivacySettings(key_file=tmp_path / "k", previous_encryption_keys=[SecretStr(old)]),
        Environment.DEVELOPMENT,
    )
    assert from_file.decrypt(old_value) == "old"
    with pytest.raises(EncryptionKeyError, match=r"previous_encryption_keys\[0\]"):
        load_cipher(
            PrivacySettings(
                encryption_key=SecretStr(generate_key()),
                previous_encryption_keys=[SecretStr("bad")],
            ),
            Environment.DEVELOPMENT,
        )


def test_fingerprint_is_keyed_stable_and_survives_a_rotation() -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = AesGcmCipher(old_key)
    text = "the user is allergic to penicillin"
    assert old.fingerprint(text) == AesGcmCipher(old_key).fingerprint(text)  # stable
    # Keyed: without the key a guess cannot be checked against the stored digest.
    assert old.fingerprint(text) != hashlib.sha256(text.encode()).hexdigest()
    assert old.fingerprint(text) != AesGcmCipher(new_key).fingerprint(text)
    # Its own sub-key: neither the pseudonym key nor a plain HMAC under the encryption key.
    assert old.fingerprint(text) != hmac.new(old_key, text.encode(), hashlib.sha256).hexdigest()
    # After a rotation, digests made under the earlier key still match.
    rotated = AesGcmCipher(new_key, previous_keys=[old_key])
    assert rotated.fingerprints(text) == (
        AesGcmCipher(new_key).fingerprint(text),
        old.fingerprint(text),
    )
    assert rotated.fingerprint(text) == AesGcmCipher(new_key).fingerprint(text)
