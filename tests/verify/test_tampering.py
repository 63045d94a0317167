"""A systematic tampering suite for the kernel: the claim decides what a certificate must prove.

Every certificate found in the genuine verdicts of a corpus of claims of every kind is put on
every claim whose truth is known: on a false claim as a proof (proved, certified), on a true
claim as a refutation. Every such transplant must be rejected. Then the statement fields of
genuine verdicts are edited one at a time, the hand-made forgeries of the red team are tried,
and malformed or hostile JSON must fail cleanly.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from verify import kernel
from verify.kernel.statements import CERTIFICATES, STATEMENTS

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------
# the corpus: claims of every kind whose truth is known, and their genuine verdicts
# --------------------------------------------------------------------------------------------

def _claims() -> list[tuple[object, bool]]:
    """(claim, holds) pairs of every user claim kind and fact kind (fast to decide)."""
    from theorems.escape.kinds import flat_minimum
    from theorems.facts import kinds as F
    from theorems.filters.kinds import filter_set_claim, stable_point_claim
    from theorems.flat_geometry.kinds import (conserved_quantity_claim, flatter_claim,
                                              max_variation_claim)
    from theorems.sharp import kinds as S
    from theorems.sharp import polytope_function

    x, y = sp.symbols("x y", real=True)
    x1, x2 = sp.symbols("x1 x2", real=True)
    cone = sp.Max(sp.Abs(x1), 2 * sp.Abs(x2)) + x1**2 + x2**2      # alpha* = 1 (2-norm)
    kink = sp.Rational(3, 2) * sp.Abs(x) + x**2                    # alpha* = 3/2
    # a polyhedral cone with a dip: alpha* = 1 - sqrt(1/8), irrational, f nonconvex
    dip = polytope_function([[1, 0], [0, 1], [-1, -1]], [1, 2, 3], [0, 0], tail="dip",
                            weight=sp.Rational(1, 8)).f
    dip_alpha = 1 - sp.sqrt(2) / 4
    out = [
        (S.sharp_minimizer(dip, (0, 0), dip_alpha, id="dip alpha*"), True),
        (S.sharp_minimizer(dip, (0, 0), dip_alpha * sp.Rational(101, 100), id="dip above"),
         False),
        (S.sharpness_modulus(dip, (0, 0), dip_alpha, id="dip modulus"), True),
        (S.sharpness_modulus(dip, (0, 0), sp.Rational(3, 4), id="dip modulus 3/4"), False),
        (S.sharp_minimizer(cone, (0, 0), sp.Rational(89, 100), id="cone 89/100"), True),
        (S.sharp_minimizer(cone, (0, 0), 5, id="cone 5"), False),
        (S.sharp_minimizer(kink, (0,), 1, id="kink 1"), True),
        (S.sharp_minimizer(kink, (0,), 2, id="kink 2"), False),
        (S.sharpness_modulus(kink, (0,), sp.Rational(3, 2), id="alpha* 3/2"), True),
        (S.sharpness_modulus(kink, (0,), 2, id="alpha* 2"), False),
        (S.tilt_stable(kink, (0,), 1, id="tilt 1"), True),
        (S.tilt_stable(kink, (0,), 2, id="tilt 2"), False),
        (S.lipschitz_stable(kink, (0,), 1, id="lip 1"), True),
        (S.lipschitz_stable(kink, (0,), 2, id="lip 2"), False),
        (filter_set_claim("gd", sp.Rational(1, 10), equals="Interval(0, 20)", id="gd 20"),
         True),
        (filter_set_claim("gd", sp.Rational(1, 10), equals="Interval(0, 19)", id="gd 19"),
         False),
        (filter_set_claim("gd", sp.Rational(1, 10), contains=(1,), excludes=(21,),
                          id="gd members"), True),
        (stable_point_claim("gd", x**2 + y**2, (0, 0), sp.Rational(1, 10), variables=(x, y),
                            id="gd bowl"), True),
        (stable_point_claim("gd", x**2 - 15 * y**2, (0, 0), sp.Rational(1, 10),
                            variables=(x, y), id="gd saddle"), False),
        (max_variation_claim(x**2, (0,), 1, variables=(x,), at_most=1, id="mv at_most 1"),
         True),
        (max_variation_claim(x**2, (0,), 1, variables=(x,), at_most=sp.Rational(1, 2),
                             id="mv at_most 1/2"), False),
        (max_variation_claim(x**2, (0,), 1, variables=(x,), at_least=sp.Rational(1, 2),
                             id="mv at_least 1/2"), True),
        (flatter_claim(x**2, (0,), (1,), sp.Rational(1, 10), variables=(x,), id="0 vs 1"),
         True),
        (flatter_claim(x**2, (1,), (0,), sp.Rational(1, 10), variables=(x,), id="1 vs 0"),
         False),
        (conserved_quantity_claim((x * y - 1)**2, x**2 - y**2, variables=(x, y),
                                  id="balance"), True),
        (conserved_quantity_claim((x * y - 1)**2, x**2, variables=(x, y), id="x^2"), False),
        (flat_minimum((x1 * x2 - 1)**2, (1, 1), variables=(x1, x2), id="flat (1,1)"), True),
        (flat_minimum((x1 * x2 - 1)**2, (2, sp.Rational(1, 2)), variables=(x1, x2),
                      id="flat (2,1/2)"), False),
        (F.identity((x + 1)**2 - x**2 - 2 * x - 1, variables=["x"], id="square"), True),
        (F.identity(sp.Abs(x) - x, variables=["x"], id="abs"), False),
        (F.inequalities(["sqrt(2) - 1 > 0", "pi > 3"], id="constants"), True),
        (F.inequalities(["sqrt(2) - 3/2 > 0"], id="sqrt 2"), False),
        (F.forall("x**2 - 3/2*x + 3/2*Abs(x) >= 0", variables=["x"], id="1-D"), True),
        (F.forall("x**2 - 2*x + 3/2*Abs(x) >= 0", variables=["x"], id="1-D false"), False),
        (F.forall("x*y <= (x**2 + y**2)/2", variables=["x", "y"], id="AM-GM"), True),
        (F.forall("x*y <= 0", variables=["x", "y"], hypotheses=["x >= 0"], id="xy"), False),
        (F.same_span(["x**2", "x"], ["x + x**2", "x"], variables=["x"], id="span"), True),
        (F.same_span(["x**2"], ["x"], variables=["x"], id="span false"), False),
        (F.limit("sqrt(t)/t", "t", "oo", 0, variables=["t"], assume={"t": "positive"},
                 id="limit"), True),
        (F.limit("sqrt(t)/t", "t", "oo", 1, variables=["t"], assume={"t": "positive"},
                 id="limit false"), False),
    ]
    return out


def _network_claims() -> list[tuple[dict, bool, object]]:
    """network-lipschitz claims about an in-memory Linear layer (||W||_2 = 5.46...)."""
    from theorems.networks import checks as NC
    from theorems.networks import mathematics as M

    net = M.network_from_model(NC._net([[[1.0, 2.0], [3.0, 4.0]]]), "<[[1, 2], [3, 4]]>")
    out = []
    for at_most, holds in ((6, True), (5, False)):
        claim = M.claim_for(net, at_most, f"W <= {at_most}")
        verdict = M.decide_lipschitz(net, sp.Integer(at_most), claim=claim.describe())
        out.append((claim.describe(), holds, verdict))
    return out


@pytest.fixture(scope="module")
def corpus() -> dict:
    """Genuine verdicts (JSON) with the truth of their claims."""
    entries = []
    for claim, holds in _claims():
        verdict = claim.check(seed=0)
        entries.append((json.loads(verdict.to_json()), holds))
    for data, holds, verdict in _network_claims():
        entries.append((json.loads(verdict.to_json()), holds))
    return {"entries": entries}


def test_the_corpus_is_decided_as_known(corpus):
    for data, holds in corpus["entries"]:
        want = ("proved", "certified") if holds else ("refuted",)
        assert data["status"] in want, (data["id"], data["status"], data["message"])
        assert kernel.recheck([data]) == [], data["id"]


def test_every_statement_kind_and_certificate_kind_is_declared_and_has_a_checker():
    kernel._load()
    declared = {c for s in STATEMENTS.values() for c in s.proved + s.certified + s.refuted}
    assert declared == set(CERTIFICATES), declared ^ set(CERTIFICATES)
    assert declared <= set(kernel.CHECKERS), declared - set(kernel.CHECKERS)
    unused = set(kernel.CHECKERS) - declared
    assert not unused, f"checkers no statement declares: {sorted(unused)}"


def test_genuine_certificates_carry_only_their_declared_witnesses(corpus):
    def walk(cert):
        if isinstance(cert, dict) and "kind" in cert and cert["kind"] in CERTIFICATES:
            extra = set(cert) - {"kind", "version"} - set(CERTIFICATES[cert["kind"]].keys)
            assert not extra, f"{cert['kind']} carries {sorted(extra)}"
            for value in cert.values():
                walk(value)
        elif isinstance(cert, dict):
            for value in cert.values():
                walk(value)
        elif isinstance(cert, list):
            for value in cert:
                walk(value)

    for data, _ in corpus["entries"]:
        walk(data.get("certificate"))


def test_no_transplanted_certificate_decides_a_claim(corpus):
    """Every certificate of the corpus, on every claim of known truth: a false claim marked
    proved or certified, a true claim marked refuted. All must be rejected."""
    certificates = []
    for data, _ in corpus["entries"]:
        if data.get("certificate"):
            certificates.append((data["id"], data["certificate"]))
    assert len({c["kind"] for _, c in certificates}) >= 20
    accepted = []
    for data, holds in corpus["entries"]:
        claim = data["claim"]
        statuses = ("refuted",) if holds else ("proved", "certified")
        for source, cert in certificates:
            for status in statuses:
                if kernel.check(claim, status, cert)[0]:
                    accepted.append((source, cert["kind"], claim["id"], status))
    assert not accepted, accepted


#: one-field edits that flip the truth of each corpus claim (a proved claim becomes false, a
#: refuted one true), with the reason each edit flips it
FLIPS = {
    "dip alpha*": [("modulus", "3/4"), ("point", ["1", "0"]), ("norm", "1")],
    "dip above": [("modulus", "1 - sqrt(2)/4")],
    "dip modulus": [("value", "3/4"), ("value", "1/2"), ("point", ["1", "0"])],
    "dip modulus 3/4": [("value", "1 - sqrt(2)/4")],
    "cone 89/100": [("modulus", "2"),                               # alpha* = 1
                    ("f", "x1**2 + x2**2 + Max(Abs(x1), 2*Abs(x2)) - Abs(x1)/2"),
                    ("point", ["1", "0"]),                           # not a minimizer
                    ("norm", "1")],                                  # alpha*_1 = 2/3
    "cone 5": [("modulus", "1/2"), ("f", "10*Max(Abs(x1), 2*Abs(x2))")],
    "kink 1": [("modulus", "2"), ("f", "x**2"), ("point", ["1"])],
    "kink 2": [("modulus", "1"), ("f", "3*Abs(x) + x**2")],
    "alpha* 3/2": [("value", "1"), ("f", "2*Abs(x) + x**2"), ("point", ["1"])],
    "alpha* 2": [("value", "3/2"), ("f", "2*Abs(x) + x**2")],
    "tilt 1": [("radius", "2"), ("f", "x**2"), ("point", ["1"])],
    "tilt 2": [("radius", "1"), ("f", "3*Abs(x) + x**2")],
    "lip 1": [("radius", "2"), ("f", "x**2"), ("point", ["1"])],
    "lip 2": [("radius", "1"), ("f", "3*Abs(x) + x**2")],
    "gd 20": [("equals", "Interval(0, 19)"), ("alpha", "1/5")],     # [0, 10]
    "gd 19": [("equals", "Interval(0, 20)"), ("alpha", "2/19")],    # [0, 19]
    "gd members": [("contains", ["25"]), ("excludes", ["1/2"]), ("alpha", "4")],
    "gd bowl": [("f", "x**2 + 20*y**2"), ("alpha", "2")],
    "gd saddle": [("f", "x**2 + y**2")],
    "mv at_most 1": [("at_most", "1/2"), ("f", "2*x**2"), ("radius", "2"), ("point", ["1"])],
    "mv at_most 1/2": [("at_most", "1"), ("f", "x**2/4"), ("radius", "1/2")],
    "mv at_least 1/2": [("at_least", "2"), ("radius", "1/2"), ("f", "x**2/4")],
    "0 vs 1": [("x", ["2"]), ("f", "(x - 1)**2")],
    "1 vs 0": [("x", ["0"]), ("f", "(x - 1)**2")],
    "balance": [("quantity", "x**2"), ("f", "(x*y - 1)**2 + x**2")],
    "x^2": [("quantity", "x**2 - y**2")],
    "flat (1,1)": [("point", ["2", "1/2"]), ("f", "(x1*x2 - 1)**2 + x1**2")],
    "flat (2,1/2)": [("point", ["1", "1"])],
    "square": [("expr", "(x + 1)**2 - x**2")],
    "abs": [("expr", "Abs(x)**2 - x**2")],
    "constants": [("conditions", ["pi > 4"])],
    "sqrt 2": [("conditions", ["sqrt(2) - 1 > 0"])],
    "1-D": [("conclusion", "x**2 - 2*x + 3/2*Abs(x) >= 0")],
    "1-D false": [("conclusion", "x**2 >= 0")],
    "AM-GM": [("conclusion", "x*y <= 0")],
    "xy": [("hypotheses", ["x >= 0", "y <= 0"]), ("conclusion", "x*y <= x**2 + y**2")],
    "span": [("found", ["x**3"])],
    "span false": [("expected", ["x**2"])],
    "limit": [("value", "1")],
    "limit false": [("value", "0")],
    "W <= 6": [("at_most", "5")],
    "W <= 5": [("at_most", "6")],
}


def test_editing_a_statement_field_of_a_genuine_verdict_fails(corpus):
    """Each statement field of each genuine verdict, edited so that the verdict's status
    becomes wrong: the certificate must no longer establish it."""
    accepted, tried = [], 0
    ids = {data["claim"]["id"] for data, _ in corpus["entries"]}
    assert ids == set(FLIPS), ids ^ set(FLIPS)
    for data, _ in corpus["entries"]:
        for key, value in FLIPS[data["claim"]["id"]]:
            assert key in data["claim"], (data["id"], key)
            edited = dict(copy.deepcopy(data["claim"]), **{key: value})
            tried += 1
            if kernel.check(edited, data["status"], data["certificate"])[0]:
                accepted.append((data["id"], key))
    assert tried >= 70 and not accepted, accepted


# --------------------------------------------------------------------------------------------
# the red team's hand-made forgeries
# --------------------------------------------------------------------------------------------

FALSE_SHARP = {"kind": "sharp-minimizer", "variables": ["x1", "x2"],
               "f": "x1**2 + x2**2 + Max(Abs(x1), 2*Abs(x2))", "point": ["0", "0"],
               "modulus": "5", "norm": "2"}
TRUE_SHARP = dict(FALSE_SHARP, modulus="89/100")
FACTS = [{"kind": "smt-unsat", "texts": ["(assert false)\n(check-sat)\n"]},
         {"kind": "sign", "expr": "1", "relation": ">"},
         {"kind": "zero", "expr": "0", "variables": []},
         {"kind": "signs", "facts": [["1", ">"]]},
         {"kind": "limit", "expr": "1/t", "variables": ["t"], "variable": "t", "to": "oo",
          "value": "0"},
         {"kind": "same-span", "found": ["x"], "expected": ["x"], "variables": ["x"]},
         {"kind": "exact-zero"}, {"kind": "exact-sign"}, {"kind": "real-roots"},
         {"kind": "smt-agreement"}, {"kind": "sympy-limit"}, {"kind": "exact-rank"}]


@pytest.mark.parametrize("cert", FACTS, ids=[c["kind"] for c in FACTS])
def test_a_fact_certificate_decides_no_sharpness_claim(cert):
    for status in ("proved", "certified"):
        assert not kernel.check(FALSE_SHARP, status, cert)[0]
    assert not kernel.check(TRUE_SHARP, "refuted", cert)[0]
    assert not kernel.check(TRUE_SHARP, "refuted", {"kind": "nonzero", "expr": "0"})[0]


def test_an_all_of_about_another_claim_or_without_claims_decides_nothing():
    from theorems.facts import kinds as F

    genuine = F.inequalities(["1 > 0"], id="one").check()
    part = {"id": "p", "status": "proved", "claim": genuine.claim,
            "certificate": genuine.certificate, "confidence": None}
    for claim in (FALSE_SHARP, {"kind": "check"}, None, {}):
        assert not kernel.check(claim, "proved", {"kind": "all-of", "parts": [part]})[0]
    # a check claim whose hash is not that of its parts
    check = {"kind": "check", "id": "c", "paper": "p", "statement": "s", "profile": "quick",
             "seed": 0, "instances_sha256": "0" * 64}
    assert not kernel.check(check, "proved", {"kind": "all-of", "parts": [part]})[0]
    good = dict(check, instances_sha256=kernel.instances_sha256([genuine.claim]))
    assert kernel.check(good, "proved", {"kind": "all-of", "parts": [part]})[0]
    # a part without a claim
    bare = dict(part, claim=None)
    assert not kernel.check(dict(check, instances_sha256=kernel.instances_sha256([None])),
                            "proved", {"kind": "all-of", "parts": [bare]})[0]


def test_a_refuted_part_of_another_check_refutes_nothing():
    from theorems.facts import kinds as F

    false = F.inequalities(["sqrt(2) - 3/2 > 0"], id="f").check()
    part = {"id": "f", "status": "refuted", "claim": false.claim,
            "certificate": false.certificate, "confidence": None}
    check = {"kind": "check", "id": "c", "paper": "p", "statement": "s", "profile": "quick",
             "seed": 0, "instances_sha256": kernel.instances_sha256([{"kind": "other"}])}
    cert = {"kind": "refuted-part", "claims": [false.claim], "index": 0, "part": part}
    assert not kernel.check(check, "refuted", cert)[0]
    ok = dict(check, instances_sha256=kernel.instances_sha256([false.claim]))
    assert kernel.check(ok, "refuted", cert)[0]
    assert not kernel.check(ok, "refuted", dict(cert, index=1))[0]


def test_flatter_reads_its_radius_from_the_claim():
    from theorems.flat_geometry.kinds import flatter_claim

    x = sp.Symbol("x", real=True)
    # at r = 1/10, f = x^2 + 3 x^4: 0 is flatter than 1 (true), 1 flatter than 0 (false)
    true = flatter_claim(x**2, (0,), (1,), sp.Rational(1, 10), variables=(x,), id="t")
    verdict = json.loads(true.check().to_json())
    assert verdict["status"] == "proved"
    forged = dict(verdict["certificate"], radius="0")
    false = dict(verdict["claim"], x=["1"], y=["0"])
    assert not kernel.check(false, "proved", forged)[0]
    assert not kernel.check(false, "proved", verdict["certificate"])[0]
    assert not kernel.check(verdict["claim"], "refuted", dict(forged, kind="flatter-fixed"))[0]


def test_a_decided_verdict_without_claim_or_with_a_bad_status_fails_recheck():
    genuine = {"id": "v", "kind": "x", "status": "proved", "method": "m", "message": "",
               "certificate": {"kind": "exact-sign"}, "schema_version": 3}
    assert kernel.recheck([genuine])
    assert kernel.recheck([dict(genuine, claim={"kind": "inequalities",
                                                "conditions": ["1 > 0"]}, status="Proved")])
    assert kernel.recheck([dict(genuine, status=7)])
    assert kernel.recheck(["not an object"])
    assert not kernel.recheck([dict(genuine, claim={"kind": "inequalities",
                                                    "conditions": ["1 > 0"]})])


@pytest.mark.parametrize("hostile", [
    {"claim": {"kind": "inequalities", "conditions": "1 > 0"}},
    {"claim": {"kind": "inequalities", "conditions": [1]}},
    {"claim": {"kind": "inequalities", "conditions": ["9" * 5000 + " > 0"]}},
    {"claim": ["not", "a", "claim"]},
    {"certificate": "exact-sign"},
    {"certificate": {"kind": ["exact-sign"]}},
    {"claim": {"kind": "inequalities", "conditions": ["1 > 0"], "extra": 1}},
], ids=["string-list", "number", "huge", "list", "string-cert", "list-kind", "extra-field"])
def test_malformed_verdicts_fail_cleanly(hostile):
    v = {"id": "v", "kind": "x", "status": "proved", "method": "m", "message": "",
         "claim": {"kind": "inequalities", "conditions": ["1 > 0"]},
         "certificate": {"kind": "exact-sign"}, "schema_version": 3}
    v.update(hostile)
    failures = kernel.recheck([v])
    assert failures and failures[0][1]


def test_deep_and_huge_json_files_give_a_usage_error(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    huge = tmp_path / "huge.json"
    huge.write_text("[" + "9" * 100_000 + "]")
    for path in (deep, huge):
        res = subprocess.run([sys.executable, "-m", "verify", "recheck", str(path)],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert res.returncode == 4, (path, res.returncode, res.stderr[-500:])
        assert "Traceback" not in res.stderr
