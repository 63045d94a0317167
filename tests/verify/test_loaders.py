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
    ('id = "a"\nkind = "filter-set"\nmethod = "adam"\nalpha = 0.1\ncontains = [1]',
     "unknown method 'adam'"),
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
