"""Every page staff use, on a phone: 360 × 740 and 390 × 844 in Debian's Chromium.

One gunicorn per module (and database engine) serves `speakup demo`; each test signs in
as one audience and walks its pages, looking at each at both sizes in the same browser
tab. On every page:

- the page is no wider than the screen (`document.documentElement.scrollWidth`);
- whatever lies beyond the screen's edges is inside a scroll region a keyboard can reach
  (tabindex 0) and a screen reader can name (role region with a label);
- chart text is drawn at 10.5 px or more, and no chart text is cut off at a chart's edge;
- axe-core (WCAG 2.2 A/AA) finds no serious or critical violation.

The pages ship no script: JavaScript is on only so that axe-core can run (CSP bypassed
only to inject it). Screenshots at 360 px go to test-artifacts/phone/.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from conftest import REPO, TEST_SECRET, VENV_BIN, _new_database, start_gunicorn, stop_server
from sqlalchemy import select

from speakup import migrate
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings
from surveys import admin_services, rounds
from surveys.invitations import issue_tokens, token_key
from surveys.models import Round
from surveys.round_keys import RoundKeyFolder

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts" / "phone"
LAUNCH_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
PHONES = ({"width": 360, "height": 740}, {"width": 390, "height": 844})
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SMALLEST_CHART_TEXT_PX = 10.5

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm install)"),
]

# Everything beyond the screen's left or right edge, unless a scroll region holds it.
# A scroll region is an element that scrolls sideways, has tabindex 0, role region and a
# label; an element inside one may reach past the screen, the region itself may not.
OFF_SCREEN = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const problems = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    // Wholly left of the screen is hidden on purpose (the skip link, until focused).
    if (box.width === 0 || box.right < 0) continue;
    if (box.right <= width + 1 && box.left >= -1) continue;
    let holder = el.parentElement;
    while (holder && !scrolls(holder)) holder = holder.parentElement;
    const name = el.tagName.toLowerCase() + (typeof el.className === 'string' && el.className
      ? '.' + el.className.trim().replace(/\\s+/g, '.') : '');
    if (!holder) {
      problems.push(`${name} reaches ${Math.round(box.left)} to ${Math.round(box.right)} px`);
      continue;
    }
    const label = holder.getAttribute('aria-label') || holder.getAttribute('aria-labelledby');
    if (holder.getAttribute('tabindex') !== '0' || holder.getAttribute('role') !== 'region'
        || !label)
      problems.push(`${name} scrolls in a box that is not a focusable, labelled region`);
  }
  return [...new Set(problems)].slice(0, 10);
}"""

# Chart text as drawn: its font size times the chart's scale, and whether it lies inside
# the chart's own box (an SVG clips what falls outside it).
CHART_TEXT = """() => [...document.querySelectorAll('svg.chart text')].map(t => {
  const svg = t.ownerSVGElement.getBoundingClientRect(), box = t.getBoundingClientRect();
  const m = t.getScreenCTM();  // turned text too: the scale is the length of a unit x step
  return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b),
          inside: box.width === 0 || (box.left >= svg.left - 1 && box.right <= svg.right + 1)};
})"""


@dataclass
class Site:
    url: str
    accounts: dict[str, tuple[str, str | None]]  # e-mail -> (password, TOTP secret)
    receipt: str  # a demo concern with a reply thread
    tokens: list[str]  # unused personal links of the demo's open round
    closed_token: str  # a link of a round that has closed
    open_round: int
    live_survey: int  # the survey of the open round
    published_round: int


def demo_accounts(output: str) -> dict[str, tuple[str, str | None]]:
    found = re.findall(r"(\S+@demo\.speakup\.local)\s+password: (\S+)"
                       r"(?:\s+TOTP secret (\S+))?", output)
    return {email: (password, secret or None) for email, password, secret in found}


def add_links(url: str, instance: Path) -> tuple[list[str], str, Round, Round]:
    """Personal links for the demo's open round, and one for a round that has closed."""
    settings = Settings(secret_key=TEST_SECRET, database_url=url, instance_path=instance)
    clock = SystemClock()
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            open_round = session.scalars(select(Round).where(Round.status == "open")).one()
            published = session.scalars(select(Round).where(Round.status == "published")).first()
            assert published is not None
            tokens = issue_tokens(session, open_round.id, 2, token_key(settings))
            spec = admin_services.check_spec({
                "title": "Closed pulse", "instruments": ["speak"], "demographics": [],
                "comment_question": "", "schedule": "weekly, Monday 09:00",
                "timezone": "Europe/London", "open_days": 3, "reminder_offsets_days": [1],
                "min_group_size": 5,
            }, settings, now=clock.now())
            survey = admin_services.create_survey(session, clock, spec, actor="test")
            closed = rounds.add_round(session, survey, clock.now() - dt.timedelta(days=1))
            assert rounds.open_round(session, closed, clock, keys=RoundKeyFolder.of(settings))
            [closed_token] = issue_tokens(session, closed.id, 1, token_key(settings))
            assert rounds.close_round(session, closed, clock, actor="test")
            session.commit()
            return tokens, closed_token, open_round, published
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def site(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`speakup demo` behind gunicorn, on a database of its own, for the whole module."""
    tmp = tmp_path_factory.mktemp("phone")
    url, drop = _new_database(backend, tmp)
    migrate.upgrade(url)
    server = start_gunicorn(url, tmp / "instance", tmp, workers=2, threads=4)
    try:
        out = subprocess.run([str(VENV_BIN / "speakup"), "demo"], env=server.env, cwd=REPO,
                             capture_output=True, text=True, check=True, timeout=300).stdout
        receipt = re.search(r"a reply thread, a verdict, reopened\s+(\S+)", out)
        assert receipt, out
        tokens, closed_token, open_round, published = add_links(url, tmp / "instance")
        yield Site(server.url, demo_accounts(out), receipt.group(1), tokens, closed_token,
                   open_round.id, open_round.survey_id, published.id)
    finally:
        stop_server(server)
        drop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


class Phone:
    """One tab that looks at each page at both phone sizes and notes what is wrong."""

    def __init__(self, site: Site, page) -> None:  # type: ignore[no-untyped-def]
        self.site, self.page = site, page
        self.problems: list[str] = []

    def check(self, name: str) -> None:
        """Look at the page shown now at both sizes, every details element open."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page = self.page
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        for size in PHONES:
            page.set_viewport_size(size)
            where = f"{name} at {size['width']} px"
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > size["width"]:
                self.problems.append(f"{where}: the page is {width} px wide")
            self.problems += [f"{where}: {p}" for p in page.evaluate(OFF_SCREEN)]
            for text in page.evaluate(CHART_TEXT):
                if text["px"] < SMALLEST_CHART_TEXT_PX:
                    self.problems.append(f"{where}: chart text {text['text']!r} at "
                                         f"{text['px']:.1f} px")
                if not text["inside"]:
                    self.problems.append(f"{where}: chart text {text['text']!r} is cut off")
            if size is PHONES[0]:
                shot = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "home"
                page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
            self.problems += [f"{where}: {v}" for v in serious_axe_violations(page)]

    def visit(self, path: str, status: int = 200) -> None:
        response = self.page.goto(self.site.url + path)
        assert response is not None and response.status == status, (path, response)
        self.check(path)

    def sign_in(self, email: str) -> None:
        password, secret = self.site.accounts[email]
        page = self.page
        page.goto(self.site.url + "/login")
        page.fill("#email", email)
        page.fill("#password", password)
        if secret:
            page.fill("#totp", pyotp.TOTP(secret).now())
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        assert "/login" not in page.url, page.content()[:2000]

    def links(self, path: str, pattern: str) -> list[str]:
        """The distinct paths linked from the main part of `path` that match `pattern`."""
        self.page.goto(self.site.url + path)
        hrefs = [a.get_attribute("href") or "" for a in self.page.locator("main a").all()]
        return list(dict.fromkeys(h for h in hrefs if re.fullmatch(pattern, h)))


@pytest.fixture
def phone(site: Site, browser) -> Iterator[Phone]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=PHONES[0], bypass_csp=True)
    yield Phone(site, context.new_page())
    context.close()


def serious_axe_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """tags => axe.run({include: [document], exclude: [["svg.chart *"]]},
                           {runOnly: {type: 'tag', values: tags}})""",
        AXE_TAGS,
    )
    return [f"{v['id']} ({v['impact']}): {v['help']} — {v['nodes'][0]['target']}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_public_reporter_and_respondent_pages_fit_a_phone(phone: Phone) -> None:
    site, tab = phone.site, phone.page
    for path in ("/", "/privacy", "/results/", "/login", "/concerns/new", "/concerns/check"):
        phone.visit(path)
    phone.visit("/s/this-is-not-a-valid-link-0000", status=404)
    phone.visit(f"/s/{site.closed_token}", status=410)

    # Raise a concern: the form, then the receipt.
    tab.goto(site.url + "/concerns/new")
    tab.locator("#category input[type=radio]").first.check()
    tab.get_by_label("What happened?").fill("A colleague mocked my accent in a meeting.")
    tab.get_by_role("button", name="Send my concern").click()
    tab.wait_for_load_state()
    assert tab.locator("#receipt").count() == 1, tab.content()[:2000]
    phone.check("receipt")

    # Come back with a receipt: the conversation, replies and a verdict question.
    tab.goto(site.url + "/concerns/check")
    tab.get_by_label("Your receipt").fill(site.receipt)
    tab.get_by_role("button", name="Show my concern").click()
    tab.wait_for_load_state()
    assert tab.get_by_label("Your reply").count() == 1, tab.content()[:2000]
    phone.check("conversation")

    # Answer the survey: the questions, the "you answered 1 of …" step, thanks, used link.
    link = f"/s/{site.tokens[0]}"
    phone.visit(link)
    tab.locator("main input[type=radio]").first.check()
    tab.get_by_role("button", name="Send my answers").click()
    tab.wait_for_load_state()
    assert "You answered 1 of" in tab.locator("main").inner_text()
    phone.check("survey partial answers")
    tab.get_by_role("button", name="Send anyway").click()
    tab.wait_for_url(site.url + "/s/thanks")
    phone.check("survey thanks")
    phone.visit(link, status=409)
    assert not phone.problems, "\n".join(phone.problems)


def test_handler_pages_fit_a_phone(phone: Phone) -> None:
    phone.sign_in("handler@demo.speakup.local")
    concerns = phone.links("/handle/", r"/handle/[A-Z0-9]+-[A-Z0-9]+")
    assert len(concerns) >= 10, concerns  # the demo's open ones
    for path in ("/handle/", concerns[0], "/handle/settings", "/handle/return",
                 "/handle/themes", "/staff", "/account/password"):
        phone.visit(path)
    assert not phone.problems, "\n".join(phone.problems)


def test_review_pages_fit_a_phone(phone: Phone) -> None:
    phone.sign_in("reviewer@demo.speakup.local")
    [latest, *_] = phone.links("/review/rounds", r"/review/rounds/\d+")
    [goal, *_] = phone.links("/review/goals", r"/review/goals/\d+/edit")
    [action, *_] = phone.links("/review/actions", r"/review/actions/\d+/edit")
    for path in ("/review/", "/review/rounds", latest, latest + "?dimension=team",
                 "/review/trends", "/review/trends?dimension=team", "/review/mechanisms",
                 "/review/goals", goal, "/review/actions", action):
        phone.visit(path)
    assert not phone.problems, "\n".join(phone.problems)


def test_admin_pages_fit_a_phone(phone: Phone) -> None:
    phone.sign_in("admin@demo.speakup.local")
    site = phone.site
    accounts = phone.links("/admin/accounts", r"/admin/accounts/\d+")
    categories = phone.links("/admin/concern-categories/", r"/admin/concern-categories/\d+")
    themes = phone.links("/admin/concern-themes/", r"/admin/concern-themes/\d+")
    groups = phone.links("/admin/concern-professional-groups/",
                         r"/admin/concern-professional-groups/\d+")
    surveys = phone.links("/admin/surveys/", r"/admin/surveys/\d+")
    assert len(surveys) == 3, surveys  # the live demo, the published demo, a closed one
    live = f"/admin/surveys/{site.live_survey}"
    for path in ("/admin/", "/admin/accounts", "/admin/accounts/new", accounts[0],
                 "/admin/results-page", "/admin/surveys/", "/admin/surveys/new",
                 "/admin/surveys/teams", *surveys, f"{live}/edit", f"{live}/audience",
                 f"{live}/preview", f"/admin/surveys/rounds/{site.open_round}/close",
                 f"/admin/surveys/rounds/{site.published_round}/publication",
                 "/admin/concern-categories/", categories[0],
                 "/admin/concern-themes/", themes[0], "/admin/concern-professional-groups/",
                 groups[0], "/admin/concern-handlers/", "/admin/concern-handlers/readers"):
        phone.visit(path)
    assert not phone.problems, "\n".join(phone.problems)


def test_the_readme_states_what_is_checked() -> None:
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    sizes = " and ".join(f"{size['width']} × {size['height']}" for size in PHONES)
    assert f"checked in Chromium at {sizes} px" in readme
    assert f"text would fall below {SMALLEST_CHART_TEXT_PX} px" in readme
    assert "no serious or critical WCAG 2.2 A/AA issue" in readme
    assert AXE_TAGS[-1] == "wcag22aa"
