"""The API docs, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served without any CDN.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank on a network without
internet access. Here the assets come from the ``fastapi-offline`` distribution (its ``static/``
folder: ``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js``, ``favicon.png``),
mounted under :data:`ASSETS_PATH`; the pages are FastAPI's (``get_swagger_ui_html``,
``get_redoc_html``) pointed at those local URLs, under ``root_path`` behind a proxy. Swagger UI's
validator badge (which calls an outside host) is off. Each page carries :func:`docs_policy`: its
one inline script allowed by hash, every other script only from this origin.

The app must be built with ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages off);
:func:`install_docs` then adds these.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from monitor.api._pages import docs_policy, html_page, page_headers

__all__ = ["ASSETS_PATH", "DOCS_PATH", "REDOC_PATH", "assets_directory", "install_docs", "router"]

DOCS_PATH: Final = "/docs"
REDOC_PATH: Final = "/redoc"
#: Where the Swagger UI and ReDoc assets are served.
ASSETS_PATH: Final = "/docs/assets"

#: Swagger UI settings: no validator badge (it sends the document's URL to an outside host).
_SWAGGER_PARAMETERS: Final = {"validatorUrl": None, "displayOperationId": True}

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(include_in_schema=False)


def assets_directory() -> Path:
    """The folder of the installed ``fastapi-offline`` holding the Swagger UI and ReDoc assets."""
    return Path(str(files("fastapi_offline") / "static"))


def _page(html: str, *, workers: bool = False) -> HTMLResponse:
    return html_page(html, page_headers(docs_policy(_INLINE_SCRIPT.findall(html), workers=workers)))


@router.get(DOCS_PATH)
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    html = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - API docs",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        oauth2_redirect_url=None, swagger_ui_parameters=_SWAGGER_PARAMETERS,
    ).body
    return _page(bytes(html).decode())


@router.get(REDOC_PATH)
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    html = get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png", with_google_fonts=False,
    ).body
    return _page(bytes(html).decode(), workers=True)


def install_docs(app: FastAPI) -> None:
    """Mount the assets and add ``/docs`` and ``/redoc`` to ``app`` (built with ``docs_url=None, redoc_url=None``)."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("build the app with docs_url=None and redoc_url=None: FastAPI's own pages load a CDN")
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_directory()), name="docs-assets")
    app.include_router(router)
