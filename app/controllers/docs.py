"""Swagger UI at `/api/docs`: its own files served by the app (no internet), under a CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import flask_swagger_ui
from apiflask import APIFlask
from flask import Blueprint, Response, request

ASSETS_URL = "/api/docs/assets"
_DIST = Path(flask_swagger_ui.__file__).parent / "dist"
# APIFlask renders the docs pages with an inline script (and style) of its own.
_DOCS_ENDPOINTS = frozenset({"openapi.docs", "openapi.swagger_ui_oauth_redirect"})
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.S)


def docs_policy(html: str) -> str:
    """The docs page's CSP: its own files, and only the inline code it was served with."""
    hashes: dict[str, str] = {"script": "", "style": ""}
    for tag, code in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
        hashes[tag] += f" 'sha256-{digest}'"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self'{hashes['script']}",
            # Swagger UI sets styles from its script (allowed); the page's own block is hashed.
            f"style-src 'self'{hashes['style']}",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def init_app(app: APIFlask) -> None:
    """Serve the Swagger UI bundle, point the docs page at it, and give the page its CSP."""
    app.register_blueprint(
        Blueprint("docs_assets", __name__, static_folder=_DIST, static_url_path=ASSETS_URL)
    )
    app.config.update(
        SWAGGER_UI_CSS=f"{ASSETS_URL}/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=f"{ASSETS_URL}/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=f"{ASSETS_URL}/swagger-ui-standalone-preset.js",
        DOCS_FAVICON=f"{ASSETS_URL}/favicon-32x32.png",
        # Swagger UI would otherwise send the document's URL to validator.swagger.io.
        SWAGGER_UI_CONFIG={"validatorUrl": None},
    )

    @app.after_request
    def docs_headers(response: Response) -> Response:
        if request.endpoint in _DOCS_ENDPOINTS and response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = docs_policy(response.get_data(True))
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["X-Frame-Options"] = "DENY"
        return response
