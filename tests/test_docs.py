"""The docs stay true: docs/api.md lists every route, docs/configuration.md every setting.

Each check reads a document's text and raises AssertionError naming what is wrong. The
tests run each check on the real document, and show that it fails on a copy of the text with
one row, section, status or example taken away, one cell changed, or one example added with a
status the OpenAPI document does not give (the real files are never edited).

The literal forms both sides agree on:

- a route is `METHOD /path`, the path as Flask's URL map writes it (`/api/users/<username>`):
  one row of docs/api.md's route table begins `| `GET /api/users/<username>` |`, and every
  API route has a heading `### `GET /api/users/<username>`` whose section holds one line
  `**Statuses:** 200, 401, ...`, the statuses of its OpenAPI operation;
- a setting is a row of docs/configuration.md's table, `| `NAME` | development | testing |
  production | meaning |`, each default rendered by `render` below.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Rule

from app.config import ENVIRONMENTS, Config, settings_of
from app.controllers.access import BEARER, Access, declared_access
from app.errors import problem_types
from app.openapi import openapi_path

DOCS = Path(__file__).resolve().parent.parent / "docs"
API_DOC = DOCS / "api.md"
CONFIG_DOC = DOCS / "configuration.md"

# -- docs/api.md ----------------------------------------------------------------------------

ROUTE_ROW = re.compile(r"^\| `([A-Z]+ /\S*)` \|(.*)\|[ \t]*$", re.M)
HEADING = re.compile(r"^(#{1,6}) (.*)$", re.M)
ROUTE_HEADING = re.compile(r"`([A-Z]+ /\S*)`")
STATUSES = re.compile(r"^\*\*Statuses:\*\* (.*)$", re.M)
CONSOLE_BLOCK = re.compile(r"^```console\n(.*?)^```[ \t]*$", re.M | re.S)
LOCAL_URL = re.compile(r"http://127\.0\.0\.1:\d+(/[^\s'\";?]*)")


def routes_of(app: Any) -> dict[str, tuple[Rule, Any]]:
    """`METHOD /path` for every rule of the URL map and method (HEAD and OPTIONS aside)."""
    routes = {}
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes[f"{method} {rule.rule}"] = (rule, app.view_functions[rule.endpoint])
    return routes


def api_routes_of(app: Any) -> dict[str, tuple[Rule, Access]]:
    """The routes that declare their access: the API (pages and docs declare none)."""
    routes = {}
    for name, (rule, view) in routes_of(app).items():
        declared = declared_access(view)
        if declared is not None:
            routes[name] = (rule, declared)
    return routes


def route_rows(text: str) -> dict[str, list[str]]:
    """The route table: `METHOD /path` → its other cells (access, login budget, what)."""
    return {m[1]: [cell.strip() for cell in m[2].split("|")] for m in ROUTE_ROW.finditer(text)}


def route_sections(text: str) -> dict[str, str]:
    """`METHOD /path` → the text under its level-3 heading, up to the next heading."""
    headings = list(HEADING.finditer(text))
    sections = {}
    for here, after in zip(headings, [*headings[1:], None], strict=True):
        found = ROUTE_HEADING.fullmatch(here[2])
        if len(here[1]) == 3 and found:
            sections[found[1]] = text[here.end() : after.start() if after else len(text)]
    return sections


def access_label(declared: Access | None) -> str:
    """How the route table words a route's declared access."""
    if declared is None or not (declared.schemes or declared.login):
        return "anonymous"
    if declared.login:
        return "anonymous (log in)"
    if declared.admin:
        return "admin only"
    if not declared.required:
        return "credentials optional"
    return "bearer token only" if declared.schemes == (BEARER,) else "credentials required"


def check_routes(text: str, routes: dict[str, Any]) -> None:
    """Every route has a row in the route table, and every row is a route."""
    rows = route_rows(text)
    missing = sorted(set(routes) - set(rows))
    unknown = sorted(set(rows) - set(routes))
    assert not missing, f"route table: missing {missing}"
    assert not unknown, f"route table: no such route {unknown}"


def check_route_access(text: str, routes: dict[str, tuple[Rule, Any]]) -> None:
    """Each row gives the route's declared access, and says whether it spends the budget."""
    rows = route_rows(text)
    wrong = []
    for name, (_rule, view) in routes.items():
        declared = declared_access(view)
        spends = bool(declared and declared.checks_password)
        cells = rows.get(name, ["", ""])
        if cells[0] != access_label(declared) or (cells[1] != "no") != spends:
            wrong.append(f"{name}: {cells[:2]}, want {access_label(declared)!r}, spends={spends}")
    assert not wrong, f"route table: {wrong}"


def check_statuses(text: str, routes: dict[str, tuple[Rule, Access]], spec: Any) -> None:
    """Every API route has a section whose statuses are those of its OpenAPI operation."""
    sections = route_sections(text)
    wrong = []
    for name, (rule, _declared) in routes.items():
        method = name.split()[0].lower()
        documented = {int(code) for code in spec["paths"][openapi_path(rule)][method]["responses"]}
        lines = STATUSES.findall(sections.get(name, ""))
        listed = [{int(code) for code in re.findall(r"\d{3}", line)} for line in lines]
        if listed != [documented]:
            wrong.append(f"{name}: {lines or 'no section or no statuses'}, want {documented}")
    assert not wrong, f"route sections: {wrong}"


def curl_calls(text: str) -> list[tuple[str, str, list[int]]]:
    """(method, path, statuses printed) for every curl call of every console block."""
    calls = []
    for block in CONSOLE_BLOCK.findall(text):
        for command, output in _commands(block):
            url = LOCAL_URL.search(command)
            if "curl " not in command or url is None:
                continue
            explicit = re.search(r" -X (\w+)", command)
            head = re.search(r" -s?I\b", command)
            method = explicit[1] if explicit else "HEAD" if head else "GET"
            codes = re.findall(r"^HTTP/1\.1 (\d{3})", output, re.M)
            # `-w '%{http_code} '` in a loop prints the statuses on one line.
            for line in output.splitlines():
                if re.fullmatch(r"(\d{3} ?)+", line.strip()):
                    codes += line.split()
            calls.append((method, url[1], [int(code) for code in codes]))
    return calls


def _commands(block: str) -> list[tuple[str, str]]:
    """The `$ ` commands of a console block (continuation lines joined) and their output."""
    commands: list[tuple[str, list[str]]] = []
    continued = False
    for line in block.splitlines():
        if continued:
            commands[-1] = (commands[-1][0] + " " + line.strip(), [])
        elif line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands:
            commands[-1][1].append(line)
        continued = line.endswith("\\")
    return [(command, "\n".join(output)) for command, output in commands]


def route_calls(text: str, app: Any) -> list[tuple[str, str, list[int]]]:
    """(`METHOD /rule`, path, statuses) for each curl call to a route the app has."""
    adapter = app.url_map.bind("127.0.0.1")
    found = []
    for method, path, codes in curl_calls(text):
        try:
            rule, _args = adapter.match(path, method, return_rule=True)
        except (NotFound, MethodNotAllowed):
            continue  # a URL or method the app does not have: no operation to compare with
        found.append((f"{method} {rule.rule}", path, codes))
    return found


def check_examples(text: str, app: Any, spec: Any) -> None:
    """Every API route has an example, and every status an example shows is documented."""
    api = api_routes_of(app)
    shown: set[str] = set()
    wrong = []
    for name, path, codes in route_calls(text, app):
        if name not in api:
            continue  # HEAD, OPTIONS, pages and docs: not API operations
        shown.add(name)
        rule, _declared = api[name]
        method = name.split()[0]
        responses = spec["paths"][openapi_path(rule)][method.lower()]["responses"]
        wrong += [f"{method} {path} {code}" for code in codes if str(code) not in responses]
    unshown = sorted(set(api) - shown)
    assert not wrong, f"examples: undocumented statuses {wrong}"
    assert not unshown, f"examples: none for {unshown}"


@pytest.fixture
def api_doc() -> str:
    return API_DOC.read_text(encoding="utf-8")


@pytest.fixture
def spec(client: Any) -> Any:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_api_doc_lists_every_route_of_url_map(app, api_doc):
    check_routes(api_doc, routes_of(app))


def test_api_doc_gives_each_route_its_declared_access(app, api_doc):
    check_route_access(api_doc, routes_of(app))


def test_api_doc_gives_each_api_route_the_statuses_of_its_operation(app, api_doc, spec):
    check_statuses(api_doc, api_routes_of(app), spec)


def test_api_doc_shows_each_api_route_with_documented_statuses_only(app, api_doc, spec):
    check_examples(api_doc, app, spec)


# The negative cases run over what the document holds; the checks above tie that to the app.
_API_TEXT = API_DOC.read_text(encoding="utf-8") if API_DOC.exists() else ""
ROWS_IN_DOC = sorted(route_rows(_API_TEXT))
SECTIONS_IN_DOC = sorted(route_sections(_API_TEXT))


def _row_line(text: str, name: str) -> str:
    return next(m[0] for m in ROUTE_ROW.finditer(text) if m[1] == name)


@pytest.mark.parametrize("name", ROWS_IN_DOC)
def test_check_routes_fails_when_route_row_is_missing(app, api_doc, name):
    text = api_doc.replace(_row_line(api_doc, name) + "\n", "")

    with pytest.raises(AssertionError, match=re.escape(f"missing ['{name}']")):
        check_routes(text, routes_of(app))


@pytest.mark.parametrize("name", ROWS_IN_DOC)
def test_check_route_access_fails_when_access_cell_is_wrong(app, api_doc, name):
    row = _row_line(api_doc, name)
    cells = row.split(" | ")
    wrong = "credentials required" if cells[1] == "anonymous" else "anonymous"
    text = api_doc.replace(row, " | ".join([cells[0], wrong, *cells[2:]]))

    with pytest.raises(AssertionError, match=re.escape(name)):
        check_route_access(text, routes_of(app))


@pytest.mark.parametrize("name", ROWS_IN_DOC)
def test_check_route_access_fails_when_budget_cell_is_wrong(app, api_doc, name):
    row = _row_line(api_doc, name)
    cells = row.split(" | ")
    wrong = "always" if cells[2] == "no" else "no"
    text = api_doc.replace(row, " | ".join([*cells[:2], wrong, *cells[3:]]))

    with pytest.raises(AssertionError, match=re.escape(name)):
        check_route_access(text, routes_of(app))


@pytest.mark.parametrize("name", SECTIONS_IN_DOC)
def test_check_statuses_fails_when_route_section_is_missing(app, api_doc, spec, name):
    text = api_doc.replace(f"### `{name}`\n", f"### {name}\n")

    with pytest.raises(AssertionError, match=re.escape(f"{name}: no section")):
        check_statuses(text, api_routes_of(app), spec)


@pytest.mark.parametrize("name", SECTIONS_IN_DOC)
def test_check_statuses_fails_when_a_status_is_left_out(app, api_doc, spec, name):
    section = route_sections(api_doc)[name]
    line = STATUSES.search(section)
    assert line is not None
    shorter = line[0].rsplit(", ", 1)[0]
    text = api_doc.replace(section, section.replace(line[0], shorter))

    with pytest.raises(AssertionError, match=re.escape(name)):
        check_statuses(text, api_routes_of(app), spec)


@pytest.mark.parametrize("name", SECTIONS_IN_DOC)
def test_check_examples_fails_when_example_shows_undocumented_status(app, api_doc, spec, name):
    method, rule = name.split()
    path = rule.replace("<username>", "janedoe")
    example = f"$ curl -si -X {method} http://127.0.0.1:5000{path}\nHTTP/1.1 418 I'M A TEAPOT"
    text = f"{api_doc}\n```console\n{example}\n```\n"

    with pytest.raises(AssertionError, match=re.escape(f"{method} {path} 418")):
        check_examples(text, app, spec)


@pytest.mark.parametrize("name", SECTIONS_IN_DOC)
def test_check_examples_fails_when_route_has_no_example(app, api_doc, spec, name):
    blocks = [block[0] for block in CONSOLE_BLOCK.finditer(api_doc)]
    text = "\n".join(b for b in blocks if name not in {call[0] for call in route_calls(b, app)})

    with pytest.raises(AssertionError, match=re.escape(f"'{name}'")):
        check_examples(text, app, spec)


# -- docs/configuration.md -----------------------------------------------------------------

SETTING_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|(.*)\|[ \t]*$", re.M)
SETTINGS_HEADER = "| variable | development | testing | production | meaning |"
MISSING = object()  # the environment's class has no such setting
NO_SUCH_SETTING = "\u2013"  # an en dash, as the table writes it
ALL_SETTINGS = sorted(
    set(settings_of(Config)).union(*(settings_of(cls) for cls in ENVIRONMENTS.values()))
)


def render(value: Any) -> str:
    """A default as the settings table writes it."""
    if value is MISSING:
        return NO_SUCH_SETTING
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value == "":
        return "empty"
    return f"`{value}`"


def setting_rows(text: str) -> dict[str, list[str]]:
    """The settings table: NAME → its other cells, in the header's order."""
    return {m[1]: [cell.strip() for cell in m[2].split("|")] for m in SETTING_ROW.finditer(text)}


def check_settings(text: str) -> None:
    """Every setting of every environment has a row, and every row is a setting."""
    rows = setting_rows(text)
    missing = sorted(set(ALL_SETTINGS) - set(rows))
    unknown = sorted(set(rows) - set(ALL_SETTINGS))
    assert not missing, f"settings table: missing {missing}"
    assert not unknown, f"settings table: no such setting {unknown}"


def check_defaults(text: str) -> None:
    """Each environment's column gives its class's default, rendered by `render`."""
    assert SETTINGS_HEADER in text, "settings table: no header"
    columns = [cell.strip() for cell in SETTINGS_HEADER.strip("|").split("|")]
    rows = setting_rows(text)
    wrong = []
    for env, config_class in ENVIRONMENTS.items():
        defaults = settings_of(config_class)
        for name in ALL_SETTINGS:
            cells = rows.get(name, [])
            index = columns.index(env) - 1
            cell = cells[index] if index < len(cells) else None
            expected = render(defaults.get(name, MISSING))
            if cell != expected:
                wrong.append(f"{name} in {env}: {cell!r}, want {expected!r}")
    assert not wrong, f"settings table: {wrong}"


@pytest.fixture
def config_doc() -> str:
    return CONFIG_DOC.read_text(encoding="utf-8")


def test_configuration_doc_has_a_row_per_setting(config_doc):
    check_settings(config_doc)


def test_configuration_doc_gives_each_environment_its_defaults(config_doc, settings):
    check_defaults(config_doc)
    # The fixture the tests build their apps from is the testing column.
    rows = setting_rows(config_doc)
    assert {name: rows[name][1] for name in settings} == {
        name: render(value) for name, value in settings.items()
    }


def _setting_line(text: str, name: str) -> str:
    return next(m[0] for m in SETTING_ROW.finditer(text) if m[1] == name)


@pytest.mark.parametrize("name", ALL_SETTINGS)
def test_check_settings_fails_when_setting_row_is_missing(config_doc, name):
    text = config_doc.replace(_setting_line(config_doc, name) + "\n", "")

    with pytest.raises(AssertionError, match=re.escape(f"missing ['{name}']")):
        check_settings(text)


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("name", ALL_SETTINGS)
def test_check_defaults_fails_when_default_is_wrong(config_doc, name, env):
    row = _setting_line(config_doc, name)
    cells = row.split(" | ")
    column = ["development", "testing", "production"].index(env) + 1
    cells[column] = "`wrong`"
    text = config_doc.replace(row, " | ".join(cells))

    with pytest.raises(AssertionError, match=re.escape(f"{name} in {env}: '`wrong`'")):
        check_defaults(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (MISSING, "\u2013"),
        (None, "unset"),
        ("", "empty"),
        (False, "`false`"),
        (0, "`0`"),
        (5.0, "`5.0`"),
    ],
)
def test_render_tells_unset_empty_false_and_zero_apart(value, expected):
    assert render(value) == expected


def test_api_doc_and_document_name_every_problem_type(app):
    errors_section = API_DOC.read_text().split("## Errors", 1)[1]
    described = app.spec["components"]["schemas"]["Problem"]["properties"]["type"]["description"]

    for kind in problem_types():
        assert f'`{kind.type}` ({kind.status}, "{kind.title}")' in errors_section
        assert f"{kind.type} ({kind.status}: {kind.title})" in described
