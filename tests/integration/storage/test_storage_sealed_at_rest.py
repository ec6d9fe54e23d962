"""Names, receipt contacts and saved-card tokens are sealed at rest like message text: read
with the driver, the raw documents hold no plaintext; records written before still read, and
`reencrypt --encrypt-plaintext` seals them."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import bson
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from companion.billing.ledger import PaymentLedger, PaymentRecord, Provider
from companion.billing.subscriptions import SubscriptionStore
from companion.domain.models import Subscription, SubscriptionStatus, User
from companion.storage import collections as c
from companion.storage.crypto import AesGcmCipher, DecryptionError
from companion.storage.reencrypt import reencrypt
from companion.storage.subscriptions import SubscriptionRepository
from companion.storage.users import UserRepository

Db = AsyncDatabase[Any]

NAME, USERNAME, CONTACT = "Ottilie", "ottilie_secret", "ottilie@example.org"
TOKEN = "2c8f1a9e-000f-5000-9000-1d5c0e9b7a31"


def plaintext_in(document: dict[str, Any], *needles: str) -> list[str]:
    raw = bson.encode(document)
    return [needle for needle in needles if needle.encode() in raw]


async def test_profile_names_and_receipt_contact_are_sealed(db: Db, cipher: AesGcmCipher) -> None:
    users = UserRepository(db, cipher)
    await users.get_or_create(User(id=501, first_name=NAME, username=USERNAME))
    await users.upsert(User(id=502, first_name=NAME))
    await users.update(501, receipt_contact=CONTACT, username=USERNAME + "2")

    for user_id in (501, 502):
        raw = await db[c.USERS].find_one({"_id": user_id})
        assert raw is not None
        assert plaintext_in(raw, NAME, USERNAME, CONTACT) == []
        assert isinstance(raw["first_name"], bytes)
    read = await users.get(501)
    assert read is not None
    assert (read.first_name, read.username, read.receipt_contact) == (
        NAME,
        USERNAME + "2",
        CONTACT,
    )
    # Without the key the names cannot be read: they are not merely encoded.
    with pytest.raises(DecryptionError) as refused:
        await UserRepository(db, AesGcmCipher(os.urandom(32))).get(501)
    assert NAME not in str(refused.value)


async def test_a_profile_stored_in_plaintext_still_reads(db: Db, cipher: AesGcmCipher) -> None:
    await db[c.USERS].insert_one({"_id": 503, "first_name": NAME, "language": "en"})
    read = await UserRepository(db, cipher).get(503)
    assert read is not None and read.first_name == NAME


async def test_saved_card_token_is_sealed_in_subscriptions_and_payments(
    db: Db, cipher: AesGcmCipher
) -> None:
    store = SubscriptionStore(db, cipher=cipher)

    def decide(current: Subscription, _version: int) -> Subscription:
        return Subscription(
            user_id=601,
            plan_id="pro_month",
            status=SubscriptionStatus.ACTIVE,
            auto_renew=True,
            provider="yookassa",
            payment_method_id=TOKEN,
        )

    await store.apply(601, "paid:601", "paid", decide)
    await SubscriptionRepository(db, cipher).save(
        Subscription(
            user_id=602,
            plan_id="pro_month",
            status=SubscriptionStatus.ACTIVE,
            payment_method_id=TOKEN,
        )
    )
    ledger = PaymentLedger(db, cipher=cipher)
    record, created = await ledger.create(
        PaymentRecord(
            id="order-1",
            provider=Provider.YOOKASSA,
            user_id=601,
            plan_id="pro_month",
            amount=Decimal("449.00"),
            currency="RUB",
            period_days=30,
            idempotency_key="idem-1",
            request_body={
                "payment_method_id": TOKEN,
                "receipt": {"customer": {"email": CONTACT}},
            },
        )
    )
    assert created
    await ledger.update("order-1", payment_method_id=TOKEN)

    for collection, key in (
        (c.SUBSCRIPTIONS, 601),
        (c.SUBSCRIPTIONS, 602),
        (c.PAYMENTS, "order-1"),
    ):
        raw = await db[collection].find_one({"_id": key})
        assert raw is not None
        assert plaintext_in(raw, TOKEN, CONTACT) == [], (collection, raw)
    sub = await store.get(601)
    assert sub is not None and sub.payment_method_id == TOKEN
    saved = await SubscriptionRepository(db, cipher).get(602)
    assert saved is not None and saved.payment_method_id == TOKEN
    stored = await ledger.get("order-1")
    assert stored is not None and stored.payment_method_id == TOKEN
    assert stored.request_body == record.request_body


async def test_reencrypt_seals_plaintext_names_tokens_and_bodies(
    db: Db, cipher: AesGcmCipher
) -> None:
    # As an earlier release stored them.
    await db[c.USERS].insert_one({"_id": 701, "first_name": NAME, "username": USERNAME})
    await db[c.SUBSCRIPTIONS].insert_one(
        {"_id": 701, "user_id": 701, "plan_id": "p", "status": "active", "payment_method_id": TOKEN}
    )
    body = {"payment_method_id": TOKEN, "receipt": {"customer": {"email": CONTACT}}}
    await db[c.PAYMENTS].insert_one(
        {
            "_id": "order-7",
            "provider": "yookassa",
            "user_id": 701,
            "plan_id": "p",
            "amount": "1.00",
            "currency": "RUB",
            "period_days": 30,
            "idempotency_key": "idem-7",
            "payment_method_id": TOKEN,
            "request_body": body,
        }
    )
    await db[c.MEMORIES].insert_one({"_id": "f1", "user_id": 701, "text_hash": "ab" * 32})

    counts = await reencrypt(db, cipher, encrypt_plaintext=True)
    assert counts[c.USERS] == 2 and counts[c.SUBSCRIPTIONS] == 1 and counts[c.PAYMENTS] == 2
    assert counts["unkeyed fingerprints removed"] == 1
    for collection, key in ((c.USERS, 701), (c.SUBSCRIPTIONS, 701), (c.PAYMENTS, "order-7")):
        raw = await db[collection].find_one({"_id": key})
        assert raw is not None and plaintext_in(raw, NAME, USERNAME, TOKEN, CONTACT) == []
    fact = await db[c.MEMORIES].find_one({"_id": "f1"})
    assert fact is not None and "text_hash" not in fact

    # Everything still reads, with the same values.
    user = await UserRepository(db, cipher).get(701)
    assert user is not None and (user.first_name, user.username) == (NAME, USERNAME)
    sub = await SubscriptionStore(db, cipher=cipher).get(701)
    assert sub is not None and sub.payment_method_id == TOKEN
    payment = await PaymentLedger(db, cipher=cipher).get("order-7")
    assert payment is not None and payment.request_body == body
    assert payment.payment_method_id == TOKEN
