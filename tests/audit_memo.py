"""The test process remembers each disclosure decision it has made, by its exact input.

Publishing a round runs the outsiders' and insiders' audits (integer programs) until a
suppression passes both: about ten seconds for the three small demo rounds that many
review tests publish first, identical in each of those tests. `decide_suppression` is a
function of its input alone, so the first call for an input runs it for real and the
same input later gets a copy of that answer. Never remembered: a call while a
publication job watches the audit's steps (its progress and time-limit tests need them
run), and a refusal (SuppressionError), which is run again. Set
SPEAKUP_TEST_AUDIT_MEMO=0 to run every audit. The shipped code never remembers a decision:
it would keep a round's raw counts after publication.

The key leaves out the order of respondents and of mappings: responses have random ids,
so they are read in a different order each time, and a decision must not depend on it.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from surveys import publish, round_disclosure

_decided: dict[str, Any] = {}


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__,
                tuple((f.name, _canonical(getattr(value, f.name)))
                      for f in dataclasses.fields(value)))
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((repr(_canonical(k)), _canonical(v))
                                    for k, v in value.items())))
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted(repr(_canonical(v)) for v in value)))
    if isinstance(value, list | tuple):
        return tuple(_canonical(v) for v in value)
    return value


def _key(truth: Any, k: int, people: Any, rest: Mapping[str, Any]) -> str:
    everyone = None if people is None else tuple(sorted(repr(_canonical(p)) for p in people))
    text = repr((_canonical(truth), k, everyone, _canonical(dict(rest))))
    return hashlib.sha256(text.encode()).hexdigest()


def remembering(decide: Callable[..., Any]) -> Callable[..., Any]:
    def decide_once(truth: Any, k: int, **kwargs: Any) -> Any:
        if round_disclosure.audit_step_observer.get() is not None:
            return decide(truth, k, **kwargs)
        people = kwargs.get("people")
        key = _key(truth, k, people, {n: v for n, v in kwargs.items() if n != "people"})
        if key not in _decided:
            _decided[key] = decide(truth, k, **kwargs)
        return copy.deepcopy(_decided[key])

    return decide_once


def install() -> Callable[[], None]:
    """Remember decisions made through surveys.publish; return what undoes it."""
    original = publish.decide_suppression
    publish.decide_suppression = remembering(original)

    def undo() -> None:
        publish.decide_suppression = original

    return undo
