"""Swagger UI's own files, served by the app so that `/api/docs` works with no internet."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from apiflask import APIFlask
from flask import Blueprint

ASSETS_URL = "/api/docs/assets"
_DIST = Path(flask_swagger_ui.__file__).parent / "dist"


def init_app(app: APIFlask) -> None:
    """Serve the Swagger UI bundle and point the docs page at it."""
    app.register_blueprint(
        Blueprint("docs_assets", __name__, static_folder=_DIST, static_url_path=ASSETS_URL)
    )
    app.config.update(
        SWAGGER_UI_CSS=f"{ASSETS_URL}/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=f"{ASSETS_URL}/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=f"{ASSETS_URL}/swagger-ui-standalone-preset.js",
        DOCS_FAVICON=f"{ASSETS_URL}/favicon-32x32.png",
    )
