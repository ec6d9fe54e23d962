"""Re-sealing stored text after an encryption key rotation (`companion db reencrypt`).

Rotation: set the new key as `privacy.encryption_key` and the old one in
`privacy.previous_encryption_keys`, restart (everything still reads), run the re-encryption,
then drop the old key. Each value is replaced only if it is still the one that was read, so a
concurrent write is never overwritten; a re-run continues where an interrupted one stopped.

With `encrypt_plaintext` it also seals what an earlier release stored in the clear: names,
receipt contacts, saved-card tokens, payment request bodies (a dict, sealed as its JSON), and
removes the unkeyed fingerprints (`text_hash`) facts used to carry (nothing reads them; a
tombstone's old hash cannot be re-keyed, its text being gone, and is still matched).
"""

from __future__ import annotations

import json

from pymongo.asynchronous.database import AsyncDatabase

from companion.storage import collections as c
from companion.storage.crypto import AesGcmCipher
from companion.storage.documents import Document
from companion.storage.users import USERNAME_KEY, username_key


async def reencrypt(
    db: AsyncDatabase[Document], cipher: AesGcmCipher, *, encrypt_plaintext: bool = False
) -> dict[str, int]:
    """Re-seal values under an earlier key (and plaintext, if asked); counts per collection."""
    counts: dict[str, int] = {}
    for collection_name, fields in c.ENCRYPTED_TEXT_FIELDS.items():
        collection = db[collection_name]
        wanted: list[Document] = [{field: {"$type": "binData"}} for field in fields]
        if encrypt_plaintext:
            wanted += [{field: {"$type": ["string", "object"]}} for field in fields]
        changed = 0
        projection = dict.fromkeys(fields, True)
        async for document in collection.find({"$or": wanted}, projection=projection):
            for field in fields:
                value = document.get(field)
                if isinstance(value, dict):  # a JSON field (a payment's request body)
                    plain = json.dumps(value, ensure_ascii=False, sort_keys=True)
                    new_value = cipher.encrypt(plain) if encrypt_plaintext else None
                elif isinstance(value, str):
                    new_value = cipher.encrypt(value) if encrypt_plaintext else None
                else:
                    new_value = cipher.reencrypted(value)
                if new_value is None:
                    continue
                update: Document = {field: new_value}
                if collection_name == c.USERS and field == "username":
                    # The @username index is keyed too: re-key it, or the old key's digest stops
                    # matching once that key is dropped (docs/admin.md).
                    update[USERNAME_KEY] = username_key(cipher, cipher.decrypt(value))
                result = await collection.update_one(
                    {"_id": document["_id"], field: value}, {"$set": update}
                )
                changed += result.modified_count
        counts[collection_name] = changed
    if encrypt_plaintext:
        result = await db[c.MEMORIES].update_many(
            {"text_hash": {"$exists": True}}, {"$unset": {"text_hash": ""}}
        )
        counts["unkeyed fingerprints removed"] = result.modified_count
    return counts
