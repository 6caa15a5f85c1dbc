"""A printed slip as staff use it: print the PDF, scan its QR code off the page, answer."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pyotp
import pytest
import zxingcpp
from conftest import PASSWORD, REPO, TEST_SECRET, free_port
from PIL import Image
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import func, select
from surveys_testlib import make_survey, open_round_now, opened

from speakup import accounts
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.models import RateLimitWindow
from speakup.settings import Settings
from surveys.models import Response, Round, TokenHash
from surveys.slips import WRONG_CODE_BUCKET

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
CODE = re.compile(r"\b[2-9A-HJKMNP-Z]{4}(?:-[2-9A-HJKMNP-Z]{4}){3}\b")


@pytest.fixture(scope="module")
def browser() -> Browser:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def answer_one_question(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("group", name="It is safe to take a risk on this team.").get_by_label(
        "Agree", exact=True).check()
    page.get_by_role("button", name="Send my answers").click()
    page.get_by_role("button", name="Send anyway").click()
    assert "answers have been saved" in page.get_by_role("heading", level=1).inner_text()


@pytest.mark.browser
def test_scan_a_printed_slip_and_answer_on_a_phone(browser, fresh_database_url, live_server,
                                                   tmp_path: Path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(secret_key=TEST_SECRET, database_url=fresh_database_url,
                        instance_path=tmp_path / "instance")
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        admin = accounts.create_user(session, SystemClock(), email="admin@example.org",
                                     role="admin", password=PASSWORD, actor="test")
        survey = make_survey(session, SystemClock(), settings, ["a@example.org"])
        round_ = open_round_now(session, SystemClock(), survey, settings)
        session.commit()
        secret, survey_id, round_id = admin.totp_secret or "", survey.id, round_.id
    server = live_server(workers=1, threads=2, port=port, SPEAKUP_BASE_URL=base)

    # The admin prints three slips for one ward, from the round's page.
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("#email", "admin@example.org")
    page.fill("#password", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{server.url}/admin/surveys/{survey_id}")
    page.get_by_role("link", name="Print slips…").click()
    page.get_by_label("How many slips, for which team or site").fill("Ward 5: 3")
    page.get_by_role("button", name="Check the numbers").click()
    assert "The PDF is made once, for this download only." in page.locator("main").inner_text()
    with page.expect_download() as download:
        page.get_by_role("button", name="Make and download the PDF (3 slips)").click()
    pdf = tmp_path / "downloaded" / "slips.pdf"
    download.value.save_as(pdf)
    context.close()

    # The first page as a printer would render it; its QR codes read by a scanner.
    subprocess.run(["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", str(pdf),
                    str(tmp_path / "page")], check=True)
    [rendered] = tmp_path.glob("page*.png")
    urls = [r.text for r in zxingcpp.read_barcodes(Image.open(rendered))]
    assert len(urls) == 3
    assert all(url.startswith(f"{base}/s/") for url in urls)
    words = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"],
                           check=True, capture_output=True, text=True).stdout
    printed = CODE.findall(words)
    # Each slip: the round's name, closing time, the page to type the code at, anonymity,
    # where results go. The pile's name heads the page once and is on no slip.
    flat = " ".join(words.split())
    assert flat.count("Pulse check") == 3
    assert flat.count("Open until ") == 3
    assert flat.count(f"127.0.0.1:{port}/code") == 3
    assert flat.count("Your answers are anonymous") == 3
    assert flat.count(f"Results, and what was done about them: {base}/results/") == 3
    assert flat.count("Ward 5") == 1
    assert flat.startswith("Ward 5: 3 slips, page 1 of 1.")
    # The code printed to type is the one in the QR code next to it.
    assert sorted(printed) == sorted(url.removeprefix(f"{base}/s/") for url in urls)

    # Two staff scan theirs on a phone (no JavaScript); a third types the code, loosely.
    phone = browser.new_context(java_script_enabled=False, viewport={"width": 390,
                                                                      "height": 844})
    page = phone.new_page()
    for url in urls[:2]:
        page.goto(url)
        assert page.get_by_role("heading", level=1).inner_text() == "Pulse check"
        answer_one_question(page)
    third = urls[2].removeprefix(f"{base}/s/")
    page.goto(f"{base}/code")
    page.get_by_label("Code from your slip").fill(third.lower().replace("-", " "))
    page.get_by_role("button", name="Go to the survey").click()
    answer_one_question(page)
    page.goto(urls[0])
    assert "already been used" in page.get_by_role("heading", level=1).inner_text()
    # A wrong code is counted by a GET, whose session otherwise only reads.
    page.goto(f"{base}/s/2222-3333-4444-5555")
    assert "do not recognise" in page.get_by_role("heading", level=1).inner_text()
    phone.close()

    with make_session_factory(engine)() as session:
        round_ = session.get(Round, round_id)
        assert (round_.invited_count, round_.slips_printed) == (4, 3)  # 1 e-mail + 3 slips
        assert session.scalar(select(func.count()).select_from(Response)) == 3
        assert session.scalar(select(func.count()).select_from(TokenHash).where(
            TokenHash.used.is_(True))) == 3
        assert [r.answers for r in opened(session, settings, round_)] == [{"psafe_4": 6}] * 3
        assert session.scalar(select(RateLimitWindow.count).where(
            RateLimitWindow.bucket == WRONG_CODE_BUCKET)) == 1
    engine.dispose()
    assert not list((tmp_path / "instance").rglob("*.pdf"))


@pytest.mark.browser
def test_slip_pages_fit_a_phone_and_have_no_serious_accessibility_violations(
        browser, fresh_database_url, live_server, tmp_path: Path):
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make browser-deps`")
    settings = Settings(secret_key=TEST_SECRET, database_url=fresh_database_url,
                        instance_path=tmp_path / "instance")
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        admin = accounts.create_user(session, SystemClock(), email="admin@example.org",
                                     role="admin", password=PASSWORD, actor="test")
        survey = make_survey(session, SystemClock(), settings, ["a@example.org"])
        round_ = open_round_now(session, SystemClock(), survey, settings)
        session.commit()
        secret, round_id = admin.totp_secret or "", round_.id
    engine.dispose()
    server = live_server(workers=1, threads=2)
    violations: list[dict] = []
    # axe runs as a script; the pages themselves need none.
    context = browser.new_context(bypass_csp=True, viewport={"width": 390, "height": 844})
    page = context.new_page()

    def check(where: str) -> None:
        assert page.locator("html").evaluate("e => e.scrollWidth") <= 390, where
        violations.extend(_serious_violations(page))

    page.goto(f"{server.url}/code")
    check("/code")
    page.get_by_label("Code from your slip").fill("not a code")
    page.get_by_role("button", name="Go to the survey").click()
    assert page.get_by_role("heading", name="There is a problem").is_visible()
    check("/code with an error")
    page.goto(server.url + "/login")
    page.fill("#email", "admin@example.org")
    page.fill("#password", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{server.url}/admin/surveys/rounds/{round_id}/slips")
    check("print page")
    page.get_by_label("How many slips, for which team or site").fill("Ward 5: 12\nEstates: 11")
    page.get_by_role("button", name="Check the numbers").click()
    assert "23 slips on 4 A4 pages" in page.locator("main").inner_text()
    check("confirmation")
    page.goto(f"{server.url}/admin/surveys/rounds/{round_id}/poster")
    check("poster")
    context.close()
    assert violations == [], [(v["id"], v["help"]) for v in violations]


def _serious_violations(page) -> list[dict]:  # type: ignore[no-untyped-def]
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    return [v for v in json.loads(result)["violations"] if v["impact"] in ("serious", "critical")]
