"""The dashboard at /: one HTML page under a strict CSP, every asset local and served.

What a browser does with it is in test_browser.py; these tests need no browser.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import directives

STATIC = Path(__file__).resolve().parent.parent / "app" / "static"
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']""", re.M)
MIMETYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".html": "text/html",
}


class Page(HTMLParser):
    """The parts of an HTML document these tests look at."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]


# What the page and its files must carry, written out here: a test that read the app's own
# constant would agree with any change to it.
PAGE_POLICY = {
    "default-src": ["'none'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "connect-src": ["'self'"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
    "frame-ancestors": ["'none'"],
    "require-trusted-types-for": ["'script'"],
    "trusted-types": ["'none'"],
}
PAGE_COMPANIONS = {
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def assert_page_headers(response, url):
    assert directives(response.headers["Content-Security-Policy"]) == PAGE_POLICY, url
    for name, value in PAGE_COMPANIONS.items():
        assert response.headers.get(name) == value, f"{url}: {name}"


def page_of(client: Any) -> Page:
    return Page(client.get("/").get_data(as_text=True))


def local_assets(client: Any) -> dict[str, Any]:
    """Every file the page loads: its links and scripts, and the modules they import."""
    page = page_of(client)
    pending = [attrs["src"] for attrs in page.all("script")]
    pending += [attrs["href"] for attrs in page.all("link")]
    pending += [attrs["src"] for attrs in page.all("img")]
    found: dict[str, Any] = {}
    while pending:
        url = pending.pop()
        if url in found:
            continue
        assert url.startswith("/static/"), f"{url} is not one of the app's own files"
        response = client.get(url)
        found[url] = response
        if url.endswith(".js"):
            base = url.rsplit("/", 1)[0]
            for target in IMPORT.findall(response.get_data(as_text=True)):
                assert target.startswith("."), f"{url} imports {target}, not a local module"
                pending.append(_resolve(base, target))
    return found


def _resolve(base: str, relative: str) -> str:
    parts = base.split("/")
    for piece in relative.split("/"):
        if piece == "..":
            parts.pop()
        elif piece != ".":
            parts.append(piece)
    return "/".join(parts)


def test_the_page_is_html_with_a_strict_content_security_policy(client):
    response = client.get("/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert_page_headers(response, "/")


@pytest.mark.parametrize(
    "url", ["/static/index.html", "/static/app.js", "/static/style.css", "/static/favicon.svg"]
)
def test_the_page_files_carry_the_same_headers(client, url):
    # /static/index.html is the page itself: no way around the policy.
    response = client.get(url)

    assert response.status_code == 200
    assert_page_headers(response, url)


def test_the_page_revalidates_instead_of_downloading_again(client):
    first = client.get("/")
    assert "no-cache" in first.headers["Cache-Control"]

    again = client.get("/", headers={"If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304


def test_no_inline_script_style_or_handler(client):
    page = page_of(client)

    scripts = page.all("script")
    assert scripts, "the page loads its script"
    assert all(attrs.get("src") and attrs.get("type") == "module" for attrs in scripts)
    assert page.script_text == []
    assert page.all("style") == []
    for tag, attrs in page.elements:
        assert "style" not in attrs, f"<{tag}> has a style attribute"
        handlers = [name for name in attrs if name.startswith("on")]
        assert handlers == [], f"<{tag}> has inline handlers {handlers}"


def test_every_asset_is_local_and_served(client):
    assets = local_assets(client)

    assert {"/static/app.js", "/static/style.css", "/static/favicon.svg"} <= set(assets)
    assert any(url.startswith("/static/js/views/") for url in assets)
    for url, response in assets.items():
        assert response.status_code == 200, url
        assert response.mimetype == MIMETYPES[Path(url).suffix], url
        assert_page_headers(response, url)  # the policy travels with every file of the page


def test_nothing_is_loaded_from_elsewhere(client):
    html = client.get("/").get_data(as_text=True)
    texts = {"/": html}
    texts.update(
        (url, response.get_data(as_text=True))
        for url, response in local_assets(client).items()
        if not url.endswith(".svg")  # its xmlns is a name, not something to load
    )
    for url, text in texts.items():
        # The SVG namespace a script builds the QR code in is a name too (createElementNS).
        text = text.replace('"http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), url
        assert "@import" not in text, url
    for attrs in Page(html).all("a"):
        href = attrs.get("href") or ""
        assert href.startswith("#"), f"a link away from the page: {href}"


def test_scripts_insert_text_never_html():
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|Function\(")
    scripts = sorted(STATIC.rglob("*.js"))
    assert scripts
    for script in scripts:
        code = re.sub(r"//[^\n]*|/\*.*?\*/", "", script.read_text(), flags=re.S)
        assert not sinks.search(code), f"{script.name} builds HTML from strings"


def test_every_field_has_a_label(client):
    page = page_of(client)
    labelled = {attrs.get("for") for attrs in page.all("label")}
    fields = [
        attrs
        for tag, attrs in page.elements
        if tag in ("input", "select", "textarea") and "hidden" not in attrs
    ]

    assert len(fields) > 10
    for attrs in fields:
        assert attrs.get("id") in labelled, f"field {attrs.get('name')} has no label"


def test_the_page_is_not_part_of_the_api_document(client):
    paths = client.get("/api/openapi.json").json["paths"]

    assert "/" not in paths
    assert all(path.startswith("/api/") for path in paths)


def test_the_api_answers_json_without_a_page_policy(client):
    response = client.get("/api/users")

    assert response.status_code == 200
    assert "Content-Security-Policy" not in response.headers


def test_the_page_only_answers_get(client):
    response = client.post("/", json={})

    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert "GET" in response.headers["Allow"]


def test_a_missing_asset_is_a_404(client):
    response = client.get("/static/nothing-here.js")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
