"""decide_suppression re-solves only the attacker's programs whose breakdown changed
(issue 17): results are cached per connected set of unknowns, keyed by all it reads."""

from __future__ import annotations

from attacker import truth_from_people
from insider_attacker import people_for_audit
from publish_factory import Respondent

import surveys.round_disclosure as round_disclosure
from speakup.disclosure_audit import AuditCache, audit_model
from surveys.itembank import load_item_bank
from surveys.round_disclosure import attack_model, decide_suppression

K = 5
BANK = load_item_bank()
DIMS = {"ethnicity": ["global_majority", "white", "prefer_not"],
        "team": ["a", "b", "c", "d", "prefer_not"]}  # fmt: skip
ITEMS = ["wres_6", "wres_7"]


def people() -> list[Respondent]:
    """Issue 17's finding 4: teams c and d are small; the insiders' audit needs a second round."""

    def person(team: str, ethnicity: str, answer: int) -> Respondent:
        return Respondent({"wres_6": answer, "wres_7": 1}, {"team": team, "ethnicity": ethnicity})

    out = [person("a", "global_majority", 1 if i < 2 else 2) for i in range(4)]
    out += [person("a", "white", 2) for _ in range(6)]
    out += [person("b", "global_majority", 1 if i < 1 else 2) for i in range(4)]
    out += [person("b", "white", 2) for _ in range(6)]
    out += [person("c", "global_majority", 1), person("c", "white", 2)]
    out += [person("d", "white", 2) for _ in range(3)]
    return out


def model_of(truth, groups_hidden):
    return attack_model(truth, K, False, groups_hidden, frozenset())


def test_the_same_pattern_audited_again_solves_no_program():
    truth = truth_from_people(BANK, ITEMS, DIMS, people())
    hidden = {"ethnicity": frozenset(), "team": frozenset({"c", "d"})}
    cache = AuditCache()
    first = audit_model(model_of(truth, hidden), cache=cache)
    again = audit_model(model_of(truth, hidden), cache=cache)
    assert first.solves > 0 and first.reused == 0
    assert again.solves == 0 and again.reused == cache.misses > 0
    assert again.exposures == first.exposures and again.hidden_counts == first.hidden_counts
    assert cache.hits == again.reused


def test_a_change_in_one_breakdown_re_solves_only_that_breakdown():
    truth = truth_from_people(BANK, ITEMS, DIMS, people())
    cache = AuditCache()
    audit_model(model_of(truth, {"ethnicity": frozenset(), "team": frozenset({"c", "d"})}),
                cache=cache)  # fmt: skip
    misses = cache.misses
    changed = {"ethnicity": frozenset({"global_majority"}), "team": frozenset({"c", "d"})}
    report = audit_model(model_of(truth, changed), cache=cache)
    uncached = audit_model(model_of(truth, changed))
    # The team breakdown's programs are as before; the ethnicity ones are new.
    assert report.reused >= 1 and cache.misses > misses
    assert report.exposures == uncached.exposures
    assert report.solves < uncached.solves


def test_decide_suppression_reuses_the_outsider_audit_between_rounds(monkeypatch):
    # A third breakdown (site; z has 2 people) that the later rounds leave as it is.
    crowd = people()
    for i, person in enumerate(crowd):
        person.groups["site"] = "z" if i in (4, 5) else ("x" if i % 2 else "y")
    truth = truth_from_people(BANK, ITEMS, {**DIMS, "site": ["x", "y", "z"]}, crowd)
    reports = []

    def counting(model, **options):
        reports.append(audit_model(model, **options))
        return reports[-1]

    monkeypatch.setattr(round_disclosure, "audit_model", counting)
    decided = decide_suppression(truth, K, people=people_for_audit(BANK, ITEMS, crowd))
    assert decided.insider is not None and decided.insider.ok
    assert decided.rounds_of_audit >= 2 and len(reports) == decided.rounds_of_audit
    # Some breakdown's programs were left as they were by suppressing more, and not re-solved.
    assert sum(r.reused for r in reports[1:]) > 0
    assert all(r.reused == 0 for r in reports[:1])
