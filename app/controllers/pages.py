"""The browser dashboard at `/`: one HTML page over the API, under a strict CSP.

The page and its assets (plain HTML, CSS and JavaScript modules, no build step) live in
`app/static/`, the app's static folder, which Flask serves at `/static/`. Every piece of
user data is inserted as text by the scripts; the Content-Security-Policy below makes the
browser refuse anything else: scripts and styles from this origin only, no inline script or
style, no plugins or frames, and Trusted Types, so that a string assigned to `innerHTML`
throws instead of becoming markup.
"""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, current_app, request

# The page is not part of the API: keep it out of the OpenAPI document.
bp = APIBlueprint("pages", __name__, enable_openapi=False)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        # Every form is sent by script (fetch); a native submission would put the password
        # in a URL, so none is allowed even if the scripts fail to load.
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
# The endpoints that serve the page and its assets (the app's static folder included,
# so that /static/index.html is no way around the policy).
_PAGE_ENDPOINTS = frozenset({"pages.index", "static"})


@bp.get("/")
def index() -> Response:
    """The dashboard: a single page that talks to /api with a bearer token."""
    return current_app.send_static_file("index.html")


@bp.after_app_request
def page_headers(response: Response) -> Response:
    """The CSP and its companions on the page and on everything under /static/."""
    if request.endpoint in _PAGE_ENDPOINTS:
        response.headers.update(PAGE_HEADERS)
    return response
