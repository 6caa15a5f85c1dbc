"""Every page a reporter of a concern sees, in Welsh, with nothing left in English.

Each page is rendered twice in the same state, once in English and once in Welsh. The
catalogue messages the English page shows are the ones the page uses; for each of them
the Welsh catalogue must have a translation and its English text must not be on the
Welsh page. Text that is data (the categories an admin keeps, what the reporter typed)
is not a message and stays as it was written.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
from babel.messages.pofile import read_po
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, receipt_from
from flask_babel import ngettext
from PIL import Image
from sqlalchemy import select

from concerns import (
    cleaning_words,
    conflicts,
    image_clean,
    professional_groups,
    services,
    views,
)
from concerns.models import Concern, ConcernCategory, Status
from speakup.translatable import TRANSLATIONS
from speakup.web import services as app_services

WELSH_TEXT = "Dywedodd rheolwr y shifft wrthyf am fynd yn ôl adref, o flaen y cleifion."
WELSH_WISH = "Hoffwn i hyn beidio â digwydd eto."
REPLY = "Thank you for telling us. We are looking into it."  # the handler writes in English
CATALOGUE = TRANSLATIONS / "cy" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
SHORT = 25  # a message shorter than this must be a whole text on the page to count


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _catalogue() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(English forms, Welsh forms) of every message in the Welsh catalogue."""
    with CATALOGUE.open("rb") as f:
        catalogue = read_po(f, locale="cy")
    out = []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not any(re.search(r"[A-Za-z]", PLACEHOLDER.sub("", i)) for i in ids):
            continue  # only placeholders and punctuation ("%(survey)s: %(round)s"): no English
        if not any(strings):
            # Staff pages' text, which may stay English for now; that every message a
            # reporter can read has its Welsh is test_languages_catalogue's check.
            continue
        out.append((ids, tuple(s or "" for s in strings)))
    return out


class _Text(HTMLParser):
    """A page's text: each text node and shown attribute, and all of it run together."""

    SHOWN = ("data-copied", "data-failed", "aria-label", "title", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self.run: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.nodes += [_norm(v) for k, v in attrs if k in self.SHOWN and v]

    def handle_data(self, data: str) -> None:
        self.run.append(data)
        if data.strip():
            self.nodes.append(_norm(data))


def _page_text(html: str) -> tuple[set[str], str]:
    parser = _Text()
    parser.feed(html)
    return set(parser.nodes), _norm("".join(parser.run))


def _pattern(msgid: str) -> tuple[re.Pattern[str], bool]:
    """The message as it appears on a page (markup gone, values anything); whether short."""
    text = _norm(re.sub(r"<[^>]+>", "", msgid))
    literal = PLACEHOLDER.split(text)
    return re.compile(".+?".join(re.escape(part) for part in literal)), \
        len("".join(literal).strip()) < SHORT


def _shown(msgid: str, nodes: set[str], run: str, data: set[str]) -> bool:
    pattern, short = _pattern(msgid)
    if short:
        return any(pattern.fullmatch(node) for node in nodes - data)
    return pattern.search(run) is not None


def assert_welsh(english: str, welsh: str, data: set[str] = frozenset()) -> int:  # type: ignore[assignment]
    """Check the Welsh page against the English one; return how many messages it uses."""
    assert '<html lang="cy">' in welsh
    en_nodes, en_run = _page_text(english)
    cy_nodes, cy_run = _page_text(welsh)
    used = left = 0
    problems = []
    for ids, strings in _catalogue():
        if not any(_shown(i, en_nodes, en_run, data) for i in ids):
            continue
        used += 1
        if not all(strings):
            problems.append(f"no Welsh for {ids[0]!r}")
        elif any(_shown(i, cy_nodes, cy_run, data) for i in ids):
            left += 1
            problems.append(f"left in English: {ids[0]!r}")
    assert not problems, "\n".join(problems)
    assert used > 0
    return used


def _client(app, lang):  # type: ignore[no-untyped-def]
    """A test client whose language is chosen once, as the page's link chooses it."""
    client = app.test_client()
    assert client.get(f"/concerns/check?lang={lang}").status_code == 200
    return client


def _categories(session) -> set[str]:  # type: ignore[no-untyped-def]
    return set(session.scalars(select(ConcernCategory.label)))


def _submit(client, text=WELSH_TEXT, category="1", wanted="", **extra):  # type: ignore[no-untyped-def]
    html = client.get("/concerns/new").get_data(as_text=True)
    token = hidden_fields(html).get("csrf_token") or hidden_fields(
        client.get("/concerns/check").get_data(as_text=True))["csrf_token"]
    return client.post("/concerns/new", data={"csrf_token": token, "category": category,
                                              "what_happened": text, "what_wanted": wanted,
                                              **extra})


def _check(client, receipt):  # type: ignore[no-untyped-def]
    token = hidden_fields(client.get("/concerns/check").get_data(as_text=True))["csrf_token"]
    return client.post("/concerns/check", data={"csrf_token": token, "receipt": receipt})


def _both(app, scenario):  # type: ignore[no-untyped-def]
    """Run `scenario(client)` for an English and a Welsh client; return both responses."""
    return scenario(_client(app, "en")), scenario(_client(app, "cy"))


def _html(response, status):  # type: ignore[no-untyped-def]
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[:2000]
    return html


# --------------------------------------------------------------------------- the pages


def test_the_form_is_in_welsh(app, session, recovery_key):
    en, cy = _both(app, lambda c: c.get("/concerns/new"))
    assert assert_welsh(_html(en, 200), _html(cy, 200), _categories(session)) >= 20
    assert "Codi pryder" in cy.get_data(as_text=True)


def test_the_form_with_its_groups_and_handlers_is_in_welsh(app, session, clock, recovery_key,
                                                          make_handler, concern_config):
    professional_groups.add_group(session, clock, label="Nursing", actor="test")
    handler = make_handler()
    conflicts.set_display_name(session, clock, handler.user.id, "Alex Handler", actor="test")
    session.commit()
    app_services(app).extras.pop("concern_group_choices", None)
    app_services(app).extras.pop("concern_handler_choices", None)
    en, cy = _both(app, lambda c: c.get("/concerns/new"))
    html = _html(cy, 200)
    assert "Heb ateb" in html  # the professional group's "Not answered"
    # What admins typed is shown as typed (README "Languages")
    assert ">Nursing</option>" in html and "Racism or discrimination</label>" in html
    assert_welsh(_html(en, 200), html, _categories(session) | {"Nursing", "Alex Handler"})


def test_validation_errors_are_in_welsh_and_keep_what_was_typed(app, session, recovery_key):
    # Given a reporter who typed in Welsh, chose no category and wrote too long a wish
    long_wish = "a" * 5001
    en, cy = _both(app, lambda c: _submit(c, category="", wanted=long_wish))
    html = _html(cy, 400)
    # Then every error is said in Welsh and nothing they typed is lost
    assert "Dewiswch un o’r categorïau a restrir." in html
    assert "Defnyddiwch 5,000 nod ar y mwyaf (fe ddefnyddioch 5,001)." in html
    assert "Mae problem" in html
    assert WELSH_TEXT in html and long_wish in html
    assert session.scalar(select(Concern.id)) is None
    assert_welsh(_html(en, 400), html, _categories(session))


def test_an_empty_report_is_refused_in_welsh(app, session, recovery_key):
    en, cy = _both(app, lambda c: _submit(c, text="   ", wanted=WELSH_WISH))
    html = _html(cy, 400)
    assert "Ni all hwn fod yn wag." in html and WELSH_WISH in html
    assert_welsh(_html(en, 400), html, _categories(session))


def test_an_expired_form_is_in_welsh_and_keeps_the_text(app, session, recovery_key):
    def expired(client):  # type: ignore[no-untyped-def]
        return client.post("/concerns/new", data={"csrf_token": "stale", "category": "1",
                                                  "what_happened": WELSH_TEXT})
    en, cy = _both(app, expired)
    html = _html(cy, 400)
    assert WELSH_TEXT in html and "Roedd y ffurflen hon wedi dod i ben" in html
    assert_welsh(_html(en, 400), html, _categories(session))


def test_the_receipt_page_is_in_welsh(app, session, recovery_key):
    en, cy = _both(app, lambda c: _submit(c, wanted=WELSH_WISH))
    english, welsh = _html(en, 200), _html(cy, 200)
    assert assert_welsh(english, welsh) >= 10
    assert "Mae eich pryder wedi’i anfon" in welsh
    # The copy button's words come from the page, so the script says them in Welsh too.
    assert 'data-failed="Ni weithiodd copïo yma' in welsh


def test_a_receipt_made_on_a_welsh_page_opens_the_concern_in_english(app, session,
                                                                      recovery_key):
    welsh = _client(app, "cy")
    receipt = receipt_from(_html(_submit(welsh, wanted=WELSH_WISH), 200))
    page = _html(_check(_client(app, "en"), receipt), 200)
    assert '<html lang="en-GB">' in page and "<h1>Your concern</h1>" in page
    assert WELSH_TEXT in page and WELSH_WISH in page
    # and back in Welsh with the same receipt, typed in lower case with spaces
    again = _html(_check(welsh, receipt.lower().replace("-", " ")), 200)
    assert "<h1>Eich pryder</h1>" in again and WELSH_TEXT in again


def test_the_check_page_and_its_errors_are_in_welsh(app, session, recovery_key):
    en, cy = _both(app, lambda c: c.get("/concerns/check"))
    assert_welsh(_html(en, 200), _html(cy, 200))
    en, cy = _both(app, lambda c: _check(c, "not a receipt"))
    html = _html(cy, 400)
    assert "Nid derbynneb yw hynny." in html and 'value="not a receipt"' in html
    assert_welsh(_html(en, 400), html)
    unknown = "ABCD-EFGH-JKMN-PQRS-TVWX"
    en, cy = _both(app, lambda c: _check(c, unknown))
    html = _html(cy, 400)
    assert "Ni allem ddod o hyd i bryder gyda’r dderbynneb honno." in html
    assert_welsh(_html(en, 400), html)


@pytest.fixture
def replied(app, session, clock, concern_config, recovery_key, make_handler):
    """A concern raised by each client, answered by a case handler; returns the receipts."""
    handler = make_handler()

    def raise_and_reply(client):  # type: ignore[no-untyped-def]
        receipt = receipt_from(_html(_submit(client, wanted=WELSH_WISH), 200))
        concern_id = session.scalar(select(Concern.id).order_by(Concern.id.desc()).where(
            Concern.receipt_hash == services.receipt_keys(concern_config, receipt).lookup))
        services.handler_message(session, clock, concern_config, handler.user, concern_id,
                                 text=REPLY, seen_seq=1, note=False)
        session.commit()
        return client, receipt, concern_id
    return handler, raise_and_reply


def test_the_conversation_with_a_reply_is_in_welsh(app, session, replied):
    _, raise_and_reply = replied
    en, cy = _both(app, lambda c: _check(*raise_and_reply(c)[:2]))
    english, welsh = _html(en, 200), _html(cy, 200)
    # The verdict questions open after the first reply: they are on the page too.
    assert "Sut brofiad oedd e i chi?" in welsh and "Atebodd ymdriniwr achosion" in welsh
    assert REPLY in welsh and WELSH_TEXT in welsh  # what people wrote stays as written
    assert assert_welsh(english, welsh, _categories(session)) >= 30


def test_a_reply_and_the_verdict_sent_from_welsh_pages_are_answered_in_welsh(app, session,
                                                                             replied):
    _, raise_and_reply = replied

    def reply(client):  # type: ignore[no-untyped-def]
        client, receipt, _ = raise_and_reply(client)
        page = _check(client, receipt).get_data(as_text=True)
        form = re.search(r'<form[^>]*action="/concerns/reply".*?</form>', page, re.S)
        return client.post("/concerns/reply", data={**hidden_fields(form.group(0)),
                                                    "text": "Diolch."})
    en, cy = _both(app, reply)
    welsh = _html(cy, 200)
    assert "Mae eich ateb wedi’i anfon." in welsh
    assert_welsh(_html(en, 200), welsh, _categories(session))

    def empty_verdict(client):  # type: ignore[no-untyped-def]
        client, receipt, _ = raise_and_reply(client)
        page = _check(client, receipt).get_data(as_text=True)
        form = re.search(r'<form[^>]*action="/concerns/verdict".*?</form>', page, re.S)
        return client.post("/concerns/verdict", data=hidden_fields(form.group(0)))
    en, cy = _both(app, empty_verdict)
    welsh = _html(cy, 400)
    assert "Dewiswch ateb i o leiaf un cwestiwn." in welsh
    assert_welsh(_html(en, 400), welsh, _categories(session))


def test_a_closed_concern_is_in_welsh(app, session, clock, concern_config, replied):
    handler, raise_and_reply = replied

    def closed(client):  # type: ignore[no-untyped-def]
        client, receipt, concern_id = raise_and_reply(client)
        services.change_status(session, clock, concern_config, handler.user, concern_id,
                               new_status="closed", outcome="resolved",
                               expected_status=Status.ACKNOWLEDGED.value
                               if session.get(Concern, concern_id).status == "acknowledged"
                               else session.get(Concern, concern_id).status)
        session.commit()
        return _check(client, receipt)
    en, cy = _both(app, closed)
    welsh = _html(cy, 200)
    assert "Wedi’i gau" in welsh and "Wedi’i ddatrys" in welsh
    assert re.search(r"atebwch erbyn <strong>\d+ \w+ \d{4}</strong>", welsh)
    assert_welsh(_html(en, 200), welsh, _categories(session))


def test_the_wait_page_is_in_welsh_and_keeps_the_text(app, session, recovery_key):
    svc = app_services(app)
    svc.extras["concerns"] = svc.extras["concerns"].with_changes(concerns_per_minute=1)

    def busy(client):  # type: ignore[no-untyped-def]
        _submit(client, text="first")
        return _submit(client, wanted=WELSH_WISH)
    en, cy = _both(app, busy)
    welsh = _html(cy, 429)
    assert re.search(r"<h1>Arhoswch \d+ eiliad, yna anfonwch eich pryder</h1>", welsh)
    assert WELSH_TEXT in welsh and WELSH_WISH in welsh
    assert_welsh(_html(en, 429), welsh)


def test_the_too_large_page_is_in_welsh(app, session, recovery_key):
    def too_large(client):  # type: ignore[no-untyped-def]
        return _submit(client, text="x" * 300_000)
    en, cy = _both(app, too_large)
    welsh = _html(cy, 413)
    assert "Nid yw eich testun wedi’i golli." in welsh
    assert_welsh(_html(en, 413), welsh)


def test_the_not_ready_page_is_in_welsh(app, session):
    # No recovery key and no handler: concerns cannot be received yet.
    en, cy = _both(app, lambda c: c.get("/concerns/new"))
    welsh = _html(cy, 503)
    assert "Ni all Speak Up dderbyn pryderon eto" in welsh
    assert_welsh(_html(en, 503), welsh)


@pytest.mark.parametrize("kind", ["reply", "note"])
def test_the_signed_out_page_is_in_welsh(app, client, login_as, session, clock, concern_config,
                                         recovery_key, kind):
    login_as("handler")
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=WELSH_TEXT)
    session.commit()
    fields = hidden_fields(client.get(f"/handle/{concern_id}").get_data(as_text=True))
    clock.advance(minutes=31)  # past the idle timeout

    def signed_out(lang):  # type: ignore[no-untyped-def]
        return client.post(f"/handle/{concern_id}/{kind}?lang={lang}",
                           data={**fields, f"{kind}-text": "Drafft"})
    english, welsh = _html(signed_out("en"), 401), _html(signed_out("cy"), 401)
    assert "Cawsoch eich allgofnodi" in welsh and "Drafft" in welsh
    assert_welsh(english, welsh)


def test_counts_on_reporter_pages_take_every_welsh_plural_form(app):
    messages = [(s, p) for (ids, _strings) in _catalogue() if len(ids) == 2
                for s, p in [ids] if "second" in s or "file (" in s or "minute" in s]
    assert len(messages) >= 4
    with app.test_request_context("/concerns/new?lang=cy"):
        for singular, plural in messages:
            for n in (0, 1, 2, 3, 6, 7):
                said = ngettext(singular, plural, n, names="“a.txt”", files=5, times=20, count=n)
                assert str(n) in said
                values = {"num": n, "count": n, "names": "“a.txt”", "files": 5, "times": 20}
                assert said not in (singular % values, plural % values)


def test_the_limits_on_receipts_are_said_in_welsh(app, session, recovery_key):
    svc = app_services(app)
    svc.extras["concerns"] = svc.extras["concerns"].with_changes(receipt_checks_per_minute=1,
                                                                 checks_per_receipt_per_minute=1)

    def guessing(client):  # type: ignore[no-untyped-def]
        _check(client, "ABCD-EFGH-JKMN-PQRS-TVWX")
        return _check(client, "ABCD-EFGH-JKMN-PQRS-TVWY")
    en, cy = _both(app, guessing)
    welsh = _html(cy, 429)
    assert "Bu gormod o wiriadau derbynneb yn ystod y funud ddiwethaf." in welsh
    assert "ymhen tua 1 munud" in welsh
    assert_welsh(_html(en, 429), welsh)

    def one_receipt_too_often(client):  # type: ignore[no-untyped-def]
        receipt = receipt_from(_html(_submit(client), 200))
        _check(client, receipt)
        return _check(client, receipt)
    en, cy = _both(app, one_receipt_too_often)
    welsh = _html(cy, 429)
    assert "Mae eich derbynneb wedi’i defnyddio 1 gwaith" in welsh
    assert_welsh(_html(en, 429), welsh)


def test_the_check_finds_a_message_left_in_english(app, session, recovery_key):
    en, cy = _both(app, lambda c: c.get("/concerns/check"))
    english, welsh = _html(en, 200), _html(cy, 200)
    assert_welsh(english, welsh)
    left = welsh.replace("<h1>Gwirio pryder a godoch</h1>",
                         "<h1>Check a concern you raised</h1>")
    with pytest.raises(AssertionError, match="left in English: 'Check a concern you raised'"):
        assert_welsh(english, left)
    with pytest.raises(AssertionError):
        assert_welsh(english, welsh.replace('lang="cy"', 'lang="en-GB"'))


def _with_files(client, files, **fields):  # type: ignore[no-untyped-def]
    html = client.get("/concerns/new").get_data(as_text=True)
    return client.post("/concerns/new", content_type="multipart/form-data", data={
        "csrf_token": hidden_fields(html)["csrf_token"], "category": "1",
        "what_happened": WELSH_TEXT, **fields,
        "attachments": [(io.BytesIO(data), name) for name, data in files]})


def test_files_and_what_was_done_to_them_are_said_in_welsh(app, session, recovery_key):
    # Given a reporter who attaches a note, the receipt says what was kept, in Welsh
    files = [("nodiadau.txt", b"Beth a ysgrifennais i\n")]
    en, cy = _both(app, lambda c: (c, _with_files(c, files)))
    welsh = _html(cy[1], 200)
    assert "attachment-1.txt: testun plaen, wedi’i gadw fel y mae" in welsh
    assert_welsh(_html(en[1], 200), welsh)
    # and the conversation offers it for download in Welsh too
    english_page = _html(_check(en[0], receipt_from(_html(en[1], 200))), 200)
    welsh_page = _html(_check(cy[0], receipt_from(welsh)), 200)
    assert "Llwytho attachment-1.txt i lawr" in welsh_page
    assert_welsh(english_page, welsh_page, _categories(session))


def test_a_refused_file_is_explained_in_welsh_with_its_reason(app, session, recovery_key):
    # A file that says it is a PDF but is not one is refused by the cleaner.
    files = [("adroddiad.pdf", b"%PDF-1.4\n this is not really a PDF at all\n")]
    en, cy = _both(app, lambda c: _with_files(c, files, what_wanted=WELSH_WISH))
    welsh = _html(cy, 400)
    assert "Nid oedd modd glanhau “adroddiad.pdf”, felly ni chafodd ei chadw (" in welsh
    assert "Roeddech wedi dewis 1 ffeil (“adroddiad.pdf”)" in welsh
    assert WELSH_TEXT in welsh and WELSH_WISH in welsh
    assert_welsh(_html(en, 400), welsh, _categories(session))
    reason = re.search(r"ni chafodd ei chadw \(([^)]*)\)", welsh).group(1)
    english = re.search(r"so it was not stored \(([^)]*)\)", _html(en, 400)).group(1)
    assert reason != english, "the cleaner's reason is said in Welsh too"


def test_what_a_cleaning_did_is_read_back_with_its_count_in_welsh(app):
    # The cleaners store English phrases in the sealed body; each is said in Welsh,
    # with the plural form of its own count.
    with app.test_request_context("/concerns/check?lang=cy"):
        for pair in cleaning_words.COUNTED:
            for n in (0, 1, 2, 3, 6, 7):
                stored = cleaning_words.counted(pair, n)
                said = views.translated(stored)
                assert str(n) in said and said != stored, stored
        assert views.translated("XMP and IPTC data removed") == "data XMP ac IPTC wedi’u tynnu"
        assert views.translated("something no catalogue knows") == "something no catalogue knows"
    with app.test_request_context("/concerns/check?lang=en"):
        stored = cleaning_words.counted(cleaning_words.PAGES, 3)
        assert views.translated(stored) == stored == "rebuilt from its 3 pages"


def test_a_refused_picture_is_explained_in_welsh_not_in_pillows_english(app, session,
                                                                        recovery_key):
    # A file that starts like a JPEG photo but is not one: the picture cleaner refuses
    # it, and says why in a catalogue phrase, so the Welsh page says it in Welsh.
    files = [("llun.jpg", b"\xff\xd8\xff\xe0" + b"not really a photo at all " * 20)]
    en, cy = _both(app, lambda c: _with_files(c, files, what_wanted=WELSH_WISH))
    welsh, english = _html(cy, 400), _html(en, 400)
    reason = re.search(r"ni chafodd ei chadw \(([^)]*)\)", welsh).group(1)
    said_in_english = re.search(r"so it was not stored \(([^)]*)\)", english).group(1)
    assert said_in_english in (image_clean.NOT_A_PICTURE, image_clean.DAMAGED)
    assert reason == {image_clean.NOT_A_PICTURE: "nid yw’n llun y gellir ei ddarllen",
                      image_clean.DAMAGED: "mae’r llun wedi’i ddifrodi ac ni ellir ei "
                                           "ddarllen"}[said_in_english]
    assert_welsh(english, welsh, _categories(session))


def test_every_reason_the_picture_cleaner_gives_is_a_catalogue_phrase(app):
    out = io.BytesIO()
    Image.new("1", (7072, 7072)).save(out, format="PNG")  # 50.01 megapixels
    reasons = []
    for data in (b"not a picture", out.getvalue()):
        with pytest.raises(image_clean.ImageRefusedError) as refused:
            image_clean.clean_image(data)
        reasons.append(str(refused.value))
    assert reasons[0] == image_clean.NOT_A_PICTURE
    assert reasons[1] == "the picture has more pixels than the limit of 50 megapixels"
    with app.test_request_context("/concerns/check?lang=cy"):
        assert [views.translated(r) for r in reasons] == [
            "nid yw’n llun y gellir ei ddarllen",
            "mae gan y llun fwy o bicseli na’r terfyn o 50 megapicsel"]
