"""bench/synthetic_org.py: organisations of the right shape, the same for the same seed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from surveys.published import PREFER_NOT

_PATH = Path(__file__).resolve().parents[2] / "bench" / "synthetic_org.py"
_spec = importlib.util.spec_from_file_location("synthetic_org", _PATH)
assert _spec is not None and _spec.loader is not None
synthetic = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("synthetic_org", synthetic)
_spec.loader.exec_module(synthetic)


@pytest.mark.parametrize("staff", [60, 300, 3000])
def test_teams_rates_and_groups_have_the_intended_shape(staff):
    org = synthetic.synthetic_org(staff, seed=1)
    assert sum(org.team_sizes) == staff
    assert all(5 <= size <= 40 for size in org.team_sizes)
    if staff >= 300:  # skew: many small teams, a few big
        ordered = sorted(org.team_sizes)
        assert ordered[len(ordered) // 2] <= 15  # the median team is small
        assert sum(size >= 30 for size in ordered) <= len(ordered) / 5  # few big ones
        assert max(ordered) >= 25
    assert 0.40 <= org.response_rate <= 0.80
    truth = org.truth
    assert truth.total == len(org.people)
    assert 0.3 * staff <= truth.total <= 0.9 * staff
    assert len(truth.dimensions["ethnicity"]) == 5  # four groups and prefer not to say
    assert set(truth.dimensions) == {"team", "ethnicity", "staff_group"}
    if staff == 3000:
        share = {g: truth.group_sizes.get(("ethnicity", g), 0) / truth.total
                 for g in truth.dimensions["ethnicity"]}
        assert 0.65 <= share["white"] <= 0.75
        assert 0.03 <= share[PREFER_NOT] <= 0.07
        assert all(0.02 <= share[g] <= 0.17 for g in ("asian", "black", "mixed_other"))


def test_the_truth_adds_up_from_the_people():
    org = synthetic.synthetic_org(300, seed=2)
    rows = {row.id: row for row in org.truth.rows}
    assert {"psafe", "incl", "incl.openness", "speak", "wres_5"} <= set(rows)
    for row in org.truth.rows:
        answers = [p.answers[row.id] for p in org.people if row.id in p.answers]
        assert row.n == len(answers)
        for value, count in row.overall.items():
            assert answers.count(value) == count
        for (dim, group), counts in row.by_group.items():
            members = [p for p in org.people if p.groups[dim] == group and row.id in p.answers]
            assert sum(counts.values()) == len(members)
    # Answers are correlated within a person: psafe_2 and psafe_4 agree more than by chance.
    both = [(int(p.answers["psafe_2"]), int(p.answers["psafe_4"])) for p in org.people
            if "psafe_2" in p.answers and "psafe_4" in p.answers]
    mean_a = sum(a for a, _ in both) / len(both)
    mean_b = sum(b for _, b in both) / len(both)
    assert sum((a - mean_a) * (b - mean_b) for a, b in both) > 0
    # Skewed towards agreement.
    assert mean_a > 4


def test_the_same_seed_gives_the_same_organisation_and_another_seed_another():
    one, again = synthetic.synthetic_org(300, seed=7), synthetic.synthetic_org(300, seed=7)
    assert one.team_sizes == again.team_sizes and one.people == again.people
    assert one.truth.rows == again.truth.rows
    other = synthetic.synthetic_org(300, seed=8)
    assert other.people != one.people
