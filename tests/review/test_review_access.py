"""Who may see the review pages, and what the review package may read."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest
from flask import Flask

REVIEW = Path(__file__).resolve().parents[2] / "review"
REVIEW_URLS = ("/review/", "/review/rounds", "/review/rounds/1", "/review/rounds/1.csv",
               "/review/trends", "/review/trends.json", "/review/mechanisms",
               "/review/mechanisms.csv", "/review/overview.csv", "/review/rounds.json",
               "/review/goals", "/review/goals.csv", "/review/goals/1/edit", "/review/actions",
               "/review/actions.json", "/review/actions/1/edit", "/review/peers")


def test_review_routes_are_for_reviewers_and_admins_only(app: Flask):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("review.")]
    assert len(rules) == 19  # 10 pages and exports, 7 for goals and actions, peers, 1 setting
    for rule in rules:
        # The headline survey is a site setting: an admin's choice, like the results page.
        wanted = ("admin",) if rule.endpoint == "review.headline_survey" else (
            "reviewer", "admin")
        assert app.view_functions[rule.endpoint].allowed_roles == wanted, rule.endpoint


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in REVIEW_URLS:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login"), url


def test_handlers_cannot_see_the_review_pages(client, login_as):
    login_as("handler")  # a real sign-in, TOTP included
    for url in REVIEW_URLS:
        assert client.get(url).status_code == 403, url


def _dummy_url(app: Flask, rule) -> str:  # type: ignore[no-untyped-def]
    values = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        if kind == "IntegerConverter":
            values[name] = 1
        elif kind == "UUIDConverter":
            values[name] = uuid.UUID(int=1)
        elif kind == "AnyConverter":
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = "x"
    with app.test_request_context():
        return app.url_map.bind("localhost").build(rule.endpoint, values)


def test_reviewers_cannot_reach_handler_or_admin_pages(app: Flask, client, login_as):
    login_as("reviewer")
    refused = []
    for rule in app.url_map.iter_rules():
        roles = getattr(app.view_functions[rule.endpoint], "allowed_roles", None)
        if roles == "public" or roles is None or "reviewer" in roles:
            continue
        url = _dummy_url(app, rule)
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(url, method=method)
        # A POST without a CSRF token may be refused before the role check: also no access.
        assert response.status_code in (400, 403), (url, method, response.status_code)
        refused.append(rule.endpoint)
    assert "admin.index" in refused and "admin.account_list" in refused
    handler_only = {
        r.endpoint for r in app.url_map.iter_rules()
        if getattr(app.view_functions[r.endpoint], "allowed_roles", None) == ("handler",)
    }
    assert handler_only <= set(refused)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


@pytest.mark.parametrize("path", sorted(p for p in REVIEW.glob("*.py") if p.name != "demo.py"),
                         ids=lambda p: p.name)
def test_review_reads_only_published_aggregates(path: Path):
    """No review module touches survey or concern tables, raw responses or the audit rows."""
    allowed_outside = {
        "surveys.published.Cell", "surveys.published.Dimension", "surveys.published.PublishedRound",
        "surveys.published.Row", "surveys.published.published_rounds",
        "surveys.published.published_round",
        "surveys.published.surveys_with_results", "surveys.itembank.ItemBankError",
        # Which survey was published last (dates, then the audit log's order of publication).
        "surveys.published.publication_order",
        "surveys.itembank.load_item_bank", "concerns.stats.MechanismStats",
        "concerns.stats.QuarterStats", "concerns.stats.published_stats", "speakup.audit",
        # The audit chain's length and head as frozen into each stored publication.
        "concerns.publication.chain_marks", "concerns.stats.last_quarters",
        "concerns.stats.quarter_label",
        "speakup.disclosure.comments_may_be_shown", "speakup.disclosure.hidden_keys",
        # One sentence naming a round's frozen protection (reads no table).
        "surveys.protection.describe",
        # Issue 22: the signed publication log holds only published aggregates; the
        # figures' definitions are text; signing publications stored before signing
        # existed reads only those stored publications.
        "speakup.models.PublicationLogEntry", "concerns.stats.DEFINITIONS",
        "surveys.publish.sign_unlogged_rounds", "concerns.publication.sign_unlogged_quarters",
    }
    for name in _imports(path):
        if name.split(".")[0] in ("surveys", "concerns") or name.startswith(
            ("speakup.models", "speakup.audit", "speakup.disclosure")
        ):
            assert name in allowed_outside, f"{path.name} imports {name}"
