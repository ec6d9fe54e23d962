"""Stars invoice payloads: `plan:user:nonce:hmac`, so a pre-checkout query or a payment for a
payload we did not issue (or issued to someone else) is refused."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

_SIG_HEX = 20


@dataclass(frozen=True, slots=True)
class InvoicePayload:
    plan_id: str
    user_id: int
    nonce: str


def derive_payload_key(secret: str) -> bytes:
    """A payload signing key from a configured secret (or the bot token)."""
    return hashlib.sha256(b"companion-stars-payload:" + secret.encode()).digest()


class PayloadSigner:
    def __init__(self, signing_key: bytes) -> None:
        self._key = signing_key

    def sign(self, plan_id: str, user_id: int) -> str:
        body = f"{plan_id}:{user_id}:{secrets.token_hex(4)}"
        return f"{body}:{self._signature(body)}"

    def verify(self, payload: str) -> InvoicePayload | None:
        parts = payload.split(":")
        if len(parts) != 4:
            return None
        plan_id, user_id, nonce, signature = parts
        body = f"{plan_id}:{user_id}:{nonce}"
        # Bytes: the payload comes from outside, and compare_digest raises TypeError on a str
        # with non-ASCII characters. isascii: "²".isdigit() is True, but int("²") raises.
        expected = self._signature(body).encode()
        if not hmac.compare_digest(signature.encode("utf-8", "surrogatepass"), expected):
            return None
        if not (user_id.isascii() and user_id.isdigit()):
            return None
        return InvoicePayload(plan_id, int(user_id), nonce)

    def _signature(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:_SIG_HEX]
