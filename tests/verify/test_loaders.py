"""verify.loaders and verify.fields: conjecture files, field validation, the kinds' declarations."""

import textwrap

import pytest
import sympy as sp

from verify import loaders, registry
from verify.errors import UsageError
from verify.verdict import Claim, Status


def load_text(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return loaders.load(path)


def test_valid_claim_is_parsed_exactly(tmp_path):
    loaded = load_text(tmp_path, """
        [[claim]]
        id = "rhombus"
        kind = "sharp-minimizer"
        variables = ["x1", "x2"]
        f = "Max(Abs(x1), 2*Abs(x2)) + x1**2 + x2**2"
        point = [0, "2**(1/6) - 2**(1/6)"]
        modulus = 0.89
    """)
    assert not loaded.errors
    (claim,) = loaded.claims
    x1, x2 = claim.params["variables"]
    assert claim.params["modulus"] == sp.Rational(89, 100)
    assert claim.params["norm"] == "2"
    assert claim.params["f"] == sp.Max(sp.Abs(x1), 2 * sp.Abs(x2)) + x1**2 + x2**2


@pytest.mark.parametrize("body, message", [
    ('kind = "sharp-minimizer"', "'id'"),
    ('id = "a"\nkind = "bogus"', "known kinds: conserved-quantity"),
    ('id = "a"\nkind = "sharp-minimizer"\nvariables = ["x"]\nf = "x"\npoint = [0, 1]\n'
     'modulus = 1', "2 coordinates but there are 1 variables"),
    ('id = "a"\nkind = "sharp-minimizer"\nvariables = ["x"]\nf = "x + y"\npoint = [0]\n'
     'modulus = 1', "unknown name 'y'"),
    ('id = "a"\nkind = "sharp-minimizer"\nvariables = ["x"]\nf = "Abs(x)"\npoint = [0]',
     "requires the field 'modulus'"),
    ('id = "a"\nkind = "sharp-minimizer"\nvariables = ["x"]\nf = "Abs(x)"\npoint = [0]\n'
     'modulus = 1\nnorm = "3"', "norm must be one of"),
    ('id = "a"\nkind = "sharp-minimizer"\nvariables = ["x"]\nf = "Abs(x)"\npoint = [0]\n'
     'modulus = 1\ncolour = "red"', "unknown fields ['colour']"),
    ('id = "a"\nkind = "sharp-minimizer"\nvariables = ["x"]\nf = "Abs(x)"\npoint = [0]\n'
     'modulus = "__import__(\'os\')"', "not allowed"),
    ('id = "a"\nkind = "filter-set"\nmethod = "gd"\nalpha = 0.1', "at least one of"),
    ('id = "a"\nkind = "filter-set"\nmethod = "adamw"\nalpha = 0.1\ncontains = [1]',
     "unknown method 'adamw'"),
    ('id = "a"\nkind = "filter-set"\nmethod = "adam"\nalpha = 0.1\ncontains = [1]',
     "adam has no eigenvalue filter: its second moment v"),
    ('id = "a"\nkind = "filter-set"\nmethod = "nowhere.py:gd"\nalpha = 0.1\ncontains = [1]',
     "cannot be read"),
    ('id = "a"\nkind = "sharp-minimizer"\nvariables = "x"\nf = "Abs(x)"\npoint = [0]\n'
     'modulus = 1', "non-empty list of names"),
])
def test_invalid_fields_become_error_verdicts(tmp_path, body, message):
    loaded = load_text(tmp_path, "[[claim]]\n" + body + "\n" + """
        [[claim]]
        id = "fine"
        kind = "filter-set"
        method = "gd"
        alpha = 0.5
        contains = [1]
    """)
    assert [c.id for c in loaded.claims] == ["fine"]
    (error,) = loaded.errors
    assert error.status is Status.ERROR and message in error.message


def test_duplicate_ids(tmp_path):
    loaded = load_text(tmp_path, """
        [[claim]]
        id = "same"
        kind = "filter-set"
        method = "gd"
        alpha = 1
        contains = [1]
        [[claim]]
        id = "same"
        kind = "filter-set"
        method = "gd"
        alpha = 1
        contains = [1]
    """)
    assert len(loaded.claims) == 1 and "used twice" in loaded.errors[0].message


def test_file_level_errors(tmp_path):
    with pytest.raises(UsageError, match="not valid TOML"):
        load_text(tmp_path, "[[claim]\nid=")
    with pytest.raises(UsageError, match="array of tables"):
        load_text(tmp_path, "claim = 'x'\n")
    with pytest.raises(UsageError, match="no \\[\\[claim\\]\\] tables"):
        load_text(tmp_path, "")
    with pytest.raises(UsageError, match="claim list is empty"):
        load_text(tmp_path, "claim = []\n")
    with pytest.raises(UsageError, match="is a directory"):
        loaders.load(tmp_path)
    with pytest.raises(UsageError, match="no conjecture file"):
        loaders.load(tmp_path / "missing.toml")
    with pytest.raises(UsageError, match=".toml or .py"):
        (tmp_path / "c.txt").write_text("x")
        loaders.load(tmp_path / "c.txt")


def test_python_script_claims(tmp_path):
    loaded = load_text(tmp_path, """
        from verify import Claim
        claims = [Claim("filter-set", {"method": "gd", "alpha": 1, "contains": (1,)}, id="a"),
                  "not a claim"]
    """, name="c.py")
    assert [c.id for c in loaded.claims] == ["a"]
    assert "not a Claim" in loaded.errors[0].message
    with pytest.raises(UsageError, match="must define `claims`"):
        load_text(tmp_path, "x = 1\n", name="d.py")
    with pytest.raises(UsageError, match="ZeroDivisionError"):
        load_text(tmp_path, "1/0\n", name="e.py")


def test_unknown_and_unbuilt_kinds_are_error_verdicts(monkeypatch):
    v = registry.decide(Claim("bogus", {}, id="b"))
    assert v.status is Status.ERROR and "known kinds" in v.message
    v = registry.decide(Claim("sharp-minimizer", {"colour": "red"}, id="c"))
    assert v.status is Status.ERROR and "unknown fields ['colour']" in v.message


def test_toml_numbers_are_read_exactly_as_written(tmp_path):
    """Regression: a TOML float with more than 17 digits reached the parser as a binary double,
    so the claim decided was not the claim written."""
    loaded = load_text(tmp_path, """
        [[claim]]
        id = "long"
        kind = "sharp-minimizer"
        variables = ["x1", "x2"]
        f = "Max(Abs(x1), 2*Abs(x2)) + x1**2 + x2**2"
        point = [0.1, -2.5e-3]
        modulus = 0.89442719099991587856
    """)
    assert not loaded.errors, loaded.errors
    (claim,) = loaded.claims
    assert claim.params["modulus"] == sp.Rational(89442719099991587856, 10**20)
    assert claim.params["point"] == (sp.Rational(1, 10), sp.Rational(-1, 400))


@pytest.mark.parametrize("value, message", [("nan", "non-finite"), ("inf", "non-finite"),
                                            ("1e999", "digits")])
def test_toml_numbers_that_are_not_finite_or_too_large_are_errors(tmp_path, value, message):
    loaded = load_text(tmp_path, f"""
        [[claim]]
        id = "bad"
        kind = "sharp-minimizer"
        variables = ["x"]
        f = "Abs(x)"
        point = [0]
        modulus = {value}
    """)
    assert not loaded.claims and message in loaded.errors[0].message


def test_a_script_that_hangs_times_out_and_one_that_exits_is_named(tmp_path):
    """Regression: conjecture scripts ran in sharpflat's own process with no timeout, so
    `while True: pass` hung `check --timeout 10` for ever and `os._exit(9)` killed sharpflat
    without a word. They run in a worker process under the claims' timeout."""
    import os
    import time

    hang = tmp_path / "hang.py"
    hang.write_text("while True:\n    pass\n")
    start = time.monotonic()
    with pytest.raises(UsageError, match=r"did not finish within 2 s.*--timeout"):
        loaders.load(hang, timeout=2)
    assert time.monotonic() - start < 30
    exits = tmp_path / "exits.py"
    exits.write_text("import os\nos._exit(9)\n")
    with pytest.raises(UsageError, match=r"ended its process \(exit code 9\)"):
        loaders.load(exits, timeout=30)
    calls_exit = tmp_path / "calls_exit.py"
    calls_exit.write_text("import sys\nsys.exit(4)\n")
    with pytest.raises(UsageError, match=r"called exit\(4\)"):
        loaders.load(calls_exit, timeout=30)
    pid = tmp_path / "pid.py"
    pid.write_text(f"import os\nopen({str(tmp_path / 'pid')!r}, 'w').write(str(os.getpid()))\n"
                   "claims = []\n")
    with pytest.raises(UsageError):
        loaders.load(pid, timeout=30)
    assert int((tmp_path / "pid").read_text()) != os.getpid()        # not this process


def test_claims_that_are_not_a_list_or_empty(tmp_path):
    """Regression: `claims = 5` gave a TypeError traceback (exit 1); `claims = []` exited 0
    and stored an empty run."""
    from verify.errors import NothingSelected

    with pytest.raises(UsageError, match="`claims` must be a list of claims, got int"):
        load_text(tmp_path, "claims = 5\n", name="five.py")
    with pytest.raises(NothingSelected, match="`claims` is empty"):
        load_text(tmp_path, "claims = []\n", name="none.py")
    with pytest.raises(NothingSelected, match="claim list is empty"):
        load_text(tmp_path, "claim = []\n")


def test_the_python_api_takes_variables_as_names(tmp_path):
    """Regression: `variables=["x"]` (strings) raised AttributeError."""
    loaded = load_text(tmp_path, """
        from theorems import sharp
        claims = [sharp.sharp_minimizer("Abs(x) + y**2", at=(0, 0), modulus=1,
                                        variables=["x", "y"], id="names")]
    """, name="names.py")
    (claim,) = loaded.claims
    assert [str(v) for v in claim.params["variables"]] == ["x", "y"]
    assert claim.check().status is Status.REFUTED          # y**2 grows slower than |y|
