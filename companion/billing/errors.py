"""Errors the billing service raises to front-ends, which render them from the locale files."""

from __future__ import annotations


class BillingError(Exception):
    """Base of billing errors a user can see (as a localised text, never the message)."""


class OfferNotAcceptedError(BillingError):
    """The public offer must be accepted before paying."""


class ContactRequiredError(BillingError):
    """The shop issues 54-FZ receipts: an e-mail or phone is needed before the first payment."""


class InvalidContactError(BillingError):
    """The text is neither an e-mail address nor a phone number."""


class PaymentUnavailableError(BillingError):
    """The payment provider is disabled or unreachable; nothing was charged, try again later."""


class NothingToRefundError(BillingError):
    pass


class NotCancellableError(BillingError):
    """There is no renewing subscription to cancel (or to resume)."""


class AlreadySubscribedError(BillingError):
    """A renewing subscription is already running (until `until`): one per user, so a second
    one is not sold until renewal is turned off (`/subscription`)."""

    def __init__(self, until: object = None) -> None:
        super().__init__("a renewing subscription is already running")
        self.until = until


class StarsRefusedError(BillingError):
    """Telegram refused a Stars request as invalid (Bot API 400: say, a subscription that is no
    longer active): asking again will not help."""
