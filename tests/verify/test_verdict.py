"""Verdict invariants and the JSON schema round trip."""

import json
import math

import pytest
from hypothesis import given, strategies as st

from verify.verdict import (SCHEMA_VERSION, Assumption, Status, Verdict, VerdictInvariantError,
                            conjunction, to_jsonable, validate_verdict_dict, weakest)

#: the smallest claims and certificates the kernel accepts: 1 > 0 holds, 1 < 0 fails
CLAIM = {"id": "c", "kind": "inequalities", "conditions": ["1 > 0"]}
FALSE_CLAIM = {"id": "c", "kind": "inequalities", "conditions": ["1 < 0"]}
HOLDS = {"kind": "exact-sign"}
FAILS = {"kind": "exact-sign", "index": 0}


def make(status, **kw):
    if Status(status) in (Status.PROVED, Status.CERTIFIED):
        kw.setdefault("certificate", HOLDS)
    if Status(status) is Status.REFUTED:
        kw.setdefault("certificate", FAILS)
        kw.setdefault("claim", FALSE_CLAIM)
    kw.setdefault("claim", CLAIM)
    return Verdict(id="c", kind="k", status=status, method="m", **kw)


def test_refuted_needs_counterexample():
    with pytest.raises(VerdictInvariantError, match="counterexample"):
        make(Status.REFUTED)
    assert make(Status.REFUTED, counterexample={"x": 1}).status is Status.REFUTED


def test_nan_never_decides():
    for status in (Status.PROVED, Status.REFUTED, Status.EVIDENCE):
        with pytest.raises(VerdictInvariantError, match="NaN"):
            make(status, bounds=(float("nan"), 1.0), counterexample={"x": 0}, sample_size=1)
    assert make(Status.INCONCLUSIVE, bounds=(float("nan"), 1.0)).bounds[0] != 0


def test_certified_needs_confidence_and_evidence_needs_sample_size():
    with pytest.raises(VerdictInvariantError, match="confidence"):
        make(Status.CERTIFIED)
    with pytest.raises(VerdictInvariantError, match="confidence"):
        make(Status.CERTIFIED, confidence=1.5)
    with pytest.raises(VerdictInvariantError, match="sample size"):
        make(Status.EVIDENCE)


def test_unverified_assumption_blocks_proved():
    with pytest.raises(VerdictInvariantError, match="Assumption 1"):
        make(Status.PROVED, assumptions=[Assumption("Assumption 1", None, "not checked")])
    v = make(Status.PROVED, assumptions=[Assumption("Assumption 1", True, "supercoercive")])
    assert v.holds


def test_nonfinite_floats_are_strings_in_json():
    v = make(Status.INCONCLUSIVE, bounds=(float("-inf"), float("inf")),
             evidence={"ratio": float("nan")})
    data = json.loads(v.to_json())
    assert data["bounds"] == ["-inf", "inf"] and data["evidence"]["ratio"] == "nan"
    assert Verdict.from_json(v.to_json()).bounds == ("-inf", "inf")


def test_sympy_and_numpy_values_become_json():
    import numpy as np
    import sympy as sp

    assert to_jsonable({"a": sp.sqrt(2) / 2, "b": np.float64(0.5), "c": np.arange(3)}) == {
        "a": "sqrt(2)/2", "b": 0.5, "c": [0, 1, 2]}


def test_schema_rejects_malformed():
    good = make(Status.PROVED).to_dict()
    validate_verdict_dict(good)
    for broken in ({**good, "status": "maybe"}, {**good, "schema_version": 99},
                   {k: v for k, v in good.items() if k != "method"},
                   {**good, "surprise": 1}, {**good, "bounds": [1]}, {**good, "seed": "x"}):
        with pytest.raises(ValueError):
            Verdict.from_dict(broken)


def test_weakest_and_conjunction():
    assert weakest([Status.PROVED, Status.EVIDENCE]) is Status.EVIDENCE
    assert weakest([Status.PROVED, Status.REFUTED, Status.INCONCLUSIVE]) is Status.REFUTED
    assert weakest([Status.REFUTED, Status.ERROR]) is Status.ERROR
    parts = [make(Status.PROVED), make(Status.CERTIFIED, confidence=0.99),
             make(Status.CERTIFIED, confidence=0.98)]
    v = conjunction(parts, method="instances")
    assert v.status is Status.CERTIFIED and math.isclose(v.confidence, 0.97)
    assert v.certificate["kind"] == "all-of" and len(v.certificate["parts"]) == 3
    refuted = conjunction(parts + [make(Status.REFUTED, counterexample={"x": 3})],
                          method="instances")
    assert refuted.status is Status.REFUTED and refuted.counterexample == {"x": 3}
    assert refuted.certificate["kind"] == "refuted-part"


def test_a_decided_status_needs_a_certificate_of_that_status():
    with pytest.raises(VerdictInvariantError, match="certificate"):
        make(Status.PROVED, certificate=None)
    with pytest.raises(VerdictInvariantError, match="rejected"):
        make(Status.PROVED, certificate=FAILS, claim=FALSE_CLAIM)   # a false claim
    with pytest.raises(VerdictInvariantError, match="rejected"):
        make(Status.REFUTED, certificate=FAILS, claim=CLAIM,        # a true one
             counterexample={"x": 1})
    with pytest.raises(VerdictInvariantError, match="does not decide"):
        make(Status.PROVED, certificate={"kind": "real-roots"})     # not declared for it
    assert make(Status.CERTIFIED, confidence=1.0).status is Status.CERTIFIED  # proved => certified


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


@st.composite
def verdicts(draw):
    status = draw(st.sampled_from(list(Status)))
    finite = st.floats(allow_nan=False, allow_infinity=False)
    kw = dict(id=draw(st.text(min_size=1, max_size=20)), kind=draw(st.sampled_from(
        ["check", "sharp-minimizer", "filter-set"])), status=status,
        method=draw(st.text(min_size=1, max_size=10)), message=draw(st.text(max_size=40)),
        evidence=draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4)),
        elapsed=draw(st.none() | st.floats(0, 1e4)), seed=draw(st.none() | st.integers(0, 2**31)))
    lo = draw(finite)
    if draw(st.booleans()):
        kw["bounds"] = (lo, lo + abs(draw(finite)))
    if status is Status.REFUTED:
        kw["counterexample"] = draw(st.dictionaries(st.text(min_size=1, max_size=5), json_values,
                                                    min_size=1, max_size=3))
        kw["certificate"], kw["claim"] = FAILS, FALSE_CLAIM
    if status in (Status.PROVED, Status.CERTIFIED):
        kw["certificate"], kw["claim"] = HOLDS, CLAIM
    if status is Status.CERTIFIED:
        kw["confidence"] = draw(st.floats(0.5, 1.0))
    if status is Status.EVIDENCE:
        kw["sample_size"] = draw(st.integers(0, 10**9))
    if status not in (Status.PROVED, Status.CERTIFIED):
        kw["assumptions"] = [Assumption(draw(st.text(max_size=10)),
                                        draw(st.sampled_from([True, False, None])))]
    return Verdict(**kw)


@given(verdicts())
def test_json_round_trip(v):
    text = v.to_json()
    back = Verdict.from_json(text)
    assert back.to_dict() == v.to_dict()
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize("got, want, expected", [
    (Status.PROVED, Status.PROVED, Status.PROVED),
    (Status.REFUTED, Status.REFUTED, Status.PROVED),
    (Status.REFUTED, Status.PROVED, Status.REFUTED),
    (Status.PROVED, Status.REFUTED, Status.REFUTED),
    (Status.CERTIFIED, Status.REFUTED, Status.REFUTED),
    # a budget that ran out, an error or a timeout is never the opposite answer
    (Status.EVIDENCE, Status.PROVED, Status.INCONCLUSIVE),
    (Status.EVIDENCE, Status.REFUTED, Status.INCONCLUSIVE),
    (Status.INCONCLUSIVE, Status.REFUTED, Status.INCONCLUSIVE),
    (Status.ERROR, Status.PROVED, Status.INCONCLUSIVE),
])
def test_expected_status_refutes_only_on_the_opposite_decision(got, want, expected):
    from verify.verdict import Instances

    inner = make(got, counterexample={"x": 1} if got is Status.REFUTED else None,
                 confidence=1.0 if got is Status.CERTIFIED else None,
                 sample_size=10 if got is Status.EVIDENCE else None,
                 claim=FALSE_CLAIM if got is Status.REFUTED else CLAIM)
    out = Instances("test").expect("i", inner.claim, want, decide=lambda claim: inner)
    assert out.status is expected
    assert out.evidence["verdict"]["status"] == got.value
