"""Pure rules: allowed transitions, webhook source addresses, receipt contacts, plans."""

from __future__ import annotations

import itertools

import pytest

from companion.billing.errors import InvalidContactError
from companion.billing.plans import PlanCatalog, UnknownPlanError
from companion.billing.service import normalize_contact
from companion.billing.subscriptions import TRANSITIONS, InvalidTransitionError, check_transition
from companion.billing.webhook import SourceFilter
from companion.config import BillingSettings, PlanSettings
from companion.domain.models import SubscriptionStatus as S

ALLOWED = {
    (S.NONE, S.PENDING),
    (S.NONE, S.ACTIVE),
    (S.PENDING, S.PENDING),
    (S.PENDING, S.ACTIVE),
    (S.PENDING, S.NONE),
    (S.PENDING, S.EXPIRED),
    (S.ACTIVE, S.ACTIVE),
    (S.ACTIVE, S.PAST_DUE),
    (S.ACTIVE, S.CANCELLED),
    (S.ACTIVE, S.EXPIRED),
    (S.ACTIVE, S.REFUNDED),
    (S.PAST_DUE, S.ACTIVE),
    (S.PAST_DUE, S.CANCELLED),
    (S.PAST_DUE, S.EXPIRED),
    (S.PAST_DUE, S.REFUNDED),
    (S.CANCELLED, S.ACTIVE),
    (S.CANCELLED, S.EXPIRED),
    (S.CANCELLED, S.REFUNDED),
    (S.EXPIRED, S.PENDING),
    (S.EXPIRED, S.ACTIVE),
    (S.EXPIRED, S.REFUNDED),
    (S.REFUNDED, S.PENDING),
    (S.REFUNDED, S.ACTIVE),
}


@pytest.mark.parametrize(("before", "after"), list(itertools.product(S, S)))
def test_every_transition_is_allowed_or_refused(before, after):
    if (before, after) in ALLOWED:
        check_transition(before, after)
    else:
        with pytest.raises(InvalidTransitionError):
            check_transition(before, after)


def test_table_covers_every_state():
    assert set(TRANSITIONS) == set(S)


def _filter(**kw):
    return SourceFilter(BillingSettings(**kw))


def test_published_yookassa_ranges_are_allowed_and_others_not():
    sources = _filter()
    assert sources.allowed("185.71.76.5")
    assert sources.allowed("77.75.156.11")
    assert sources.allowed("2a02:5180::1")
    assert not sources.allowed("77.75.156.12")
    assert not sources.allowed("8.8.8.8")
    assert not sources.allowed("not-an-ip")
    assert not sources.allowed(None)


def test_forwarded_for_only_from_trusted_proxies_when_enabled():
    off = _filter()
    assert off.client_address("127.0.0.1", "185.71.76.5") == "127.0.0.1"
    on = _filter(trust_forwarded_for=True, trusted_proxies=["10.0.0.0/8"])
    assert on.client_address("10.0.0.7", "185.71.76.5") == "185.71.76.5"
    # A client-supplied first hop before the real one is ignored: right-most untrusted wins.
    assert on.client_address("10.0.0.7", "185.71.76.5, 203.0.113.9") == "203.0.113.9"
    assert on.client_address("10.0.0.7", "185.71.76.5, 10.0.0.3") == "185.71.76.5"
    # A peer that is not our proxy cannot claim an address.
    assert on.client_address("203.0.113.9", "185.71.76.5") == "203.0.113.9"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("User@Example.COM", "user@example.com"),
        ("+7 (900) 123-45-67", "79001234567"),
        ("8 900 123 45 67", "79001234567"),
        ("+44 20 7946 0958", "442079460958"),
    ],
)
def test_contacts_are_normalised(text, expected):
    assert normalize_contact(text) == expected


@pytest.mark.parametrize("text", ["", "hello", "12345", "a@b", "@example.com"])
def test_bad_contacts_are_refused(text):
    with pytest.raises(InvalidContactError):
        normalize_contact(text)


def test_plan_catalog():
    catalog = PlanCatalog(BillingSettings().plans)
    assert [plan.id for plan in catalog] == ["pro_week", "pro_month"]
    assert catalog.get("pro_month").period_days == 30
    assert catalog.get("pro_week").title_for("ru") == "PRO на неделю"
    with pytest.raises(UnknownPlanError):
        catalog.get("gold")
    assert "partner" in catalog.unlocked_modules("gone")  # withdrawn plan keeps its access


def test_plan_catalog_refuses_bad_plans():
    plan = PlanSettings(id="a", title={"en": "A"}, price_rub="1.00", price_stars=1, period_days=1)
    with pytest.raises(ValueError, match="twice"):
        PlanCatalog([plan, plan])
    with pytest.raises(ValueError, match="unknown module"):
        PlanCatalog([plan.model_copy(update={"unlocks": ["vip"]})])
