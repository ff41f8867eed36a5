"""The API docs at /api/docs: Swagger UI from the app's own files, under a policy of its own."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from app.controllers.docs import docs_policy
from tests.helpers import directives


class _AssetLinks(HTMLParser):
    """The URLs a page loads: script sources and link hrefs."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


@pytest.fixture
def docs_assets(client: FlaskClient) -> list[str]:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "SwaggerUIBundle" in page
    assert 'url: "/api/openapi.json"' in page
    parser = _AssetLinks()
    parser.feed(page)
    return parser.urls


def test_docs_page_references_only_local_assets(docs_assets):
    assert docs_assets, "the page loads no assets at all"
    remote = [url for url in docs_assets if url.startswith(("http://", "https://", "//"))]
    assert not remote
    names = {url.rsplit("/", 1)[-1] for url in docs_assets}
    assert names >= {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
    }


def test_docs_page_assets_are_served(app, docs_assets):
    types = {".css": "text/css", ".js": "javascript", ".png": "image/png"}
    client = app.test_client()  # leak-checked too: a PNG is read as text with replacements
    for url in docs_assets:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.get_data(), url
        expected = next(kind for suffix, kind in types.items() if url.endswith(suffix))
        assert expected in response.mimetype, f"{url}: {response.mimetype}"


def inline_hashes(html: str, tag: str) -> list[str]:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'"
        for b in blocks
    ]


@pytest.mark.parametrize("url", ["/api/docs", "/api/docs/oauth2-redirect"])
def test_the_api_docs_have_a_policy_of_their_own(client, url):
    response = client.get(url)
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    scripts, styles = inline_hashes(html, "script"), inline_hashes(html, "style")
    assert scripts, "APIFlask's page runs an inline script: its hash must be allowed"
    # Swagger UI needs its own inline script and style: allowed by hash, nothing else inline.
    assert directives(response.headers["Content-Security-Policy"]) == {
        "default-src": ["'none'"],
        "script-src": ["'self'", *scripts],
        "style-src": ["'self'", *styles],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_api_docs_never_send_the_document_to_swagger_io(client):
    html = client.get("/api/docs").get_data(as_text=True)

    # Swagger UI's default validator would load an image from validator.swagger.io, naming
    # the document's URL; the policy would block it, and the page turns the validator off.
    assert '"validatorUrl": null' in html


def test_docs_policy_allows_each_inline_block_by_its_own_hash():
    html = "<script>one()</script><style>a{}</style><script>two()</script>"

    policy = directives(docs_policy(html))

    assert policy["script-src"] == ["'self'", *inline_hashes(html, "script")]
    assert len(policy["script-src"]) == 3  # both scripts, each by its own hash
    assert policy["style-src"] == ["'self'", *inline_hashes(html, "style")]


def test_docs_can_be_switched_off_and_the_document_stays(aws, settings):
    from app import create_app

    client = create_app({**settings, "DOCS_ENABLED": False}).test_client()

    for path in ("/api/docs", "/api/docs/oauth2-redirect", "/api/docs/assets/swagger-ui.css"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
    assert client.get("/api/openapi.json").json["info"]["title"] == "Users API"


def test_docs_are_on_by_default(client):
    assert client.get("/api/docs").status_code == 200
