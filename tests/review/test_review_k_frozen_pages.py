"""A later change of SPEAKUP_MIN_GROUP_SIZE changes no review page or export (issue 17,
finding 2): every round and quarter is shown and re-checked with the k it was published
with. Both engines."""

from __future__ import annotations

import dataclasses
import re

from conftest import add_concern_reader

from concerns.config import ConcernConfig
from concerns.crypto import Argon2Params
from concerns.demo import seed_demo_concerns
from speakup.web import services

pytest_plugins = ["review_fixtures"]

CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')


def test_no_review_page_or_export_changes_when_k_is_lowered_or_raised(
    app, client, session, settings, sign_in, published_survey
):
    svc = services(app)
    svc.extras["concerns"] = ConcernConfig.from_settings(settings).with_changes(
        argon2=Argon2Params(memory_kib=8, iterations=1, lanes=1))
    add_concern_reader(session, svc.clock, svc.extras["concerns"])  # as `speakup demo`
    seed_demo_concerns(session, svc, lambda _line: None)
    session.commit()
    sign_in("reviewer")
    urls = ["/review/", "/review/trends", "/review/mechanisms", "/review/goals", "/results/"]
    for r in published_survey:
        urls += [f"/review/rounds/{r.round_id}", f"/review/rounds/{r.round_id}?dimension=team"]
    urls += [f"{u}.{fmt}" for u in ("/review/overview", "/review/mechanisms",
                                    f"/review/rounds/{published_survey[-1].round_id}",
                                    "/review/trends") for fmt in ("csv", "json")]

    def download() -> dict[str, str]:
        out = {}
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            out[url] = CSRF_INPUT.sub("", response.get_data(as_text=True))
        return out

    assert settings.min_group_size == 5
    before = download()
    assert "Minimum group size" in before["/review/mechanisms"]
    for later in (3, 7):
        svc.settings = dataclasses.replace(settings, min_group_size=later)
        after = download()
        changed = [u for u in urls if after[u] != before[u]]
        assert not changed, (later, changed)
