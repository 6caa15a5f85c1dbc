"""The test process's memory of disclosure decisions (tests/audit_memo.py) is exact."""

from __future__ import annotations

import audit_memo

from speakup.insider_audit import Person
from surveys import round_disclosure


def _counting():
    seen = []

    def decide(truth, k, **kwargs):
        seen.append((truth, k, kwargs))
        return {"hidden": [truth["n"], k]}

    return seen, audit_memo.remembering(decide)


def test_the_same_input_is_decided_once_whatever_the_order_of_people_and_keys():
    seen, decide = _counting()
    ann, bob = Person({"team": "a"}, {"q": "1"}), Person({"team": "b"}, {"q": "2"})
    first = decide({"n": 1, "m": 2}, 5, people=[ann, bob])
    again = decide({"m": 2, "n": 1}, 5, people=[bob, ann])
    assert first == again == {"hidden": [1, 5]} and len(seen) == 1
    again["hidden"].append("changed")  # a copy: what a caller does to it is not remembered
    assert decide({"n": 1, "m": 2}, 5, people=[ann, bob]) == {"hidden": [1, 5]}


def test_any_difference_in_the_input_is_decided_again():
    seen, decide = _counting()
    ann = Person({"team": "a"}, {"q": "1"})
    decide({"n": 1}, 5, people=[ann])
    decide({"n": 1}, 6, people=[ann])
    decide({"n": 2}, 5, people=[ann])
    decide({"n": 1}, 5, people=[Person({"team": "a"}, {"q": "2"})])
    decide({"n": 1}, 5, people=None)
    decide({"n": 1}, 5, people=[ann], batch_growth=1)
    assert len(seen) == 6


def test_a_watched_publication_always_runs_its_audits():
    seen, decide = _counting()
    token = round_disclosure.audit_step_observer.set(lambda step: None)
    try:
        decide({"n": 1}, 5)
        decide({"n": 1}, 5)
    finally:
        round_disclosure.audit_step_observer.reset(token)
    assert len(seen) == 2
