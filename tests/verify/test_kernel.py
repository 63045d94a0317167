"""The certificate kernel: every certificate kind accepts what holds and rejects tampering.

A decided verdict's certificate is re-checked from the verdict's JSON alone; a claim edited
after the fact, a status flipped, or certificate data changed must fail the check.
"""

import copy

import pytest
import sympy as sp

from theorems import escape, filters, flat_geometry, sharp, toys
from verify import kernel
from verify.verdict import Claim, Decision, Status, Verdict, VerdictInvariantError
from kernel_edits import recheck

x, y = sp.symbols("x y", real=True)


def general_path(claim):
    """The claim decided by z3 and cvc5, as for a nonconvex f (a convex f goes to the
    convex-cone path first: tests/verify/test_kernel_cone.py)."""
    problem, p = sharp.SharpProblem.from_params(claim.params), claim.params
    if claim.kind == "sharp-minimizer":
        return sharp.decide_sharp(problem, p["modulus"], claim=claim.describe(), cone=False)
    if claim.kind == "sharpness-modulus":
        return sharp.decide_modulus(problem, p["value"], claim=claim.describe(), cone=False)
    return sharp.decide_stability(problem, p["radius"], kind=claim.kind, form=p["form"],
                                  claim=claim.describe(), cone=False)


@pytest.fixture(scope="module")
def rhombus_verdicts():
    f = toys.rhombus().expr
    return {"proved": general_path(sharp.sharp_minimizer(f, (0, 0), "89/100", id="p")),
            "refuted": general_path(sharp.sharp_minimizer(f, (0, 0), "9/10", id="r")),
            "modulus": general_path(sharp.sharpness_modulus(f, (0, 0), 2 / sp.sqrt(5),
                                                            id="m")),
            "tilt": general_path(sharp.tilt_stable(f, (0, 0), "9/10", id="t"))}


def test_a_decided_verdict_needs_a_certificate_the_kernel_accepts():
    claim = {"id": "c", "kind": "inequalities", "conditions": ["Eq(1, 1)"]}
    with pytest.raises(VerdictInvariantError, match="needs a certificate"):
        Verdict(id="c", kind="inequalities", status=Status.PROVED, method="m", claim=claim)
    with pytest.raises(VerdictInvariantError, match="rejected"):
        Decision({**claim, "conditions": ["Eq(1, 2)"]}).proved(
            "m", "1 = 2", certificate={"kind": "exact-sign"})
    with pytest.raises(VerdictInvariantError, match="rejected"):      # free text is no claim
        Decision({"id": "c", "kind": "instance", "statement": "1 = 1"}).proved(
            "m", "1 = 1", certificate={"kind": "exact-sign"})
    ok = Decision(claim).proved("m", "1 = 1", certificate={"kind": "exact-sign"})
    assert ok.status is Status.PROVED and ok.trust == "exact"


def test_sharp_smt_proof_rejects_an_edited_claim_or_a_flipped_status(rhombus_verdicts):
    v = rhombus_verdicts["proved"]
    assert v.status is Status.PROVED and v.certificate["kind"] == "sharp-smt"
    assert recheck(v)[0]
    assert not recheck(v, claim__modulus="95/100")[0]      # a larger modulus: false
    assert not recheck(v, claim__f="Abs(x1) + x1**2 + x2**2")[0]
    assert not recheck(v, status="refuted", counterexample={"x": 1})[0]
    assert not recheck(v, certificate__modulus="1/2")[0]   # below the claim's modulus
    texts = list(v.certificate["texts"])
    assert not recheck(v, certificate__texts=texts[1:])[0]  # a case left out


def test_point_counterexample_is_re_evaluated(rhombus_verdicts):
    v = rhombus_verdicts["refuted"]
    assert v.status is Status.REFUTED and v.certificate["kind"] == "point"
    assert recheck(v)[0]
    assert not recheck(v, certificate__x=["0", "0"])[0]     # the point itself
    assert not recheck(v, certificate__x=["1", "0"])[0]     # no violation there
    assert not recheck(v, claim__modulus="1/2")[0]          # the edited claim holds there
    assert not recheck(v, status="proved")[0]


def test_modulus_exact_needs_both_bounds(rhombus_verdicts):
    v = rhombus_verdicts["modulus"]
    assert v.status is Status.PROVED and v.certificate["kind"] == "modulus-exact"
    assert recheck(v)[0]
    assert not recheck(v, claim__value="9/10")[0]
    upper = dict(v.certificate["upper"])
    if upper["kind"] == "ray-limit":
        assert not recheck(v, certificate__upper={**upper, "limit": "1"})[0]


def test_tilt_counterexample_checks_the_dual_norm(rhombus_verdicts):
    v = rhombus_verdicts["tilt"]
    assert v.status is Status.REFUTED and v.certificate["kind"] == "tilt"
    assert recheck(v)[0]
    assert not recheck(v, certificate__xi=["1", "1"])[0]   # dual norm above the radius
    assert not recheck(v, claim__radius="1/2")[0]


def test_filter_set_and_stable_point_certificates():
    v = filters.filter_set_claim("nesterov", "1/10", beta="9/10", equals="Interval(0, 95/7)",
                                 contains=[0, 13], id="n").check()
    assert v.status is Status.PROVED and v.certificate["kind"] == "filter-set-exact"
    assert v.trust == "exact"
    assert recheck(v)[0]
    assert not recheck(v, claim__equals="Interval(0, 14)")[0]
    assert not recheck(v, claim__contains=["0", "14"])[0]
    assert not recheck(v, claim__beta="1/2")[0]
    bad = filters.filter_set_claim("gd", "1/4", contains=[100], id="b").check()
    assert bad.status is Status.REFUTED and recheck(bad)[0]
    assert not recheck(bad, claim__contains=["1"])[0]
    sp_v = filters.stable_point_claim("gd", -15 * x ** 2, (0,), "1/10", variables=(x,),
                                      id="s").check()
    assert sp_v.status is Status.REFUTED and recheck(sp_v)[0]
    assert not recheck(sp_v, claim__f="x**2")[0]           # stable there: not refuted


def test_flat_minimum_certificates():
    f, xs = escape.example1()
    proved = escape.flat_minimum(f, (1, 1), variables=xs, id="f").check()
    assert proved.status is Status.PROVED and recheck(proved)[0]
    assert not recheck(proved, claim__point=["2", "1/2"])[0]
    refuted = escape.flat_minimum(f, (2, "1/2"), variables=xs, id="g").check()
    assert refuted.status is Status.REFUTED and recheck(refuted)[0]
    assert not recheck(refuted, claim__point=["1", "1"])[0]
    saddle = escape.flat_minimum(x ** 2 - y ** 2, (0, 0), variables=(x, y), id="s").check()
    assert saddle.status is Status.REFUTED and recheck(saddle)[0]
    assert not recheck(saddle, certificate__direction=["1", "0"])[0]


def test_max_variation_enclosure_tree_is_re_evaluated():
    f, vs = flat_geometry.toy()
    v = flat_geometry.max_variation_claim(f, (0, 0), "1/2", variables=vs, at_most="26/100",
                                          id="m").check()
    assert v.status is Status.PROVED, v.message
    assert v.certificate["upper"]["kind"] in ("enclosure", "taylor")
    assert recheck(v)[0]
    assert not recheck(v, claim__at_most="1/4")[0]          # below the true value 1/4 + ...
    if v.certificate["upper"]["kind"] == "enclosure":
        tree = v.certificate["upper"]["tree"]
        assert not recheck(v, certificate__upper__tree=tree[:-1])[0]    # incomplete
        assert not recheck(v, certificate__upper__tree=tree + "L")[0]   # too long
    low = flat_geometry.max_variation_claim(f, (2, 0), "1/2", variables=vs, at_most="3/10",
                                            id="w").check()
    assert low.status is Status.REFUTED and recheck(low)[0]
    assert not recheck(low, claim__at_most="10")[0]


def test_conserved_quantity_certificates():
    f, vs, X, Y = flat_geometry.matrix_factorization(2, 2, 1)
    q = sp.expand((X.T * X - Y.T * Y)[0, 0])
    v = flat_geometry.conserved_quantity_claim(f, q, variables=vs, id="q").check()
    assert v.status is Status.PROVED and recheck(v)[0]
    assert not recheck(v, claim__quantity=str(sp.expand((X.T * X + Y.T * Y)[0, 0])))[0]


def _fact(kind, **fields):
    return {"id": "i", "kind": kind, **fields}


@pytest.mark.parametrize("claim, status, cert, holds", [
    (_fact("identically-zero", variables=["a"], expr="(a + 1)**2 - a**2 - 2*a - 1"), "proved",
     {"kind": "exact-zero"}, True),
    (_fact("identically-zero", variables=["a"], expr="(a + 1)**2 - a**2 - 2*a"), "proved",
     {"kind": "exact-zero"}, False),
    (_fact("identically-zero", variables=["a"], expr="a**2 - 1"), "refuted",
     {"kind": "nonzero-point", "point": ["3"]}, True),
    (_fact("identically-zero", variables=["a"], expr="a**2 - 1"), "refuted",
     {"kind": "nonzero-point", "point": ["1"]}, False),
    (_fact("identically-zero", variables=["a"], assume={"a": "positive"},
           expr="sqrt(a**2) - a"), "proved", {"kind": "exact-zero"}, True),
    (_fact("identically-zero", variables=["a"], expr="sqrt(a**2) - a"), "proved",
     {"kind": "exact-zero"}, False),
    (_fact("identically-zero", variables=["a"], assume={"a": "positive"}, expr="a - 1"),
     "refuted", {"kind": "nonzero-point", "point": ["-3"]}, False),   # breaks the assumption
    (_fact("inequalities", conditions=["sqrt(2) - 1414/1000 > 0"]), "proved",
     {"kind": "exact-sign"}, True),
    (_fact("inequalities", conditions=["sqrt(2) - 1415/1000 > 0"]), "proved",
     {"kind": "exact-sign"}, False),
    (_fact("inequalities", conditions=["sqrt(2) - 1415/1000 > 0"]), "refuted",
     {"kind": "exact-sign", "index": 0}, True),
    (_fact("inequalities", conditions=["Eq(sqrt(8) - 2*sqrt(2), 0)"]), "proved",
     {"kind": "exact-sign"}, True),
    (_fact("inequalities", conditions=["1 > 0", "-1 < 0"]), "proved", {"kind": "exact-sign"},
     True),
    (_fact("inequalities", conditions=["1 > 0", "1 < 0"]), "proved", {"kind": "exact-sign"},
     False),
    (_fact("limit-equals", variables=["t"], expr="sin(t)/t", variable="t", to="0+", value="1"),
     "proved", {"kind": "sympy-limit"}, True),
    (_fact("limit-equals", variables=["t"], expr="sin(t)/t", variable="t", to="0+", value="2"),
     "proved", {"kind": "sympy-limit"}, False),
    (_fact("limit-equals", variables=["t"], expr="sin(t)/t", variable="t", to="0+", value="2"),
     "refuted", {"kind": "sympy-limit"}, True),
    (_fact("forall", variables=["a"], conclusion="a**2 >= 0"), "proved",
     {"kind": "real-roots"}, True),
    (_fact("forall", variables=["a"], conclusion="a**2 >= 1"), "proved",
     {"kind": "real-roots"}, False),
    (_fact("forall", variables=["a"], conclusion="a**2 >= 1"), "refuted",
     {"kind": "real-roots"}, True),
    (_fact("forall", variables=["a", "b"], conclusion="a**2 + b**2 >= 2*a*b"), "proved",
     {"kind": "smt-agreement"}, True),
    (_fact("forall", variables=["a", "b"], conclusion="a**2 + b**2 >= 3*a*b"), "proved",
     {"kind": "smt-agreement"}, False),
    (_fact("forall", variables=["a", "b"], conclusion="a**2 + b**2 >= 3*a*b"), "refuted",
     {"kind": "counterexample-point", "point": ["1", "1"]}, True),
    (_fact("same-span", found=["a**2 - b**2"], expected=["2*b**2 - 2*a**2"],
           variables=["a", "b"]), "proved", {"kind": "exact-rank"}, True),
    (_fact("same-span", found=["a**2 - b**2"], expected=["a**2 + b**2"],
           variables=["a", "b"]), "proved", {"kind": "exact-rank"}, False),
    (_fact("inequalities", conditions=["1 > 0"]), "proved", {"kind": "no-such-kind"}, False),
    (_fact("identically-zero", expr="__import__('os')"), "proved", {"kind": "exact-zero"},
     False),
    (_fact("instance", statement="a fact"), "proved", {"kind": "exact-sign"}, False),
])
def test_fact_claims(claim, status, cert, holds):
    assert kernel.check(claim, status, cert)[0] is holds


def test_probabilistic_bound_is_recomputed_from_the_claim_and_its_raw_numbers():
    from verify.kernel.estimates import kw_upper

    cert = {"kind": "kw-bound", "theta_max": 10.0, "theta_min": -1.0, "steps": 60}
    claim = {"kind": "model-certificate", "model": "m", "part": "top-eigenvalues",
             "parameters": 1000, "confidence": 0.95}
    upper = kw_upper(10.0, -1.0, 60, 1000, 0.95)
    result = kernel.check_result(claim, "certified", cert, bounds=(10.0, upper),
                                 confidence=0.95)
    assert result.ok and result.tier == "probabilistic" and result.confidence == 0.95
    # the verdict may not report more than the certificate establishes
    assert not kernel.check_result(claim, "certified", cert, bounds=(10.0, 10.01),
                                   confidence=0.95).ok
    assert not kernel.check_result(claim, "certified", cert, bounds=(10.0, upper),
                                   confidence=0.99).ok
    assert not kernel.check(claim, "certified", {**cert, "steps": 2})[0]   # too few steps
    assert not kernel.check(claim, "proved", cert)[0]
    # the dimension and the confidence are the claim's: a larger dimension widens the bound
    wider = kw_upper(10.0, -1.0, 60, 10**6, 0.95)
    assert wider > upper
    assert not kernel.check_result({**claim, "parameters": 10**6}, "certified", cert,
                                   bounds=(10.0, upper), confidence=0.95).ok


def test_conjunctions_need_every_part_and_refutations_their_part(rhombus_verdicts):
    from verify.verdict import Instances

    checks = Instances("test")
    checks.add(rhombus_verdicts["proved"])
    checks.add(rhombus_verdicts["modulus"])
    v = checks.verdict()
    assert v.status is Status.PROVED and recheck(v)[0]
    assert not recheck(v, certificate__parts__0__status="evidence")[0]
    assert not recheck(v, certificate__parts__1__claim__value="1")[0]
    checks.add(rhombus_verdicts["refuted"])
    w = checks.verdict()
    assert w.status is Status.REFUTED and recheck(w)[0]
    assert not recheck(w, status="proved")[0]
    evidence = Instances("test")
    evidence.observed("numbers", True, "fine", sample_size=3)
    e = evidence.verdict()
    assert e.status is Status.EVIDENCE
    assert not recheck(e, status="proved")[0]                # no certificate to prove with


def test_expected_status_instances_recheck_the_decider(rhombus_verdicts):
    from verify.verdict import Instances

    def expect(id, verdict, want):
        return checks.expect(id, verdict.claim, want, decide=lambda claim: verdict)

    checks = Instances("test")
    p = expect("predicted proved", rhombus_verdicts["proved"], Status.PROVED)
    r = expect("predicted refuted", rhombus_verdicts["refuted"], Status.REFUTED)
    assert p.status is Status.PROVED and r.status is Status.PROVED
    assert recheck(p)[0] and recheck(r)[0]
    assert not recheck(p, claim__want="refuted")[0]
    assert not recheck(p, claim__claim__modulus="95/100")[0]
    finding = expect("opposite", rhombus_verdicts["refuted"], Status.PROVED)
    assert finding.status is Status.REFUTED and recheck(finding)[0]


def test_malformed_certificates_are_rejected_not_raised():
    claim = {"kind": "sharp-minimizer", "variables": ["x"], "f": "Abs(x)", "point": ["0"],
             "modulus": "1", "norm": "2"}
    for cert in (None, {}, {"kind": "sharp-smt"}, {"kind": "sharp-smt", "modulus": "one"},
                 {"kind": "point", "x": "0"}, copy.deepcopy({"kind": "tilt", "xi": []})):
        ok, reason = kernel.check(claim, "proved", cert)
        assert ok is False and reason


def test_an_irrational_constant_is_one_smt_root_however_often_it_occurs():
    """Regression: 2**(1/6) and the -2**(1/6) inside x - 2**(1/6) were encoded as two unrelated
    roots of x**6 = 2, and cvc5's coverings ran past every resource limit on the product (the
    shifted-point sharpness claim ended at the 120 s safety net, inconclusive). A sum or product
    of constants is now encoded term by term over one root, and the claim's hardest query is
    confirmed by both solvers well inside their resource limits."""
    from verify.kernel.smt import SmtEncoder, confirm_unsat

    x, y = sp.symbols("x y")
    c = 2 ** sp.Rational(1, 6)
    enc = SmtEncoder((x, y))
    enc.term(sp.Abs(x - c) + 3 * c + (x - c) ** 2)
    assert [a for a in enc.aux if a.startswith("_alg")] == ["_alg1"]
    # the query the old encoding timed out on: y >= c - x >= 0 > x - c ... has no solution
    side = "\n".join(f"(assert {s})" for s in enc.side)
    text = ("(set-logic QF_NRA)\n(declare-fun x () Real)\n(declare-fun y () Real)\n"
            + "".join(f"(declare-fun {a} () Real)\n" for a in enc.aux) + side + "\n"
            f"(assert (and (>= y 0) (>= y (- {enc.term(c)} x)) (< {enc.term(x - c)} 0)))\n"
            f"(assert (< (+ {enc.term(c)} {enc.term((x - c) ** 2)} (- x) (* 2 y)) 0))\n"
            "(check-sat)\n")
    ok, why = confirm_unsat([text])
    assert ok, why
