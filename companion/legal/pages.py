"""Rendering a legal page: which document, in which language, with whose details."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import jinja2

from companion.config import LegalSettings, PlanSettings, Settings

DOCUMENTS = ("terms", "privacy", "offer")
LANGUAGES = ("ru", "en")


class UnknownDocumentError(LookupError):
    pass


@cache
def _environment() -> jinja2.Environment:
    # PackageLoader reads through importlib.resources: found in an installed wheel too.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("companion.legal", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def pick_language(requested: str | None, accept_language: str | None, default: str) -> str:
    """`?lang=` when it is one we have, else the browser's first supported language (Telegram's
    in-app browser sends the app's), else the bot's default."""
    if requested in LANGUAGES:
        return requested
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default


@dataclass(frozen=True, slots=True)
class LegalPages:
    """What the pages print: the operator's details and the plans as sold."""

    legal: LegalSettings
    plans: tuple[PlanSettings, ...]
    default_language: str
    stars_enabled: bool = False
    autopayments: bool = False
    grace_days: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> LegalPages:
        billing = settings.billing
        return cls(
            legal=settings.legal,
            plans=tuple(billing.plans),
            default_language=settings.default_language,
            stars_enabled=billing.stars_enabled,
            autopayments=billing.autopayments,
            grace_days=billing.grace_period_days,
        )

    def render(self, document: str, language: str) -> str:
        if document not in DOCUMENTS or language not in LANGUAGES:
            raise UnknownDocumentError(f"{document}/{language}")
        template = _environment().get_template(f"{language}/{document}.html.j2")
        return template.render(
            lang=language,
            document=document,
            legal=self.legal,
            operator=self.legal.operator_name or self.legal.service_name,
            plans=self.plans,
            stars_enabled=self.stars_enabled,
            autopayments=self.autopayments,
            grace_days=self.grace_days,
        )
