"""Terms, privacy policy and offer: rendered from the package's templates with the operator's
details and the plans, served over HTTP by the bot's aiohttp routes; the consent screen and the
paywall link to them unless the operator set external pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web

from companion.config import load_settings
from companion.legal.pages import DOCUMENTS, LegalPages
from companion.legal.web import setup_legal_routes
from tests.emulators.telegram.server import free_port

OPERATOR = {
    "operator_name": "ИП Иванов Иван Иванович <b>",
    "tax_id": "771234567890",
    "registration_number": "312774600000011",
    "address": "Москва, ул. Примерная, 1",
    "email": "support@example.ru",
}


@pytest.fixture
async def server() -> AsyncIterator[str]:
    settings = load_settings(legal=OPERATOR, billing={"stars_enabled": True})
    app = web.Application()
    setup_legal_routes(app, LegalPages.from_settings(settings))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_every_page_names_the_operator(server: str, document: str, lang: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server}/legal/{document}", params={"lang": lang}) as response,
    ):
        assert response.status == 200
        assert response.content_type == "text/html"
        assert response.headers["Content-Language"] == lang
        body = await response.text()
    assert f'<html lang="{lang}">' in body
    # The operator's details, escaped: settings are text, never markup.
    assert "ИП Иванов Иван Иванович &lt;b&gt;" in body
    assert "771234567890" in body and "support@example.ru" in body
    # Every page links to the others in its own language.
    for other in DOCUMENTS:
        assert f"/legal/{other}?lang={lang}" in body


async def test_the_offer_lists_the_plans_as_sold(server: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server}/legal/offer?lang=ru") as response,
    ):
        body = await response.text()
    settings = load_settings()
    for plan in settings.billing.plans:
        assert plan.title_for("ru") in body
        assert f"{plan.price_rub} ₽" in body
        assert f"{plan.price_stars} Telegram Stars" in body
    assert Decimal("449.00") in {p.price_rub for p in settings.billing.plans}


async def test_the_language_follows_the_browser_without_lang(server: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{server}/legal/privacy", headers={"Accept-Language": "de-DE,en;q=0.8"}
        ) as response:
            assert response.headers["Content-Language"] == "en"
        async with http.get(f"{server}/legal/privacy") as response:
            # No preference: the bot's default language (ru).
            assert response.headers["Content-Language"] == "ru"
        async with http.get(f"{server}/legal/privacy?lang=xx") as response:
            assert response.status == 200
            assert response.headers["Content-Language"] == "ru"
        async with http.get(f"{server}/legal/cookies") as response:
            assert response.status == 404


def test_links_default_to_the_bots_own_pages() -> None:
    settings = load_settings(telegram={"webhook_url": "https://bot.example.ru/telegram/webhook"})
    assert settings.telegram.terms_url == "https://bot.example.ru/legal/terms"
    assert settings.telegram.privacy_url == "https://bot.example.ru/legal/privacy"
    assert settings.telegram.offer_url == "https://bot.example.ru/legal/offer"
    # Set explicitly: the operator's own pages win; a separate public URL moves the rest.
    custom = load_settings(
        telegram={"terms_url": "https://lawyer.example/terms"},
        legal={"public_url": "https://pages.example.ru/"},
    )
    assert custom.telegram.terms_url == "https://lawyer.example/terms"
    assert custom.telegram.privacy_url == "https://pages.example.ru/legal/privacy"
