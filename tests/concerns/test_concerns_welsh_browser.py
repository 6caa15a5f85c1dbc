"""A real browser, JavaScript off: a reporter raises a concern in Welsh, end to end.

They choose Cymraeg from the language link, make a mistake on the form (it comes back in
Welsh with what they typed), send it, note the receipt, come back with it, read the
handler's reply and answer — every page in Welsh, with `lang="cy"`, checked with axe.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright
from test_concerns_browser import CHROMIUM_ARGS, PageChecks, sign_in_handler, site  # noqa: F401

REPORT = "Yn yr ystafell staff dywedodd uwch nyrs y dylwn i 'fynd yn ôl adref'."
WISH = "Hoffwn i gael ymddiheuriad."
REPLY = "Thank you for telling us. We are looking into it."
ANSWER = "Diolch. Digwyddodd ar y shifft hwyr."


@pytest.mark.browser
def test_a_reporter_raises_a_concern_in_welsh_without_javascript(site):  # noqa: F811
    server, totp_secret = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        staff = browser.new_context().new_page()
        reporter = browser.new_context(java_script_enabled=False).new_page()
        checks = PageChecks(browser, server.url)
        sign_in_handler(staff, server.url, totp_secret)

        # Given a reporter on the English home page who chooses Welsh
        reporter.goto(server.url + "/")
        reporter.get_by_role("link", name="Cymraeg").first.click()
        reporter.wait_for_load_state()
        assert reporter.locator("html").get_attribute("lang") == "cy"
        reporter.get_by_role("link", name="Codi pryder").first.click()
        reporter.wait_for_load_state()
        assert reporter.locator("h1").inner_text() == "Codi pryder"
        assert reporter.locator("html").get_attribute("lang") == "cy"
        checks.check("welsh-new", reporter.content())

        # When they forget the category, the form comes back in Welsh with their words
        reporter.get_by_label("Beth ddigwyddodd?").fill(REPORT)
        reporter.get_by_label("Beth hoffech chi i ddigwydd? (dewisol)").fill(WISH)
        reporter.get_by_role("button", name="Anfon fy mhryder").click()
        reporter.wait_for_load_state()
        assert "Mae problem" in reporter.content()
        assert "Dewiswch un o’r categorïau a restrir." in reporter.content()
        assert reporter.get_by_label("Beth ddigwyddodd?").input_value() == REPORT
        assert reporter.get_by_label("Beth hoffech chi i ddigwydd? (dewisol)").input_value() \
            == WISH
        checks.check("welsh-new-error", reporter.content())

        # Then, with a category chosen, it is sent and the receipt is shown in Welsh
        reporter.get_by_label("Racism or discrimination").check()  # the admins' data
        reporter.get_by_role("button", name="Anfon fy mhryder").click()
        reporter.wait_for_load_state()
        assert reporter.locator("h1").inner_text() == "Mae eich pryder wedi’i anfon"
        receipt = reporter.locator("#receipt").inner_text().strip()
        assert len(receipt) == 24
        # The copy button needs JavaScript: without it, it stays hidden.
        assert not reporter.locator("#copy-receipt").is_visible()
        checks.check("welsh-receipt", reporter.content())

        # A handler answers (in English: staff pages may stay in English)
        staff.get_by_role("link", name="Inbox", exact=True).click()
        staff.wait_for_load_state()
        staff.locator("table.inbox a").first.click()
        staff.wait_for_load_state()
        assert REPORT in staff.content()
        staff.get_by_label("Your reply").fill(REPLY)
        staff.get_by_role("button", name="Send reply").click()
        staff.wait_for_load_state()

        # The reporter comes back with the receipt and reads the reply in Welsh
        reporter.get_by_role("link", name="Gwirio pryder").first.click()
        reporter.wait_for_load_state()
        assert reporter.locator("h1").inner_text() == "Gwirio pryder a godoch"
        reporter.get_by_label("Eich derbynneb").fill(receipt.lower())
        reporter.get_by_role("button", name="Dangos fy mhryder").click()
        reporter.wait_for_load_state()
        assert reporter.locator("h1").inner_text() == "Eich pryder"
        page = reporter.content()
        assert REPORT in page and REPLY in page and "Atebodd ymdriniwr achosion" in page
        assert "Sut brofiad oedd e i chi?" in page
        checks.check("welsh-conversation", page)

        # and answers, in Welsh
        reporter.get_by_label("Eich ateb").fill(ANSWER)
        reporter.get_by_role("button", name="Anfon ateb").click()
        reporter.wait_for_load_state()
        assert "Mae eich ateb wedi’i anfon." in reporter.content()
        assert ANSWER in reporter.content()
        assert reporter.locator("html").get_attribute("lang") == "cy"
        browser.close()
    assert not checks.problems, checks.problems
