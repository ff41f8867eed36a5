"""The dashboard at / in a real browser: headless Chromium driven by Selenium.

One server (run.py, as `make run` starts it: embedded DynamoDB, a free port) and one
browser serve the whole module. The embedded DynamoDB keeps its data across the tests, so
each test makes its own users (unique names) and none depends on another's; only the
first two read the starting state (the two demo users, then a third). The server mails
through SMTP to a Mailbox on loopback (tests/mailbox.py), where a test reads the links sent
to its own user's address. A second server, with REQUIRE_VERIFIED_EMAIL, starts for the one
test that needs it, and a third, with a REAUTH_WINDOW of a few seconds (the first one's is
0), for the passkey in the password dialog. The passkey scenarios open their server at
`localhost` (an IP address is no WebAuthn relying party) with a virtual authenticator in the
browser.

Needs the distribution's Chromium and its driver (`apt-get install chromium
chromium-driver`); without them the module is skipped with that hint. `.ci/run` installs
them, so CI always runs these tests. Screenshots go to BROWSER_SCREENSHOTS (a directory)
when it is set, else to pytest's temporary directory.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from base64 import urlsafe_b64decode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from app.serving import child_environment, free_port, http_call, stop_process, wait_for_port
from tests.conftest import java_or_skip
from tests.mailbox import Mailbox, link_in

try:
    from selenium import webdriver
    from selenium.common.exceptions import (
        NoAlertPresentException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.common.virtual_authenticator import (
        Credential,
        VirtualAuthenticatorOptions,
    )
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - depends on the machine
    webdriver = None

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL_HINT = (
    "install them with `sudo apt-get install chromium chromium-driver` (Debian, Ubuntu), "
    "or point CHROMIUM_BINARY and CHROMEDRIVER at a Chromium and its matching chromedriver"
)


def _cannot_run(reason: str) -> None:
    """Skip the module on a developer's machine; fail the run where browsers are required.

    CI sets REQUIRE_BROWSER=1 (in .ci/run): there a missing browser must turn the run red,
    not quietly shrink it by these tests.
    """
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1, but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


if webdriver is None:
    _cannot_run("browser tests need Selenium: .venv/bin/pip install -r requirements-dev.txt")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    _cannot_run(
        f"browser tests need Chromium ({CHROMIUM}) and chromedriver ({CHROMEDRIVER}): "
        + INSTALL_HINT
    )

WAIT_SECONDS = 10
DESKTOP = {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False}
PHONE = {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True}
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
# The API answers these on purpose in the scenarios; Chromium logs each as a failed load.
EXPECTED_API_ERROR = re.compile(
    r"/api/\S* - Failed to load resource: the server responded with a status of "
    r"(400|401|403|404|409|422|429) "
)


# --- the server and the browser -------------------------------------------------------


def call(
    base: str, method: str, path: str, body: dict | None = None, token: str | None = None
) -> tuple[int, Any]:
    """One API request from the test itself (setting up, checking); (status, JSON body)."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    port = int(base.rsplit(":", 1)[1])
    answer = http_call(port, method, path, body=body, headers=headers, timeout=WAIT_SECONDS)
    return answer.status, answer.body


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    """The SMTP server the dashboard's servers mail to."""
    with Mailbox() as box:
        yield box


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[str]:
    """run.py in a subprocess, as `make run` starts it, mailing to `mailbox`: its base URL."""
    yield from _serve(tmp_path_factory, mailbox=mailbox)


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[str]:
    """The same with REQUIRE_VERIFIED_EMAIL: no sign-in before the address is verified.

    One mail asked for a minute from an address, so that its one test also meets the 429.
    """
    yield from _serve(
        tmp_path_factory,
        mailbox=mailbox,
        REQUIRE_VERIFIED_EMAIL="true",
        RATELIMIT_MAIL="1 per minute",
    )


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same with DYNAMODB_ENGINE=local: Amazon's DynamoDB Local under the page."""
    java_or_skip()
    data = tmp_path_factory.mktemp("dynamodb")
    yield from _serve(tmp_path_factory, DYNAMODB_ENGINE="local", DYNAMODB_LOCAL_PATH=str(data))


def _serve(
    tmp_path_factory: pytest.TempPathFactory, *, mailbox: Mailbox | None = None, **settings: str
) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The mailed links lead back to this very server.
    mail = (
        {
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(mailbox.port),
            "SMTP_SECURITY": "none",
            "PUBLIC_URL": base,
        }
        if mailbox
        else {}
    )
    env = child_environment(
        {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PYTHONUNBUFFERED": "1",
            # Many logins and registrations from one address in a few seconds.
            "RATELIMIT_LOGIN": "1000 per minute",
            "RATELIMIT_REGISTER": "1000 per minute",
            # And many mails asked for, and links used, from it.
            "RATELIMIT_MAIL": "1000 per minute",
            "RATELIMIT_TOKENS": "1000 per minute",
            # The testing cost: the page's behaviour does not depend on it, the run time does.
            "BCRYPT_ROUNDS": "4",
            # Every email change and own deletion asks for the password: the page must cope.
            "REAUTH_WINDOW": "0",
            **mail,
            **settings,
        }
    )
    log_path = tmp_path_factory.mktemp("server") / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for_port(port, process=process, seconds=60)
        except RuntimeError as exc:
            pytest.fail(f"{exc}:\n{log_path.read_text()}")
        # The first /api/users creates the tables and seeds the demo users.
        assert call(base, "GET", "/api/users")[0] == 200
        yield base
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """Headless Chromium from the distribution, with its console log kept."""
    # Selenium logs every WebDriver command (typed passwords included) at DEBUG.
    quiet = {name: logging.getLogger(name) for name in ("selenium", "urllib3")}
    levels = {name: logger.level for name, logger in quiet.items()}
    for logger in quiet.values():
        logger.setLevel(logging.WARNING)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root, in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        # No calls home: this machine's network refuses them, and tests need no noise.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,800",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", DESKTOP)
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
        for name, logger in quiet.items():
            logger.setLevel(levels[name])


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: BROWSER_SCREENSHOTS, or a temporary directory."""
    target = os.environ.get("BROWSER_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Dashboard:
    """The page, as a person uses it: forms, links, buttons, and what they read."""

    def __init__(self, driver: Any, base: str) -> None:
        self.driver = driver
        self.base = base
        self.wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05)

    # finding and reading
    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.find(css).text

    def wait_for_text(self, css: str, text: str) -> None:
        self.wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))

    def wait_for_view(self, heading: str) -> None:
        self.wait_for_text("#view h1", heading)

    def visible(self, css: str) -> WebElement:
        return self.wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def shows_address(self, fragment: str) -> bool:
        """Whether the address bar reads exactly base/`fragment` (a bool: a failure then
        prints no address, which may hold a mailed token)."""
        return self.driver.current_url == f"{self.base}/{fragment}"

    def token(self) -> str | None:
        return self.driver.execute_script("return sessionStorage.getItem('users-dashboard.token');")

    def active(self) -> WebElement:
        return self.driver.switch_to.active_element

    # acting
    def open(self, query: str = "", *, heading: str = "Sign in") -> None:
        self.driver.get(f"{self.base}/{query}")
        self.wait_for_view(heading)

    def go(self, route: str) -> None:
        """Follow an in-page link, as a bookmark or the address bar would."""
        self.driver.execute_script("location.hash = arguments[0];", route)

    def fill(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def submit(self, form: str) -> None:
        """Press the form's submit button and wait until its request has been answered."""
        element = self.find(form)
        element.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.wait.until(lambda _: _settled(element))

    def click(self, css: str) -> None:
        self.find(css).click()

    def sign_in(self, username: str, password: str) -> None:
        self.fill("#signin-username", username)
        self.fill("#signin-password", password)
        self.submit("#signin-form")

    def sign_in_as(self, username: str, password: str) -> None:
        self.sign_in(username, password)
        self.wait_for_view("Users")

    def open_account(self) -> None:
        self.click("a[data-nav='account']")
        self.wait_for_view("My account")

    def new_account(self, prefix: str, password: str) -> str:
        """Register a user through the API, sign in as them here, open My account."""
        username = new_username(prefix)
        register_user(self.base, username, password)
        self.open()
        self.sign_in_as(username, password)
        self.open_account()
        return username

    def enrol_totp(self, password: str) -> tuple[str, int, list[str]]:
        """Turn two-step sign-in on from My account (open): the key the page shows, the
        30-second step of the code that confirmed it, and the recovery codes shown."""
        self.click("#totp-setup")
        self.visible("#totp-enrol")
        secret = self.text("#totp-secret").replace(" ", "")  # shown in groups of four
        step = totp_step()
        self.fill("#totp-confirm-code", pyotp.TOTP(secret).at(step * TOTP_STEP))
        self.find("#totp-confirm-form button[type=submit]").click()
        # REAUTH_WINDOW=0 here: turning it on always asks for the password.
        self.visible("#password-dialog")
        assert "Turning on two-step sign-in needs your password." in self.text(
            "#password-dialog-text"
        )
        self.fill("#password-dialog-password", password)
        self.submit("#password-dialog-form")
        self.visible("#recovery-codes")
        codes = [item.text for item in self.find_all("#recovery-codes-list li")]
        return secret, step, codes

    def add_passkey(self, password: str, name: str | None = None) -> list[str]:
        """Add a passkey from My account (open), through the password dialog: the recovery
        codes shown (ten for the account's first second factor, else none)."""
        self.click("#passkey-add")
        self.visible("#passkey-add-form")
        if name is not None:
            self.fill("#passkey-name", name)
        form = self.find("#passkey-add-form")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        # REAUTH_WINDOW=0 here: the passkey's options always ask for the password.
        self.visible("#password-dialog")
        assert "Adding a passkey needs your password." in self.text("#password-dialog-text")
        self.fill("#password-dialog-password", password)
        self.submit("#password-dialog-form")
        self.wait.until(lambda _: _settled(form))  # the browser's dialog, then the API
        assert self.find_all("#passkey-add-form [data-form-error]:not([hidden])") == []
        return [item.text for item in self.find_all("#recovery-codes-list li")]

    def sign_in_with_passkey(self) -> None:
        """Press "Sign in with a passkey" and wait until it has been answered."""
        button = self.find("#passkey-signin-button")
        button.click()
        self.wait.until(lambda _: _settled(button))

    def use_passkey(self) -> None:
        """The code step's "Use a passkey"."""
        button = self.find("#mfa-passkey-button")
        button.click()
        self.wait.until(lambda _: _settled(button))

    def prove_with_passkey(self) -> None:
        """The password dialog's "Use a passkey instead", until it has been answered."""
        form = self.find("#password-dialog-form")
        self.click("#password-dialog-passkey")
        self.wait.until(lambda _: _settled(form))

    def sign_in_to_code_step(self, username: str, password: str) -> None:
        """The password step of an account with a second factor: on to the code step."""
        self.sign_in(username, password)
        self.visible("#mfa-form")

    def enter_code(self, code: str) -> None:
        self.fill("#mfa-code", code)
        self.submit("#mfa-form")

    def usernames(self) -> list[str]:
        self.wait.until(lambda _: self.find(".table-wrap").get_attribute("aria-busy") is None)
        # What a person reads in the first column, not the attributes behind it.
        return [cell.text for cell in self.find_all("#users-table tbody td.username")]

    def set_viewport(self, metrics: dict) -> None:
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)

    def no_horizontal_scroll(self) -> bool:
        """Whether the page, and each table in it, fits the width of the screen."""
        return self.driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"
            " && [...document.querySelectorAll('.table-wrap')]"
            ".every((table) => table.scrollWidth <= table.clientWidth);"
        )

    def console_errors(self) -> list[dict]:
        """Console errors since the last call, but the API's deliberate 4xx answers."""
        return [
            entry
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE"
            and not (
                entry.get("source") == "network" and EXPECTED_API_ERROR.search(entry["message"])
            )
        ]

    def assert_no_dialog(self) -> None:
        with pytest.raises(NoAlertPresentException):
            self.driver.switch_to.alert  # noqa: B018 - raises when no dialog is open


def _settled(element: WebElement) -> bool:
    """Whether a form's submission (or a button's action) is over: the form is idle, or
    gone with its view."""
    try:
        return element.get_attribute("aria-busy") is None
    except StaleElementReferenceException:
        return True


@pytest.fixture
def page(driver: Any, server: str) -> Iterator[Dashboard]:
    """A fresh tab state: signed out (no token in sessionStorage), console log drained."""
    dashboard = Dashboard(driver, server)
    driver.get(f"{server}/")
    driver.execute_script("sessionStorage.clear();")
    driver.get("about:blank")  # so that the test's first address loads the page afresh
    driver.get_log("browser")
    yield dashboard
    dashboard.set_viewport(DESKTOP)


def new_username(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def register_user(base: str, username: str, password: str, **fields: str) -> dict:
    """A user made through the API, to start a scenario from."""
    body = {
        "username": username,
        "email": f"{username}@example.com",
        "password": password,
        "first_name": "Test",
        "last_name": "User",
        **fields,
    }
    status, user = call(base, "POST", "/api/users", body)
    assert status == 201, user
    return user


def mailed_link(mailbox: Mailbox, base: str, address: str, view: str, *, nth: int = 1) -> str:
    """The link of the `nth` mail to `address` that opens `view` (`reset`, `verify`).

    Other mails to the address (the verification sent on registering, say) are skipped.
    Failures name the address and the view, never a token.
    """
    prefix = f"{base}/#/{view}?token="
    found = 0
    opened: list[str] = []
    while found < nth:
        try:
            link = link_in(mailbox.wait_for(address, count=len(opened) + 1))
        except AssertionError:
            pytest.fail(f"no mail #{nth} to {address} opens #/{view}; the links open {opened}")
        opened.append(link.partition("?")[0])
        found += link.startswith(prefix)
    if not re.fullmatch(r"[A-Za-z0-9_-]{43}", link.removeprefix(prefix)):
        pytest.fail(f"the #/{view} link to {address} has no 43-character base64url token")
    return link


def login_token(base: str, username: str, password: str) -> str:
    status, body = call(base, "POST", "/api/sessions", {"username": username, "password": password})
    assert status == 201, body
    return body["token"]


TOTP_STEP = 30  # seconds: every authenticator app's, and the server's


def totp_step(moment: float | None = None) -> int:
    """The 30-second step of `moment` (now): the server takes each step's code once only."""
    return int(time.time() if moment is None else moment) // TOTP_STEP


def next_totp(secret: str, used_step: int) -> str:
    """The code of the step after `used_step`, as an app whose clock runs a little ahead shows
    it: the server takes one step either side, so no test waits up to 30 s for it to begin."""
    return pyotp.TOTP(secret).at((used_step + 1) * TOTP_STEP)


def wrong_totp(secret: str) -> str:
    """Six digits that are no code of the steps the server accepts now (one either side)."""
    totp = pyotp.TOTP(secret)
    accepted = {totp.at(time.time() + TOTP_STEP * shift) for shift in (-1, 0, 1, 2)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in accepted)


# --- the scenarios ---------------------------------------------------------------------


@pytest.mark.on_local
def test_the_dashboard_works_on_dynamodb_local(driver: Any, local_server: str):
    page = Dashboard(driver, local_server)
    driver.get(f"{local_server}/")
    driver.execute_script("sessionStorage.clear();")
    page.open()

    page.sign_in_as("johndoe", "JohnPass123")

    assert page.text("#welcome") == "Welcome, John Doe"
    assert "janedoe" in page.usernames()
    page.open_account()
    page.wait_for_text("#sessions-caption", "1 session")
    assert page.console_errors() == []


def test_john_signs_in_and_sees_the_welcome_and_the_users(page: Dashboard, screenshots: Path):
    page.open()
    assert page.token() is None

    page.sign_in_as("johndoe", "JohnPass123")

    assert page.text("#welcome") == "Welcome, John Doe"
    assert page.text("#welcome-type") == "admin_user"
    assert "janedoe" in page.usernames()
    assert page.active() == page.find("#users-title"), "focus moves to the new view"
    # The token is in sessionStorage only: not in a cookie, not in the URL.
    token = page.token()
    assert token
    assert page.driver.get_cookies() == []
    assert token not in page.driver.current_url
    page.wait_for_text("#users-caption", "on this page")
    page.driver.save_screenshot(str(screenshots / "dashboard.png"))
    assert page.console_errors() == []


@pytest.fixture(scope="module")
def hostile_user(server: str) -> dict:
    """A third user, whose first name is markup."""
    return register_user(
        server,
        new_username("mallory"),
        "hostile but long enough",
        first_name=HOSTILE_NAME,
        last_name="Tester",
    )


def test_next_page_follows_the_link_header(page: Dashboard, hostile_user: dict):
    status, everyone = call(page.base, "GET", "/api/users?limit=100")
    assert status == 200
    everyone = {user["username"] for user in everyone}
    assert len(everyone) >= 3  # the demo users and the hostile one: two pages at least
    pages = math.ceil(len(everyone) / 2)

    page.open("?page_size=2")
    page.sign_in_as("johndoe", "JohnPass123")
    assert Select(page.find("#page-size")).first_selected_option.text == "2"

    seen: list[str] = []
    for number in range(1, pages + 1):
        names = page.usernames()
        expected = 2 if number < pages else len(everyone) - 2 * (pages - 1)
        assert len(names) == expected
        page.wait_for_text("#users-caption", f"Page {number} · {expected} user")
        seen += names
        next_button = page.find("#next-page")
        if number < pages:
            assert next_button.is_enabled()
            next_button.click()
            page.wait_for_text("#users-caption", f"Page {number + 1} ·")
    assert not page.find("#next-page").is_enabled()
    assert sorted(seen) == sorted(everyone)
    # Back to the first page, then to the start again from a new page size.
    page.click("#prev-page")
    page.wait_for_text("#users-caption", f"Page {pages - 1} · 2 users")
    Select(page.find("#page-size")).select_by_visible_text("10")
    page.wait_for_text("#users-caption", f"Page 1 · {len(everyone)} users")
    assert "page_size=10" in page.driver.current_url
    assert page.console_errors() == []


def test_a_hostile_first_name_is_shown_as_text(page: Dashboard, hostile_user: dict):
    username = hostile_user["username"]
    page.open()
    page.sign_in_as("johndoe", "JohnPass123")
    # The view's heading comes before its list: wait for the row, not just the page.
    row = page.visible(f'#users-table tr[data-username="{username}"]')
    assert f"{HOSTILE_NAME} Tester" in row.text

    row.click()  # the row opens the profile
    page.wait_for_view(f"{HOSTILE_NAME} Tester")
    assert HOSTILE_NAME in page.text("#profile-details")
    assert page.find_all("img[src='x'], #view img") == []
    page.assert_no_dialog()

    # And in the header, when they sign in themselves.
    page.click("#sign-out")
    page.wait_for_view("Sign in")
    page.sign_in_as(username, "hostile but long enough")
    assert page.text("#welcome") == f"Welcome, {HOSTILE_NAME} Tester"
    assert page.find_all("#account-summary img") == []
    page.assert_no_dialog()
    assert page.console_errors() == []


def test_a_wrong_password_shows_the_problem_detail(page: Dashboard):
    page.open()
    page.sign_in("johndoe", "not-his-password")

    error = page.visible("#signin-form [data-form-error]")
    assert error.text == "Valid credentials are required."
    assert error.get_attribute("role") == "alert"
    assert page.find("#signin-password").get_attribute("value") == ""
    assert page.active() == page.find("#signin-password")
    assert page.token() is None
    page.assert_no_dialog()  # a bearer-only challenge: no browser password dialog
    assert page.console_errors() == []


def test_a_disabled_account_is_told_so_at_sign_in(page: Dashboard):
    username = new_username("fay")
    register_user(page.base, username, "fay's long phrase")
    admin = login_token(page.base, "johndoe", "JohnPass123")
    port = int(page.base.rsplit(":", 1)[1])
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    answer = http_call(
        port, "PATCH", f"/api/users/{username}", body={"disabled": True}, headers=headers
    )
    assert answer.status == 200
    page.open()

    page.sign_in(username, "fay's long phrase")

    error = page.visible("#signin-form [data-form-error]")
    assert error.text == "This account is disabled; ask an administrator to enable it."
    assert page.token() is None
    assert page.console_errors() == []


def test_a_locked_account_says_when_to_try_again(page: Dashboard):
    username = new_username("locked")
    wrong = {"username": username, "password": "wrong"}
    for _ in range(5):  # the 5th consecutive failure locks the account for a second
        assert call(page.base, "POST", "/api/sessions", wrong)[0] == 401
    page.open()
    message = ""
    # Each failure that lands after the lock has ended doubles it, so this converges.
    for _ in range(4):
        page.sign_in(username, "still-wrong")
        message = page.visible("#signin-form [data-form-error]").text
        if "Too many" in message:
            break
    assert message.startswith("Too many failed logins for this account; try again later.")
    assert re.search(r"You can try again in \d+ seconds? \(at .+\)\.$", message), message
    assert page.console_errors() == []


def test_register_edit_revoke_and_sign_out(page: Dashboard):
    username = new_username("ada")
    page.open()
    page.click("a[href='#/register']")
    page.wait_for_view("Register")
    page.fill("#register-username", username)
    page.fill("#register-email", f"{username}@example.com")
    page.fill("#register-first-name", "Ada")
    page.fill("#register-last-name", "Lovelace")
    page.fill("#register-password", "short")
    page.submit("#register-form")

    # The password's error, from the 422's `errors`, beside the password field.
    error = page.visible("#register-password-error")
    assert "at least 8 characters" in error.text
    password = page.find("#register-password")
    assert password.get_attribute("aria-invalid") == "true"
    assert "register-password-error" in password.get_attribute("aria-describedby")
    assert page.active() == password
    assert page.find_all("#register-username-error:not([hidden])") == []

    page.fill("#register-password", "analytical engine 1843")
    page.submit("#register-form")
    page.wait_for_view("Sign in")
    assert "created" in page.text("#flash")
    assert page.find("#signin-username").get_attribute("value") == username

    page.fill("#signin-password", "analytical engine 1843")
    page.submit("#signin-form")
    page.wait_for_view("Users")
    assert page.text("#welcome") == "Welcome, Ada Lovelace"
    assert page.text("#welcome-type") == "standard_user"

    # A standard user has no admin tools on someone else's profile.
    page.go("#/users/janedoe")
    page.wait_for_view("Jane Doe")
    assert not page.find("#admin-tools").is_displayed()

    page.click("a[data-nav='account']")
    page.wait_for_view("My account")
    page.fill("#account-first-name", "Augusta")
    page.submit("#profile-form")
    page.wait_for_text("#welcome-name", "Augusta Lovelace")
    assert "saved" in page.text("#flash")

    page.wait_for_text("#sessions-caption", "1 session")
    assert "This browser" in page.text("#sessions-table tbody")
    old_token = page.token()
    page.click("#revoke-sessions")
    page.wait_for_view("Sign in")
    assert "signed out everywhere" in page.text("#flash")
    assert page.token() is None
    assert call(page.base, "GET", "/api/user", token=old_token)[0] == 401

    page.sign_in_as(username, "analytical engine 1843")
    assert page.text("#welcome-name") == "Augusta Lovelace"
    token = page.token()
    page.click("#sign-out")
    page.wait_for_view("Sign in")
    assert page.text("#flash") == "You have signed out."
    assert not page.find("#main-nav").is_displayed()
    assert page.token() is None
    assert call(page.base, "GET", "/api/user", token=token)[0] == 401
    assert page.console_errors() == []


def test_a_taken_username_is_explained_beside_the_field(page: Dashboard):
    page.open()
    page.go("#/register")
    page.wait_for_view("Register")
    page.fill("#register-username", "janedoe")
    page.fill("#register-email", f"{new_username('jane')}@example.com")
    page.fill("#register-first-name", "Jane")
    page.fill("#register-last-name", "Again")
    page.fill("#register-password", "a perfectly fine password")
    page.submit("#register-form")

    error = page.visible("#register-username-error")
    assert error.text == "That username is taken; choose another."
    assert "already taken" in page.text("#register-form [data-form-error]")
    assert page.active() == page.find("#register-username")
    assert page.console_errors() == []


def test_change_password(page: Dashboard):
    username = page.new_account("pat", "first secret phrase")

    page.fill("#account-current-password", "not the password")
    page.fill("#account-new-password", "second secret phrase")
    page.submit("#password-form")
    assert page.visible("#account-current-password-error").text == "is not the current password"

    page.fill("#account-current-password", "first secret phrase")
    page.fill("#account-new-password", "second secret phrase")
    page.submit("#password-form")
    page.wait_for_text("#flash", "Your password has been changed")
    assert page.find("#account-new-password").get_attribute("value") == ""

    page.click("#sign-out")
    page.wait_for_view("Sign in")
    page.sign_in_as(username, "second secret phrase")
    assert page.console_errors() == []


def test_an_admin_changes_an_account_type_and_deletes_a_user(page: Dashboard):
    username = new_username("bob")
    register_user(page.base, username, "builder of things", first_name="Bob")
    page.open()
    page.sign_in_as("johndoe", "JohnPass123")
    page.go(f"#/users/{username}")
    page.wait_for_view("Bob User")
    page.wait_for_text("#profile-details", f"{username}@example.com")  # an admin's full view

    Select(page.find("#account-type")).select_by_value("admin_user")
    page.submit("#account-type-form")
    page.wait_for_text("#flash", f"{username} is now admin_user.")
    assert "admin_user" in page.text("#profile-details")
    assert call(page.base, "GET", f"/api/users/{username}")[1]["account_type"] == "admin_user"

    # Deleting asks first; Cancel keeps the user.
    page.click("#delete-user")
    dialog = page.visible("#confirm-dialog")
    assert page.active().text == "Cancel"
    assert username in dialog.text
    page.click("#confirm-dialog [data-dialog-cancel]")
    page.wait.until(EC.invisibility_of_element_located((By.ID, "confirm-dialog")))
    assert call(page.base, "GET", f"/api/users/{username}")[0] == 200

    page.click("#delete-user")
    page.visible("#confirm-dialog")
    page.click("#confirm-dialog [data-dialog-confirm]")
    page.wait_for_view("Users")
    assert "was deleted" in page.text("#flash")
    assert call(page.base, "GET", f"/api/users/{username}")[0] == 404
    assert username not in page.usernames()
    assert page.console_errors() == []


def test_an_admin_finds_a_user_by_email_and_disables_then_enables_them(page: Dashboard):
    username = new_username("erin")
    register_user(page.base, username, "erin's long phrase", first_name="Erin")
    token = login_token(page.base, username, "erin's long phrase")
    page.open()
    page.sign_in_as("johndoe", "JohnPass123")

    page.fill("#user-search-query", f"{username.upper()}@Example.com")
    page.submit("#user-search")
    assert page.usernames() == [username]
    page.wait_for_text("#users-caption", "matching")
    page.click(f"#users-table a[href='#/users/{username}']")
    page.wait_for_view("Erin User")
    page.wait_for_text("#profile-details", "active")

    # Disabling asks first, then signs the user out everywhere.
    page.click("#disable-user")
    page.visible("#confirm-dialog")
    page.click("#confirm-dialog [data-dialog-confirm]")
    page.wait_for_text("#flash", "disabled: their sessions have ended")
    assert "disabled" in page.text("#profile-details")
    assert page.find("#enable-user").is_displayed()
    assert call(page.base, "GET", "/api/user", token=token)[0] == 401
    status, problem = call(
        page.base, "POST", "/api/sessions", {"username": username, "password": "erin's long phrase"}
    )
    assert (status, problem["type"]) == (403, "tag:users-api,2026:account-disabled")

    # Back to the list: the search is kept, and the row says the account is disabled.
    page.click(".back a")
    page.wait_for_view("Users")
    assert page.usernames() == [username]
    assert "disabled" in page.text("#users-table tbody td.type")

    page.go(f"#/users/{username}")
    page.wait_for_view("Erin User")
    page.click("#enable-user")
    page.wait_for_text("#flash", "is enabled")
    assert login_token(page.base, username, "erin's long phrase")
    assert page.console_errors() == []


def test_an_admin_searches_by_username_prefix_in_order(page: Dashboard):
    stem = new_username("pfx")
    for suffix in ("c", "a", "b"):
        register_user(page.base, f"{stem}{suffix}", "a prefix passphrase")
    page.open()
    page.sign_in_as("johndoe", "JohnPass123")

    page.fill("#user-search-query", stem)
    page.submit("#user-search")

    assert page.usernames() == [f"{stem}a", f"{stem}b", f"{stem}c"]
    page.click("#clear-search")
    page.wait.until(lambda _: len(page.usernames()) > 3)
    assert page.find("#user-search-query").get_attribute("value") == ""


def test_only_admins_see_the_search(page: Dashboard):
    page.open()
    page.sign_in_as("janedoe", "JanePass123")

    assert not page.find("#user-search").is_displayed()


def test_delete_my_account(page: Dashboard):
    username = page.new_account("dora", "leaving for good")

    page.click("#delete-account")
    page.visible("#confirm-dialog")
    page.click("#confirm-dialog [data-dialog-confirm]")
    # The session is older than REAUTH_WINDOW (0 here): the page asks for the password.
    page.visible("#password-dialog")
    assert "Deleting your account needs your password." in page.text("#password-dialog-text")
    page.fill("#password-dialog-password", "leaving for good")
    page.submit("#password-dialog-form")
    page.wait_for_view("Sign in")
    assert "has been deleted" in page.text("#flash")
    assert page.token() is None
    assert call(page.base, "GET", f"/api/users/{username}")[0] == 404
    assert page.console_errors() == []


def test_changing_my_email_asks_for_my_password(page: Dashboard):
    username = page.new_account("emma", "emma's passphrase")

    # Cancelled: nothing changes, and the form says why.
    page.fill("#account-email", f"{username}@elsewhere.example.com")
    page.find("#profile-form button[type=submit]").click()
    page.visible("#password-dialog")
    assert page.active() == page.find("#password-dialog-password")
    assert not page.find("#password-dialog-passkey").is_displayed()  # no passkey here
    page.click("#password-dialog [data-dialog-cancel]")
    page.wait_for_text("#profile-form [data-form-error]", "Not saved")
    assert not page.find("#password-dialog").is_displayed()

    # A wrong password keeps the dialog open, with the reason beside the field.
    page.find("#profile-form button[type=submit]").click()
    page.visible("#password-dialog")
    page.fill("#password-dialog-password", "not my passphrase")
    page.submit("#password-dialog-form")
    assert page.visible("#password-dialog-password-error").text == "That is not your password."
    assert page.find("#password-dialog-password").get_attribute("value") == ""

    page.fill("#password-dialog-password", "emma's passphrase")
    page.submit("#password-dialog-form")
    page.wait_for_text("#flash", "Your profile has been saved.")
    assert not page.find("#password-dialog").is_displayed()
    token = page.token()
    status, me = call(page.base, "GET", "/api/user", token=token)
    assert (status, me["email"]) == (200, f"{username}@elsewhere.example.com")
    assert page.console_errors() == []


def test_my_sessions_show_their_device_and_end_one_by_one(page: Dashboard):
    username = page.new_account("sam", "sam's passphrase")
    elsewhere = login_token(page.base, username, "sam's passphrase")
    page.driver.refresh()  # to list the session just opened elsewhere
    page.wait_for_view("My account")
    page.wait_for_text("#sessions-caption", "2 sessions")

    current = page.find("#sessions-table tr.current")
    assert "HeadlessChrome" in current.find_element(By.CSS_SELECTOR, "td.device").text
    assert "127.0.0.1" in current.find_element(By.CSS_SELECTOR, "td.device").text
    assert current.find_elements(By.CSS_SELECTOR, "button") == []  # "Sign out" is in the header

    page.click("#sessions-table tr:not(.current) button")
    page.wait_for_text("#sessions-caption", "1 session")
    assert "signed out" in page.text("#flash")
    assert call(page.base, "GET", "/api/user", token=elsewhere)[0] == 401
    assert call(page.base, "GET", "/api/user", token=page.token())[0] == 200
    assert page.console_errors() == []


def test_a_reload_keeps_the_session_and_a_revoked_one_returns_to_sign_in(page: Dashboard):
    username = new_username("rita")
    register_user(page.base, username, "reload and revoke", first_name="Rita")
    page.open()
    page.sign_in_as(username, "reload and revoke")

    page.driver.refresh()
    page.wait_for_view("Users")
    assert page.text("#welcome-name") == "Rita User"

    # Signed out everywhere from elsewhere: the next request here finds out.
    other = login_token(page.base, username, "reload and revoke")
    assert call(page.base, "DELETE", f"/api/users/{username}/sessions", token=other)[0] == 204
    page.click("a[data-nav='account']")
    page.wait_for_view("Sign in")
    assert "Your session has ended" in page.text("#flash")
    assert page.token() is None
    assert page.console_errors() == []


def test_forgot_password_then_a_new_password_from_the_mailed_link(
    page: Dashboard, mailbox: Mailbox
):
    username = new_username("fern")
    email = f"{username}@example.com"
    register_user(page.base, username, "the old passphrase")
    elsewhere = login_token(page.base, username, "the old passphrase")
    page.open()
    page.fill("#signin-username", username)
    page.click("#forgot-link")
    page.wait_for_view("Forgot your password?")
    assert page.find("#forgot-account").get_attribute("value") == username  # carried over

    # An address no account has gets the same answer: the page tells nobody who is registered.
    nobody = f"{new_username('nobody')}@example.com"
    page.fill("#forgot-account", nobody)
    page.submit("#forgot-form")
    page.wait_for_text("#flash", "If an account matches")
    answer_for_nobody = page.text("#flash").replace(nobody, "…")
    page.fill("#forgot-account", email)
    page.submit("#forgot-form")
    page.wait_for_text("#flash", email)
    assert page.text("#flash").replace(email, "…") == answer_for_nobody

    link = mailed_link(mailbox, page.base, email, "reset")
    page.driver.get("about:blank")  # as from a mail program: the page loads afresh
    page.driver.get(link)
    page.wait_for_view("Set a new password")
    assert page.shows_address("#/reset"), "the token is taken out of the address bar"

    # Typed differently twice: the page says so before asking the server.
    page.fill("#reset-password", "the new passphrase")
    page.fill("#reset-confirm", "the new passphrase!")
    page.submit("#reset-form")
    assert page.visible("#reset-confirm-error").text == (
        "The two passwords differ: type the new password again."
    )
    assert page.active() == page.find("#reset-confirm")
    # Refused by the password policy: said beside the field, and the link still works.
    page.fill("#reset-password", "short")
    page.fill("#reset-confirm", "short")
    page.submit("#reset-form")
    assert "at least 8 characters" in page.visible("#reset-password-error").text
    assert page.active() == page.find("#reset-password")

    page.fill("#reset-password", "the new passphrase")
    page.fill("#reset-confirm", "the new passphrase")
    page.submit("#reset-form")
    page.wait_for_view("Sign in")
    assert page.text("#flash") == "Password changed. Sign in with your new password."
    assert call(page.base, "GET", "/api/user", token=elsewhere)[0] == 401  # signed out everywhere

    page.sign_in(username, "the old passphrase")
    assert page.visible("#signin-form [data-form-error]").text == "Valid credentials are required."

    # The link works once.
    page.driver.get(link)
    page.wait_for_view("Set a new password")
    page.fill("#reset-password", "a third passphrase")
    page.fill("#reset-confirm", "a third passphrase")
    page.submit("#reset-form")
    problem = page.visible("#reset-problem")
    assert "This link is no longer valid" in problem.text
    assert not page.find("#reset-form").is_displayed()
    assert page.active() == problem
    page.click("#reset-problem a")
    page.wait_for_view("Forgot your password?")

    page.go("#/signin")
    page.wait_for_view("Sign in")
    page.sign_in_as(username, "the new passphrase")
    assert page.text("#welcome-name") == "Test User"
    assert mailbox.messages_to(nobody) == []
    assert page.console_errors() == []


def test_a_reset_link_opened_while_signed_in_signs_this_tab_out(page: Dashboard, mailbox: Mailbox):
    username = new_username("gil")
    email = f"{username}@example.com"
    register_user(page.base, username, "gil's old passphrase")
    assert call(page.base, "POST", "/api/password-resets", {"username": username})[0] == 202
    link = mailed_link(mailbox, page.base, email, "reset")
    page.open()
    page.sign_in_as(username, "gil's old passphrase")
    old_token = page.token()

    page.driver.get(link)
    page.wait_for_view("Set a new password")
    assert page.shows_address("#/reset"), "the token is taken out of the address bar"
    page.fill("#reset-password", "gil's new passphrase")
    page.fill("#reset-confirm", "gil's new passphrase")
    page.submit("#reset-form")

    page.wait_for_view("Sign in")
    assert page.text("#flash") == "Password changed. Sign in with your new password."
    assert page.token() is None
    assert not page.find("#main-nav").is_displayed()
    assert call(page.base, "GET", "/api/user", token=old_token)[0] == 401
    page.sign_in_as(username, "gil's new passphrase")
    assert page.console_errors() == []


def test_register_then_verify_through_the_mailed_link(page: Dashboard, mailbox: Mailbox):
    username = new_username("vera")
    email = f"{username}@example.com"
    page.open()
    page.click("a[href='#/register']")
    page.wait_for_view("Register")
    page.fill("#register-username", username)
    page.fill("#register-email", email)
    page.fill("#register-first-name", "Vera")
    page.fill("#register-last-name", "Rubin")
    page.fill("#register-password", "dark matter everywhere")
    page.submit("#register-form")
    page.wait_for_view("Sign in")
    page.fill("#signin-password", "dark matter everywhere")
    page.submit("#signin-form")
    page.wait_for_view("Users")
    page.open_account()
    assert page.text("#account-email-badge") == "Not verified"
    assert page.find("#resend-verification").is_displayed()

    link = mailed_link(mailbox, page.base, email, "verify")
    page.driver.get(link)
    page.wait_for_view("Verify your email address")
    page.wait_for_text("#verify-done", "Your email address is verified.")
    assert page.shows_address("#/verify"), "the token is taken out of the address bar"

    page.click("#verify-next a")
    page.wait_for_view("My account")
    assert page.text("#account-email-badge") == "Verified"
    assert not page.find("#resend-verification").is_displayed()

    # The link works once.
    page.driver.get(link)
    page.wait_for_text("#verify-problem", "This link is no longer valid")
    assert page.text("#verify-next") == "Send a new link from My account"
    assert page.console_errors() == []


def test_resend_from_my_account_delivers_a_second_mail(page: Dashboard, mailbox: Mailbox):
    username = page.new_account("rex", "rex's passphrase")
    email = f"{username}@example.com"
    mailed_link(mailbox, page.base, email, "verify")  # the one sent on registering

    page.click("#resend-verification")
    page.wait_for_text("#flash", f"We've sent a verification link to {email}.")
    link = mailed_link(mailbox, page.base, email, "verify", nth=2)
    page.driver.get(link)
    page.wait_for_text("#verify-done", "Your email address is verified.")
    page.click("#verify-next a")
    page.wait_for_view("My account")
    assert page.text("#account-email-badge") == "Verified"
    assert page.console_errors() == []


def test_two_step_sign_in_with_an_authenticator_app(
    page: Dashboard, tmp_path: Path, screenshots: Path
):
    username = page.new_account("otto", "otto's passphrase")
    assert page.text("#totp-badge") == "Off"
    assert not page.find("#recovery-codes-new").is_displayed()

    page.click("#totp-setup")
    page.visible("#totp-enrol")
    # The QR code is drawn in the page (no data: or blob: image under its policy), with the
    # key as text beside it for typing in by hand.
    assert page.find_all("#totp-qr svg[role=img] path")
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})+", page.text("#totp-secret"))
    assert page.find("#totp-app-link").get_attribute("href").startswith("otpauth://totp/")
    page.driver.save_screenshot(str(screenshots / "totp-set-up.png"))
    page.set_viewport(PHONE)
    assert page.no_horizontal_scroll()
    page.set_viewport(DESKTOP)
    # A wrong first code turns nothing on (and needs no password to be told so).
    secret = page.text("#totp-secret").replace(" ", "")
    page.fill("#totp-confirm-code", "12345")
    page.submit("#totp-confirm-form")
    assert page.visible("#totp-confirm-code-error").text == (
        "Enter the 6 digits your authenticator app shows."
    )
    page.click("#totp-enrol-cancel")
    assert not page.find("#totp-enrol").is_displayed()

    secret, used_step, codes = page.enrol_totp("otto's passphrase")
    assert len(set(codes)) == len(codes) == 10
    assert "They will not be shown again." in page.text("#recovery-codes-note")
    assert page.active() == page.find("#recovery-codes-title")
    page.wait_for_text("#totp-badge", "On")
    assert page.text("#recovery-codes-left") == "10 recovery codes left."
    assert page.find("#recovery-codes-new").is_displayed()
    assert not page.find("#totp-setup").is_displayed()
    assert "Two-step sign-in is on" in page.text("#flash")
    page.set_viewport(PHONE)
    assert page.no_horizontal_scroll()
    page.set_viewport(DESKTOP)

    # Copy, then Download: a text file with every code, named after the account.
    page.driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": page.base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    page.click("#recovery-codes-copy")
    page.wait_for_text("#flash", "Recovery codes copied.")
    copied = page.driver.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], () => arguments[0](null));"
    )
    assert copied is not None, "nothing could be read back from the clipboard"
    assert all(code in copied for code in codes)
    page.driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    page.click("#recovery-codes-download")
    downloaded = tmp_path / f"recovery-codes-{username}.txt"
    page.wait.until(
        lambda _: downloaded.exists() and all(c in downloaded.read_text() for c in codes)
    )
    page.click("#recovery-codes-done")
    assert not page.find("#recovery-codes").is_displayed()
    assert page.find_all("#recovery-codes-list li") == []  # gone from the page, too

    page.click("#sign-out")
    page.wait_for_view("Sign in")
    page.sign_in_to_code_step(username, "otto's passphrase")
    assert page.token() is None
    assert not page.find("#signin-form").is_displayed()
    assert page.text("#mfa-text") == (
        "Enter the 6-digit code from your authenticator app, or a recovery code."
    )
    field = page.find("#mfa-code")
    assert page.active() == field
    assert field.get_attribute("autocomplete") == "one-time-code"
    assert field.get_attribute("inputmode") is None  # recovery codes have letters
    # The confirming code's step is spent: the app's next code.
    page.enter_code(next_totp(secret, used_step))
    page.wait_for_view("Users")
    assert page.text("#welcome") == "Welcome, Test User"
    status, session = call(page.base, "GET", "/api/sessions/current", token=page.token())
    assert (status, session["amr"]) == (200, ["pwd", "otp"])
    assert page.console_errors() == []


def test_a_recovery_code_signs_in_once_then_new_codes_and_turning_off(page: Dashboard):
    username = page.new_account("rory", "rory's passphrase")
    _, _, codes = page.enrol_totp("rory's passphrase")
    page.click("#recovery-codes-done")
    page.click("#sign-out")
    page.wait_for_view("Sign in")

    # Typed as a person might: in the other case, without its dashes.
    page.sign_in_to_code_step(username, "rory's passphrase")
    page.enter_code(codes[0].swapcase().replace("-", ""))
    page.wait_for_view("Users")
    status, session = call(page.base, "GET", "/api/sessions/current", token=page.token())
    assert (status, session["amr"]) == (200, ["pwd", "recovery_code"])
    page.open_account()
    page.wait_for_text("#recovery-codes-left", "9 recovery codes left.")

    # Once only.
    page.click("#sign-out")
    page.wait_for_view("Sign in")
    page.sign_in_to_code_step(username, "rory's passphrase")
    page.enter_code(codes[0])
    assert page.visible("#mfa-code-error").text
    assert page.token() is None
    page.enter_code(codes[1])
    page.wait_for_view("Users")

    # New codes (the password asked again), and the old ones stop working.
    page.open_account()
    page.click("#recovery-codes-new")
    page.visible("#password-dialog")
    page.fill("#password-dialog-password", "rory's passphrase")
    page.submit("#password-dialog-form")
    page.visible("#recovery-codes")
    fresh = [item.text for item in page.find_all("#recovery-codes-list li")]
    assert len(fresh) == 10
    assert not set(fresh) & set(codes)
    page.wait_for_text("#recovery-codes-left", "10 recovery codes left.")
    assert "the old ones no longer work" in page.text("#flash")
    page.click("#recovery-codes-done")

    # Turning it off takes the password and a code: a wrong one first.
    page.click("#totp-off")
    assert page.active() == page.find("#totp-off-password")
    page.fill("#totp-off-password", "rory's passphrase")
    page.fill("#totp-off-code", codes[2])  # void since the new ones
    page.submit("#totp-off-form")
    assert page.visible("#totp-off-code-error").text
    page.fill("#totp-off-password", "rory's passphrase")
    page.fill("#totp-off-code", fresh[0])
    page.submit("#totp-off-form")
    page.wait_for_text("#totp-badge", "Off")
    assert "Two-step sign-in is off" in page.text("#flash")
    assert not page.find("#totp-off-form").is_displayed()
    assert page.find("#totp-setup").is_displayed()

    page.click("#sign-out")
    page.wait_for_view("Sign in")
    page.sign_in_as(username, "rory's passphrase")  # the password alone, again
    assert page.console_errors() == []


def test_a_wrong_code_keeps_the_code_step(page: Dashboard):
    username = page.new_account("wren", "wren's passphrase")
    secret, _, codes = page.enrol_totp("wren's passphrase")
    page.click("#recovery-codes-done")
    page.click("#sign-out")
    page.wait_for_view("Sign in")
    page.sign_in_to_code_step(username, "wren's passphrase")

    page.enter_code(wrong_totp(secret))
    error = page.visible("#mfa-code-error")
    assert error.text
    code = page.find("#mfa-code")
    assert code.get_attribute("aria-invalid") == "true"
    assert page.active() == code
    assert page.find("#mfa-form").is_displayed()
    assert page.token() is None
    page.enter_code("")  # nothing typed: said in the page
    assert page.visible("#mfa-code-error").text == (
        "Enter the code from your authenticator app, or a recovery code."
    )

    # Cancel goes back to the password, and the challenge is gone with the step.
    page.click("#mfa-cancel")
    page.visible("#signin-form")
    assert not page.find("#mfa-form").is_displayed()
    assert page.active() == page.find("#signin-password")
    page.sign_in_to_code_step(username, "wren's passphrase")
    assert page.find("#mfa-code").get_attribute("value") == ""
    page.enter_code(codes[0])  # the challenge of this sign-in, the wrong code forgotten
    page.wait_for_view("Users")
    assert page.console_errors() == []


# --- passkeys ----------------------------------------------------------------------------


@pytest.fixture
def passkey_page(driver: Any, server: str) -> Iterator[Dashboard]:
    """`page` at http://localhost:<port>, the relying party the server derives from its
    127.0.0.1 PUBLIC_URL, with a virtual authenticator: a platform authenticator (internal)
    that keeps discoverable credentials and verifies its user, as a phone or a laptop with a
    fingerprint reader does. A fresh one each test, so that it holds that test's passkeys only.
    """
    yield from _with_authenticator(driver, server)


REAUTH_SECONDS = 8  # time to add a passkey within it (slack for a slow machine); then waited out


@pytest.fixture(scope="module")
def recent_server(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[str]:
    """The first server's settings but a REAUTH_WINDOW of a few seconds: there (REAUTH_WINDOW
    is 0) a proof in the session never counts, so a passkey cannot stand in for the password;
    here it can, and a test waits the window out to be asked again."""
    yield from _serve(tmp_path_factory, mailbox=mailbox, REAUTH_WINDOW=str(REAUTH_SECONDS))


@pytest.fixture
def recent_passkey_page(driver: Any, recent_server: str) -> Iterator[Dashboard]:
    """`passkey_page` on `recent_server`."""
    yield from _with_authenticator(driver, recent_server)


def _with_authenticator(driver: Any, server: str) -> Iterator[Dashboard]:
    base = server.replace("://127.0.0.1:", "://localhost:")
    dashboard = Dashboard(driver, base)
    driver.get(f"{base}/")
    driver.execute_script("sessionStorage.clear();")  # this origin's own storage
    driver.add_virtual_authenticator(
        VirtualAuthenticatorOptions(
            protocol="ctap2",
            transport="internal",
            has_resident_key=True,
            has_user_verification=True,
            is_user_verified=True,
        )
    )
    driver.get("about:blank")
    driver.get_log("browser")
    try:
        yield dashboard
    finally:
        driver.remove_virtual_authenticator()
        dashboard.set_viewport(DESKTOP)


def test_a_passkey_added_in_my_account_signs_in_without_a_password(
    passkey_page: Dashboard, screenshots: Path
):
    page = passkey_page
    username = page.new_account("pia", "pia's passphrase")
    assert page.text("#totp-badge") == "Off"
    assert page.find_all("#passkeys-list li") == []

    page.click("#passkey-add")
    assert page.active() == page.visible("#passkey-name")
    assert page.find("#passkey-name").get_attribute("value").startswith("Passkey")
    page.click("#passkey-add-cancel")
    assert not page.find("#passkey-add-form").is_displayed()

    # Its name is the user's data: shown as text, whatever it holds.
    name = "Pia's <em>laptop</em>"
    codes = page.add_passkey("pia's passphrase", name)
    # The account's first second factor: the recovery codes, as after an authenticator app.
    assert len(set(codes)) == len(codes) == 10
    assert page.active() == page.find("#recovery-codes-title")
    assert f"Passkey “{name}” added: two-step sign-in is on." in page.text("#flash")
    page.wait_for_text("#totp-badge", "On")
    assert page.text("#recovery-codes-left") == "10 recovery codes left."
    assert page.text("#passkeys-status").startswith("1 passkey.")
    item = page.visible("#passkeys-list li")
    assert name in item.text
    assert "never used" in item.text
    assert item.find_elements(By.CSS_SELECTOR, "em") == []
    remove = item.find_element(By.CSS_SELECTOR, "button")
    assert remove.get_attribute("aria-label") == f"Remove passkey {name}"
    page.driver.save_screenshot(str(screenshots / "passkeys.png"))
    page.set_viewport(PHONE)
    assert page.no_horizontal_scroll()
    page.set_viewport(DESKTOP)
    page.click("#recovery-codes-done")

    page.click("#sign-out")
    page.wait_for_view("Sign in")
    # Cancelled in the browser's dialog (here: the user is not verified): a calm word.
    page.driver.set_user_verified(False)
    page.sign_in_with_passkey()
    assert page.visible("#passkey-signin-note").text.startswith("No passkey was used")
    assert not page.find("#passkey-signin-error").is_displayed()
    assert page.token() is None
    page.driver.save_screenshot(str(screenshots / "passkey-sign-in.png"))
    page.driver.set_user_verified(True)

    page.sign_in_with_passkey()  # no username, no password
    page.wait_for_view("Users")
    assert page.text("#welcome") == "Welcome, Test User"
    status, session = call(page.base, "GET", "/api/sessions/current", token=page.token())
    assert (status, session["amr"]) == (200, ["webauthn"])
    page.open_account()
    page.wait_for_text("#passkeys-list li", "last used")
    assert page.text("#passkeys-list li").count("never used") == 0
    status, user = call(page.base, "GET", f"/api/users/{username}", token=page.token())
    assert (status, user["passkeys"]) == (200, 1)
    assert page.console_errors() == []


def test_a_passkey_as_the_step_after_the_password(passkey_page: Dashboard, screenshots: Path):
    page = passkey_page
    username = page.new_account("pax", "pax's passphrase")
    page.add_passkey("pax's passphrase")
    page.click("#recovery-codes-done")
    page.click("#sign-out")
    page.wait_for_view("Sign in")

    page.sign_in_to_code_step(username, "pax's passphrase")
    assert page.token() is None
    assert page.text("#mfa-text") == "Use a passkey, or enter a recovery code."
    assert page.text("#mfa-code-label") == "Recovery code"  # no authenticator app here
    assert page.active() == page.find("#mfa-passkey-button")
    assert not page.find("#passkey-signin").is_displayed()
    # Cancelled in the browser's dialog: the step stays, with a calm word.
    page.driver.set_user_verified(False)
    page.use_passkey()
    assert page.visible("#mfa-passkey-note").text.startswith("No passkey was used")
    assert page.find("#mfa-form").is_displayed()
    page.driver.save_screenshot(str(screenshots / "passkey-step.png"))
    page.driver.set_user_verified(True)

    # Without the browser's JSON helpers (older browsers): the page converts by itself.
    page.driver.execute_script(
        "delete PublicKeyCredential.parseRequestOptionsFromJSON;"
        " delete PublicKeyCredential.prototype.toJSON;"
    )
    page.use_passkey()
    page.wait_for_view("Users")
    status, session = call(page.base, "GET", "/api/sessions/current", token=page.token())
    assert (status, session["amr"]) == (200, ["pwd", "webauthn"])
    assert page.console_errors() == []


def test_a_removed_passkey_no_longer_signs_in(passkey_page: Dashboard):
    page = passkey_page
    username = page.new_account("rue", "rue's passphrase")
    page.add_passkey("rue's passphrase", "Rue's phone")
    page.click("#recovery-codes-done")

    # Asked first; Cancel keeps it.
    page.click("#passkeys-list li button")
    dialog = page.visible("#confirm-dialog")
    assert "Rue's phone" in dialog.text
    assert page.active().text == "Cancel"
    page.click("#confirm-dialog [data-dialog-cancel]")
    page.wait.until(EC.invisibility_of_element_located((By.ID, "confirm-dialog")))
    assert len(page.find_all("#passkeys-list li")) == 1

    page.click("#passkeys-list li button")
    page.visible("#confirm-dialog")
    page.click("#confirm-dialog [data-dialog-confirm]")
    page.visible("#password-dialog")  # REAUTH_WINDOW=0
    assert "Removing a passkey needs your password." in page.text("#password-dialog-text")
    page.fill("#password-dialog-password", "rue's passphrase")
    page.submit("#password-dialog-form")
    page.wait_for_text("#flash", "Passkey “Rue's phone” removed.")
    assert "Your password alone signs you in now." in page.text("#flash")
    page.wait_for_text("#totp-badge", "Off")
    assert page.find_all("#passkeys-list li") == []
    assert page.active() == page.find("#passkeys-title")
    page.click("#sign-out")
    page.wait_for_view("Sign in")

    # The device still offers it; the service no longer knows it (401).
    assert len(page.driver.get_credentials()) == 1
    page.sign_in_with_passkey()
    assert page.visible("#passkey-signin-error").text.startswith(
        "That passkey was not accepted: it may have been removed from your account."
    )
    assert page.token() is None
    page.sign_in_as(username, "rue's passphrase")  # the password alone, no second step
    assert page.console_errors() == []


def test_a_passkey_in_the_password_dialog_proves_it_again(recent_passkey_page: Dashboard):
    page = recent_passkey_page
    username = page.new_account("poe", "poe's passphrase")
    signed_in = time.time()  # the session's proof: at the sign-in, or just before
    # Within REAUTH_WINDOW of signing in: the passkey's options ask for no password.
    page.click("#passkey-add")
    page.visible("#passkey-add-form")
    page.submit("#passkey-add-form")
    assert not page.find("#password-dialog").is_displayed()
    page.visible("#recovery-codes")
    page.click("#recovery-codes-done")
    page.wait_for_text("#passkeys-status", "1 passkey.")

    # Past it: a new email needs the proof again, and the dialog offers the passkey.
    time.sleep(max(0.0, signed_in + REAUTH_SECONDS - time.time()))
    page.fill("#account-email", f"{username}@elsewhere.example.com")
    page.find("#profile-form button[type=submit]").click()
    page.visible("#password-dialog")
    assert "Changing your email needs your password." in page.text("#password-dialog-text")
    assert page.active() == page.find("#password-dialog-password")
    # Cancelled in the browser's dialog: a calm word, and the dialog stays for the password.
    page.driver.set_user_verified(False)
    page.prove_with_passkey()
    assert page.visible("#password-dialog-note").text.startswith("No passkey was used")
    assert page.text("#password-dialog-note").endswith("Try again, or enter your password.")
    assert page.find("#password-dialog").is_displayed()
    assert not page.find("#password-dialog [data-form-error]").is_displayed()
    assert page.active() == page.find("#password-dialog-password")
    page.driver.set_user_verified(True)

    page.prove_with_passkey()  # no password: the change goes through
    page.wait_for_text("#flash", "Your profile has been saved.")
    assert not page.find("#password-dialog").is_displayed()
    status, me = call(page.base, "GET", "/api/user", token=page.token())
    assert (status, me["email"]) == (200, f"{username}@elsewhere.example.com")
    status, session = call(page.base, "GET", "/api/sessions/current", token=page.token())
    assert (status, session["amr"]) == (200, ["pwd", "webauthn"])
    assert page.console_errors() == []


def test_a_cloned_passkey_with_an_old_counter_is_refused(passkey_page: Dashboard):
    page = passkey_page
    page.new_account("cleo", "cleo's passphrase")
    page.add_passkey("cleo's passphrase")
    page.click("#recovery-codes-done")
    page.click("#sign-out")
    page.wait_for_view("Sign in")
    (before,) = page.driver.get_credentials()  # its key and counter, copied off the device

    page.sign_in_with_passkey()
    page.wait_for_view("Users")
    page.click("#sign-out")
    page.wait_for_view("Sign in")

    # The copy, with the counter the original has moved past since: a cloned authenticator.
    clone(page.driver, before, before.sign_count)
    page.sign_in_with_passkey()
    assert page.visible("#passkey-signin-error").text.startswith("That passkey was not accepted")
    assert page.token() is None
    # The same key with a counter past the service's is taken: the counter was the reason.
    clone(page.driver, before, before.sign_count + 10)
    page.sign_in_with_passkey()
    page.wait_for_view("Users")
    assert page.console_errors() == []


def clone(driver: Any, credential: Credential, sign_count: int) -> None:
    """Put `credential` (its id, key and user handle) in the authenticator in place of what
    it holds, with `sign_count` as its counter."""
    driver.remove_all_credentials()
    driver.add_credential(
        Credential.create_resident_credential(
            urlsafe_b64decode(credential.id),
            credential.rp_id,
            urlsafe_b64decode(credential.user_handle),
            urlsafe_b64decode(credential.private_key),
            sign_count,
        )
    )


def test_passkeys_at_an_address_that_is_not_the_services_say_so(page: Dashboard):
    # The server's relying party is `localhost`; this page is at 127.0.0.1 (no authenticator
    # is needed: the browser refuses before it asks one).
    page.new_account("ivy", "ivy's passphrase")
    page.click("#passkey-add")
    page.visible("#passkey-add-form")
    page.find("#passkey-add-form button[type=submit]").click()
    page.visible("#password-dialog")
    page.fill("#password-dialog-password", "ivy's passphrase")
    page.submit("#password-dialog-form")
    page.wait.until(lambda _: _settled(page.find("#passkey-add-form")))
    expected = (
        "Passkeys work at this service's own address (localhost), and this page was opened"
        f" at {page.base.removeprefix('http://')}."
    )
    assert page.visible("#passkey-add-form [data-form-error]").text.startswith(expected)
    assert page.find_all("#passkeys-list li") == []

    page.click("#sign-out")
    page.wait_for_view("Sign in")
    page.sign_in_with_passkey()
    assert page.visible("#passkey-signin-error").text.startswith(expected)
    assert page.console_errors() == []


@pytest.fixture
def strict_page(driver: Any, strict_server: str) -> Dashboard:
    """`page` on the server that requires a verified email, signed out there too."""
    driver.get(f"{strict_server}/")
    driver.execute_script("sessionStorage.clear();")
    driver.get("about:blank")
    driver.get_log("browser")
    return Dashboard(driver, strict_server)


def test_an_unverified_address_is_told_so_at_sign_in_and_can_resend(
    strict_page: Dashboard, mailbox: Mailbox
):
    page = strict_page
    username = new_username("una")
    email = f"{username}@example.com"
    register_user(page.base, username, "una's passphrase")
    page.open()

    # A wrong password is only that: nothing said about the address.
    page.sign_in(username, "not una's passphrase")
    assert page.visible("#signin-form [data-form-error]").text == "Valid credentials are required."
    assert not page.find("#signin-resend").is_displayed()

    page.sign_in(username, "una's passphrase")
    assert page.visible("#signin-form [data-form-error]").text == (
        "Verify your email address first: open the link we mailed you,"
        " or send a new one with the button below."
    )
    assert page.token() is None
    assert page.active() == page.visible("#signin-resend")
    page.click("#signin-resend")
    page.wait_for_text(
        "#flash", f"We've sent a new verification link to the email address of “{username}”"
    )
    # Over this server's budget of one a minute: when to try again, and no second mail.
    page.click("#signin-resend")
    page.wait_for_text("#flash", "You can try again in")
    assert "error" in page.find("#flash").get_attribute("class")

    link = mailed_link(mailbox, page.base, email, "verify", nth=2)
    page.driver.get(link)
    page.wait_for_text("#verify-done", "Your email address is verified.")
    page.click("#verify-next a")
    page.wait_for_view("Sign in")
    page.sign_in_as(username, "una's passphrase")
    assert len(mailbox.messages_to(email)) == 2  # on registering, then the one resend
    assert page.console_errors() == []


def test_keyboard_only(page: Dashboard):
    page.open()
    keys = ActionChains(page.driver)
    for _ in range(5):
        if page.active().get_attribute("id") == "signin-username":
            break
        keys.send_keys(Keys.TAB).perform()
    assert page.active().get_attribute("id") == "signin-username"
    keys.send_keys("johndoe", Keys.TAB, "JohnPass123", Keys.ENTER).perform()
    page.wait_for_view("Users")
    assert page.active() == page.find("#users-title")

    # Past the links of the users listed before hers, however many other tests have added.
    for _ in range(40):
        keys.send_keys(Keys.TAB).perform()
        if page.active().text == "janedoe":
            break
    assert page.active().tag_name == "a"
    keys.send_keys(Keys.ENTER).perform()
    page.wait_for_view("Jane Doe")
    assert page.active() == page.find("#profile-title")
    assert page.console_errors() == []


def test_it_reads_on_a_phone(page: Dashboard, screenshots: Path):
    page.set_viewport(PHONE)
    page.open()
    assert page.no_horizontal_scroll()
    page.click("#forgot-link")
    page.wait_for_view("Forgot your password?")
    assert page.no_horizontal_scroll()
    page.go("#/reset")  # without its token: the view explains, and must fit as well
    page.wait_for_text("#reset-problem", "needs the link from your email")
    assert page.no_horizontal_scroll()
    page.go("#/signin")
    page.wait_for_view("Sign in")
    page.sign_in_as("johndoe", "JohnPass123")
    page.wait_for_text("#users-caption", "on this page")
    assert page.no_horizontal_scroll()
    page.driver.save_screenshot(str(screenshots / "dashboard-phone.png"))
    page.click("a[data-nav='account']")
    page.wait_for_view("My account")
    page.wait_for_text("#sessions-caption", "session")
    assert page.no_horizontal_scroll()
    page.go("#/users/janedoe")
    page.wait_for_view("Jane Doe")
    assert page.no_horizontal_scroll()
    assert page.console_errors() == []


def test_odd_addresses_land_on_a_view(page: Dashboard):
    page.driver.get(f"{page.base}/#main")  # the skip link's anchor, opened as an address
    page.wait_for_view("Sign in")
    page.go("#/account")  # signed out: the sign-in form instead
    page.wait.until(lambda _: page.driver.current_url.endswith("#/signin"))
    page.go("#/reset")  # a reset link without its token (reloaded after the token went)
    page.wait_for_text("#reset-problem", "needs the link from your email")
    assert not page.find("#reset-form").is_displayed()
    page.go("#/verify?token=")
    page.wait_for_text("#verify-problem", "needs the link from your email")
    page.go("#/signin?from=somewhere")  # a query after a route's path: the route's view
    page.wait_for_view("Sign in")
    page.sign_in_as("janedoe", "JanePass123")

    page.go("#/users/%E0")  # not even valid percent-encoding
    page.wait_for_view("No such user")
    assert "There is no user" in page.text("#flash")
    page.go("#/nowhere")
    page.wait_for_view("Users")
    page.go("#/register")  # signed in: no registration form
    page.wait.until(lambda _: page.driver.current_url.endswith("#/users"))
    page.go("#/forgot")  # nor the form that asks for a reset link
    page.wait.until(lambda _: page.driver.current_url.endswith("#/users"))
    assert page.console_errors() == []


def test_the_api_docs_render_under_their_own_policy(page: Dashboard):
    page.driver.get(f"{page.base}/api/docs")

    page.wait.until(lambda _: len(page.find_all(".opblock")) >= 10)  # every operation listed
    assert page.text(".info .title").startswith("Users API")
    page.click(".opblock-summary-path[data-path='/api/health/live']")
    page.visible(".opblock.is-open .try-out__btn").click()
    page.visible(".opblock.is-open .execute").click()
    page.wait_for_text(".opblock.is-open .response .response-col_status", "200")
    # The page's inline code runs by hash; a blocked script or style would be logged here.
    assert page.console_errors() == []
