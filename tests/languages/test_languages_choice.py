"""Choosing a language: by URL, remembered in a plain preference cookie, linked from every page."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from speakup.app import create_app
from speakup.i18n import LANG_COOKIE
from speakup.settings import Settings, SettingsError
from speakup.web import services

LANGUAGE_LINK = re.compile(r'<a href="([^"]+)" lang="(\w+)" hreflang="\w+">([^<]+)</a>')


def language_link(html: str) -> tuple[str, str, str]:
    [link] = LANGUAGE_LINK.findall(html)
    return link


def test_english_by_default_with_a_link_to_welsh(client):
    html = client.get("/privacy").get_data(as_text=True)
    assert '<html lang="en-GB">' in html
    assert language_link(html) == ("/privacy?lang=cy", "cy", "Cymraeg")
    assert not client.get("/privacy").headers.getlist("Set-Cookie")


def test_the_url_chooses_welsh_and_the_cookie_remembers_only_the_language(client):
    response = client.get("/privacy?lang=cy")
    html = response.get_data(as_text=True)
    assert '<html lang="cy">' in html
    assert language_link(html) == ("/privacy?lang=en", "en", "English")
    [cookie] = response.headers.getlist("Set-Cookie")
    name_value, *attributes = [part.strip() for part in cookie.split(";")]
    assert name_value == f"{LANG_COOKIE}=cy"
    assert {a.split("=")[0].lower() for a in attributes} <= {
        "expires", "max-age", "secure", "httponly", "path", "samesite"}
    # Without the URL argument, the cookie keeps Welsh; a page is then in Welsh.
    again = client.get("/")
    assert '<html lang="cy">' in again.get_data(as_text=True)
    assert not again.headers.getlist("Set-Cookie")  # nothing new to remember
    # Switching back to English is remembered the same way.
    back = client.get("/?lang=en")
    assert back.headers.getlist("Set-Cookie")[0].startswith(f"{LANG_COOKIE}=en;")
    assert '<html lang="en-GB">' in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("value", ["fr", "cy; evil", "", "CY"])
def test_an_unknown_language_is_ignored_and_never_stored(client, value: str):
    response = client.get("/", query_string={"lang": value})
    assert response.status_code == 200
    assert '<html lang="en-GB">' in response.get_data(as_text=True)
    assert not response.headers.getlist("Set-Cookie")
    client.set_cookie(LANG_COOKIE, value)
    assert '<html lang="en-GB">' in client.get("/").get_data(as_text=True)


def test_the_language_link_keeps_the_rest_of_the_address(client):
    html = client.get("/nowhere?a=1&b=x y").get_data(as_text=True)
    assert language_link(html)[0] == "/nowhere?a=1&amp;b=x%20y&amp;lang=cy"


def page(settings: Settings, url: str) -> str:
    app: Flask = create_app(settings)
    try:
        return app.test_client().get(url).get_data(as_text=True)
    finally:
        services(app).engine.dispose()


def test_languages_are_a_setting(settings: Settings):
    html = page(settings.with_changes(languages=("cy", "en")), "/")
    assert '<html lang="cy">' in html  # the first listed is the default
    html = page(settings.with_changes(languages=("en",)), "/?lang=cy")
    assert '<html lang="en-GB">' in html and not LANGUAGE_LINK.findall(html)
    assert Settings.from_env({"SPEAKUP_LANGUAGES": "en, CY"}).languages == ("en", "cy")
    assert Settings.from_env({}).languages == ("en", "cy")


def test_a_language_without_a_catalogue_is_refused(settings: Settings):
    with pytest.raises(SettingsError, match="no translation for it"):
        create_app(settings.with_changes(languages=("en", "fr")))
    with pytest.raises(SettingsError, match="language codes"):
        Settings.from_env({"SPEAKUP_LANGUAGES": "en,../x"})


def test_every_page_has_the_language_link(app: Flask, client, login_as):
    """Every page without arguments, public or staff, links to itself in Welsh."""
    pages = [rule.rule for rule in app.url_map.iter_rules()
             if "GET" in (rule.methods or ()) and not rule.arguments
             and not rule.rule.startswith("/static")]
    assert len(pages) > 10
    seen = 0
    for who in (None, "admin"):
        if who:
            login_as(who)
        for url in pages:
            response = client.get(url)
            if response.mimetype != "text/html" or response.status_code in (301, 302):
                continue
            html = response.get_data(as_text=True)
            assert f'href="{url}?lang=cy" lang="cy" hreflang="cy">Cymraeg</a>' in html, url
            seen += 1
    assert seen > 10


def test_a_page_read_without_choosing_sets_no_cookie(client):
    # README: the results page (like every page) sets no cookie unless a language is chosen.
    for url in ("/", "/privacy", "/results/", "/s/thanks"):
        response = client.get(url)
        assert not response.headers.getlist("Set-Cookie"), url
        chosen = client.get(url, query_string={"lang": "cy"})
        assert [c.split(";")[0] for c in chosen.headers.getlist("Set-Cookie")] == [
            f"{LANG_COOKIE}=cy"], url
        client.delete_cookie(LANG_COOKIE)
