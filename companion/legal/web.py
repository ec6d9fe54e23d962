"""``GET /legal/{terms,privacy,offer}[?lang=ru|en]`` on the bot's own aiohttp server."""

from __future__ import annotations

from aiohttp import web

from companion.legal.pages import DOCUMENTS, LegalPages, pick_language

_PAGES = web.AppKey("legal_pages", LegalPages)


async def _page(request: web.Request) -> web.Response:
    document = request.match_info["document"]
    if document not in DOCUMENTS:
        raise web.HTTPNotFound()
    pages = request.app[_PAGES]
    language = pick_language(
        request.query.get("lang"), request.headers.get("Accept-Language"), pages.default_language
    )
    return web.Response(
        text=pages.render(document, language),
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Language": language,
            "Cache-Control": "public, max-age=3600",
            "Vary": "Accept-Language",
        },
    )


def setup_legal_routes(app: web.Application, pages: LegalPages) -> None:
    app[_PAGES] = pages
    app.router.add_get("/legal/{document}", _page)
