"""Issue 13: a small, hypothesis-driven fuzz over the whole URL map, as every role.

Each example picks a route, fills its URL arguments, query string and (for forms) its
fields with odd values — huge and negative numbers, unicode digits, NUL bytes, path
tricks, markup, long text — and sometimes sends a malformed Host header. Every answer
must be below 500 and carry the security headers. The full-size run (thousands of
cases per form, against gunicorn) is bench/fuzz.py.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

import pytest
from conftest import add_concern_reader
from foundation_support import ROLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_foundation_headers import header_problems

from concerns import keys
from concerns.config import ConcernConfig
from speakup.web import services

ODD = [
    "9223372036854775808", "-9223372036854775809", "2147483648", "-1", "0", "1", "²", "①",
    "١٢٣", "\x00", "a\x00b", "a..b", "%00", "../../etc/passwd", "<script>x</script>",
    "' OR 1=1 --", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "9" * 40, "x" * 5000, "", " ", "\ufeff", "\ud7ff", "csv",
    "json", "true", "on", "null", "[]", "{}", "ABCDE-FGHJK", "1e400", "NaN",
]
BAD_HOSTS = ["a" * 64 + ".example.org", "a..b", "-", "[::1", "exa mple", "ü.example"]
ODD_VALUES = st.one_of(st.sampled_from(ODD), st.text(max_size=60))
FIELD_NAME = re.compile(r'\bname="([^"]+)"')
ARGUMENT = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-z_]+)>")


def _routes(app):  # type: ignore[no-untyped-def]
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint != "static"),
                  key=lambda r: r.rule)


def _field_names(client, app) -> list[str]:  # type: ignore[no-untyped-def]
    """Every form field name the app's pages show this client (plus a few forged)."""
    names = {"seen_seq", "receipt", "text", "share-handler", "reminder_offsets", "_method"}
    for rule in _routes(app):
        if "GET" in (rule.methods or ()) and not rule.arguments:
            response = client.get(rule.rule)
            # Some pages are files (the favicon, the verifier): read them as text anyway.
            names.update(FIELD_NAME.findall(response.get_data().decode("utf-8", "replace")))
            response.close()
    return sorted(names - {"csrf_token"})


@pytest.mark.parametrize("role", [None, *ROLES], ids=["anonymous", *ROLES])
def test_generated_requests_never_get_a_server_error(app, client, login_as, session, clock,
                                                     role):
    config = ConcernConfig.from_settings(services(app).settings)
    keys.create_recovery_key(session, clock, config, actor="test")  # concerns can be stored
    add_concern_reader(session, clock, config)
    if role is not None:
        login_as(role)
    html = client.get("/login" if role is None else "/account/password").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    names = _field_names(client, app)
    routes = _routes(app)
    problems: list[str] = []

    @settings(max_examples=30, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(data=st.data())
    def one_request(data: st.DataObject) -> None:
        rule = data.draw(st.sampled_from(routes))
        path = ARGUMENT.sub(lambda m: quote(data.draw(ODD_VALUES), safe=""), rule.rule)
        query = data.draw(st.dictionaries(st.sampled_from(["fmt", "round_id", "_method",
                                                           "survey", "next", "page"]),
                                          ODD_VALUES, max_size=2))
        url = path + ("?" + urlencode(query) if query else "")
        headers = {}
        if data.draw(st.integers(0, 9)) == 0:
            headers["Host"] = data.draw(st.sampled_from(BAD_HOSTS))
        methods = rule.methods or set()
        if "POST" in methods and ("GET" not in methods or data.draw(st.booleans())):
            form = data.draw(st.dictionaries(st.sampled_from(names), ODD_VALUES, max_size=6))
            form["csrf_token"] = token
            response = client.post(url, data=form, headers=headers)
        else:
            response = client.get(url, headers=headers)
        where = f"{rule.rule} -> {response.status_code} ({url[:80]!r})"
        if response.status_code >= 500:
            problems.append(where)
        problems.extend(f"{where}: {p}" for p in header_problems(response, path))
        response.close()

    one_request()
    assert not problems, "\n".join(problems[:20])
