"""Time goal progress and the trends page's goal marks on a demo-sized database (SQLite).

    .venv/bin/python bench/goals.py [--goals 40] [--actions 60]

Publishes the demo survey's six rounds into a fresh, migrated SQLite file, sets
``--goals`` goals (favourable and gap goals on every scale, in turn) and logs
``--actions`` actions linked to them, then prints the time of `goal_progress`,
`list_actions` and `build_trends` with every goal and action, best of five runs.
Figures only: this is not a test and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from review import demo, goals, reports, trends  # noqa: E402
from speakup import migrate  # noqa: E402
from speakup.clock import FrozenClock  # noqa: E402
from speakup.db import make_engine, make_session_factory  # noqa: E402
from speakup.settings import Settings  # noqa: E402

K = 5


def best_of(runs: int, step):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - started)
    return min(times) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--goals", type=int, default=40)
    parser.add_argument("--actions", type=int, default=60)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="speakup-bench-goals-"))
    url = f"sqlite:///{workdir / 'bench.sqlite'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    clock = FrozenClock()
    settings = Settings(database_url=url, secret_key="bench", instance_path=workdir)  # noqa: S106
    with make_session_factory(engine)() as session:
        survey = demo.create_demo_survey(session, settings, clock)
        demo.publish_synthetic_rounds(session, settings, survey, clock.today(),
                                      [220, 240, 260, 250, 270, 280], random.Random(1))
        latest = reports.survey_rounds(session, survey.id)[-1]
        scales = [r.id for r in latest.scales]
        made = []
        for i in range(args.goals):
            row = scales[i % len(scales)]
            gap = i % 2 == 1
            made.append(goals.create_goal(session, clock, goals.GoalSpec(
                label=f"Goal {i}", metric="gap" if gap else "favourable", target=5 if gap else 75,
                direction="at_most" if gap else "at_least", due_on=dt.date(2027, 3, 31),
                owner="Bench", survey_id=survey.id, row_id=row,
                dimension_id="ethnicity" if gap else None,
                first_group="global_majority" if gap else None,
                second_group="white" if gap else None), actor="bench"))  # fmt: skip
        for i in range(args.actions):
            goals.create_action(session, clock, goals.ActionSpec(
                clock.today() - dt.timedelta(days=i * 3), f"Action {i}", "",
                (made[i % len(made)].id,)), actor="bench")  # fmt: skip
        session.commit()
        rounds = reports.survey_rounds(session, survey.id)
        ms_progress, progress = best_of(5, lambda: goals.goal_progress(session, K, clock.today()))
        ms_actions, actions = best_of(5, lambda: goals.list_actions(session))
        ms_plain, _ = best_of(5, lambda: trends.build_trends(rounds, ""))
        ms_marked, view = best_of(5, lambda: trends.build_trends(rounds, "", None, None,
                                                                 progress, actions))
    engine.dispose()
    marks = sum(str(c.svg).count("date-mark") for b in view.blocks
                for c in (*b.headline_charts, b.gap) if c)
    print(f"{args.goals} goals, {args.actions} actions, {len(rounds)} published rounds (SQLite)")
    print(f"goal_progress:               {ms_progress:7.1f} ms")
    print(f"list_actions:                {ms_actions:7.1f} ms")
    print(f"build_trends without goals:  {ms_plain:7.1f} ms")
    print(f"build_trends with goals:     {ms_marked:7.1f} ms ({marks} date marks drawn)")


if __name__ == "__main__":
    main()
