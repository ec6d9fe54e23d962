"""Settings of PRO billing (plans, YooKassa, Telegram Stars) and the legal pages."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field, SecretStr


class PlanSettings(BaseModel):
    """One PRO plan as sold: prices in RUB (YooKassa) and Stars, the period, what it unlocks."""

    id: str
    title: dict[str, str]  # language -> title shown on the buy button and in receipts
    price_rub: Decimal = Field(gt=0, decimal_places=2)
    price_stars: int = Field(gt=0)
    period_days: int = Field(gt=0)
    # Persona modules (companion.domain.personas.Module values) the plan opens.
    unlocks: list[str] = Field(default_factory=lambda: ["partner"])

    def title_for(self, language: str) -> str:
        for lang in (language, "en", "ru"):
            if self.title.get(lang):
                return self.title[lang]
        return self.id


def _default_plans() -> list[PlanSettings]:
    return [
        PlanSettings(
            id="pro_week",
            title={"ru": "PRO на неделю", "en": "PRO for a week"},
            price_rub=Decimal("149.00"),
            price_stars=100,
            period_days=7,
        ),
        PlanSettings(
            id="pro_month",
            title={"ru": "PRO на месяц", "en": "PRO for a month"},
            price_rub=Decimal("449.00"),
            price_stars=300,
            period_days=30,
        ),
    ]


class BillingSettings(BaseModel):
    plans: list[PlanSettings] = Field(default_factory=_default_plans, min_length=1)
    # How long a user's subscription stays cached in Redis for entitlement checks; every change
    # through the billing service drops the cached copy at once.
    entitlement_cache_ttl_s: int = 30
    yookassa_timeout_s: float = 15.0
    # 54-FZ receipt item details (https://yookassa.ru/developers/payment-acceptance/receipts).
    receipt_vat_code: int = 1  # 1: without VAT
    receipt_payment_subject: str = "service"
    receipt_payment_mode: str = "full_payment"
    receipt_tax_system_code: int | None = None
    # Key for signing Stars invoice payloads; unset: derived from the bot token.
    stars_payload_secret: SecretStr | None = None
    # Periodic jobs: renewal + expiry every `jobs_interval_s`, reconciliation of pending payments
    # every `reconcile_interval_s` (payments older than `reconcile_max_age_hours` are left alone).
    jobs_interval_s: float = 300.0
    reconcile_interval_s: float = 120.0
    reconcile_max_age_hours: int = 72
    # Stars: every `stars_reconcile_interval_s` the bot's Stars history (getStarTransactions) is
    # read and what the ledger lacks is credited (or refunded); 0 turns the job off.
    stars_reconcile_interval_s: float = 600.0
    yookassa_shop_id: str | None = None
    yookassa_secret_key: SecretStr | None = None
    yookassa_api_url: str = "https://api.yookassa.ru/v3"
    yookassa_return_url: str = "https://t.me/"
    # Published YooKassa notification sources (https://yookassa.ru/developers/using-api/webhooks).
    yookassa_allowed_ips: list[str] = Field(
        default_factory=lambda: [
            "185.71.76.0/27",
            "185.71.77.0/27",
            "77.75.153.0/25",
            "77.75.156.11/32",
            "77.75.156.35/32",
            "77.75.154.128/25",
            "2a02:5180::/32",
        ]
    )
    trust_forwarded_for: bool = False
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    receipt_required: bool = False
    autopayments: bool = False
    stars_enabled: bool = False
    grace_period_days: int = 3
    renew_before_hours: int = 24
    webhook_path: str = "/yookassa/webhook"

    @property
    def yookassa_enabled(self) -> bool:
        return bool(self.yookassa_shop_id and self.yookassa_secret_key)


class LegalSettings(BaseModel):
    """The operator's details printed in the terms, privacy policy and public offer that the
    bot serves at /legal/{terms,privacy,offer} (templates in companion/legal/templates)."""

    service_name: str = "Companion"
    operator_name: str = ""  # "ИП Иванов Иван Иванович", "ООО «Ромашка»"
    tax_id: str = ""  # ИНН
    registration_number: str = ""  # ОГРН / ОГРНИП
    address: str = ""
    email: str = ""
    effective_date: str = "2026-01-01"
    # Where /legal/* is reachable from the internet; empty: the origin of telegram.webhook_url.
    public_url: str = ""
