"""Sealing chosen fields of a document with the field cipher, for repositories that map a
whole model to a document (profiles, subscriptions, payments).

A sealed text field is stored as the cipher's envelope (BSON binary); a sealed JSON field (a
dict, e.g. the request body kept to repeat a payment request) is stored as the envelope of its
JSON text. Reading accepts both the sealed form and the plaintext written before sealing was
on, so old records keep working until `companion db reencrypt --encrypt-plaintext` (or the
next write) seals them. With encryption at rest off, values are stored as they are.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from companion.storage.crypto import FieldCipher

Document = dict[str, Any]


def seal(
    document: Document,
    fields: Collection[str],
    cipher: FieldCipher,
    *,
    json_fields: Collection[str] = (),
) -> Document:
    """A copy of `document` with `fields` (text) and `json_fields` (dicts) sealed."""
    if not cipher.encrypts:
        return document
    sealed = dict(document)
    for field in fields:
        value = sealed.get(field)
        if isinstance(value, str):
            sealed[field] = cipher.encrypt(value)
    for field in json_fields:
        value = sealed.get(field)
        if isinstance(value, dict):
            sealed[field] = cipher.encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return sealed


def unseal(
    document: Document,
    fields: Collection[str],
    cipher: FieldCipher,
    *,
    json_fields: Collection[str] = (),
) -> Document:
    """A copy of `document` with sealed fields opened (plaintext ones passed through)."""
    opened = dict(document)
    for field in fields:
        value = opened.get(field)
        if value is not None:
            opened[field] = cipher.decrypt(value)
    for field in json_fields:
        value = opened.get(field)
        if isinstance(value, bytes | str):
            opened[field] = json.loads(cipher.decrypt(value))
    return opened
