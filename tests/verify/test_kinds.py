"""Claim kinds and optimizers are declared once, and everything that lists them agrees."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from numerics import updates
from verify import loaders, registry
from verify.verdict import Status

ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_has_a_decider_fields_and_a_statement():
    kinds = registry.kinds()
    assert len(kinds) >= 10
    for name, k in kinds.items():
        assert k.name == name and callable(k.decide) and k.statement and k.paper
        assert k.module.startswith("theorems.") and k.module.endswith(".kinds")
        for f in k.fields:
            assert f.doc, (name, f.name)
        for group in k.one_of:
            assert set(group) <= set(k.field_names)


def test_every_example_file_uses_declared_kinds_and_parses():
    seen = set()
    for path in sorted((ROOT / "examples").glob("*.toml")):
        loaded = loaders.load(path)
        assert not loaded.errors, [e.message for e in loaded.errors]
        seen |= {c.kind for c in loaded.claims}
    assert seen <= set(registry.kinds())


def test_the_readme_table_of_kinds_is_the_declarations():
    from verify.cli import kinds_markdown

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert kinds_markdown() in readme, "run `sharpflat kinds --markdown` and paste it into " \
        "the README"


def _source_files():
    for folder in ("numerics", "theorems", "verify"):
        yield from (ROOT / folder).rglob("*.py")


@pytest.mark.parametrize("name", sorted(registry.kinds()))
def test_each_kind_name_is_written_in_one_declaration(name):
    """Besides its kinds module, only the kernel (which re-states what each kind means, on
    purpose independently of the deciders) writes a kind's name."""
    places = [p for p in _source_files() if f'"{name}"' in p.read_text(encoding="utf-8")]
    places = [p for p in places if "kernel" not in p.parts]
    assert len(places) == 1 and places[0].name == "kinds.py", places


@pytest.mark.parametrize("name", sorted(updates.OPTIMIZERS))
def test_each_optimizer_is_declared_once(name):
    text = (ROOT / "numerics/updates.py").read_text(encoding="utf-8")
    assert text.count(f'@optimizer("{name}"') == 1
    # no other list of method names: every choice, field and strategy reads the declarations
    for path in _source_files():
        body = path.read_text(encoding="utf-8")
        for line in body.splitlines():
            lists = re.findall(r"\(([^()]*)\)", line)
            for group in lists:
                names = re.findall(r'"([a-z][a-z-]*)"', group)
                declared = [n for n in names if n in updates.OPTIMIZERS]
                assert len(declared) < 3, f"{path}: a hand-kept list of methods: {line.strip()}"


def test_cli_choices_and_fields_come_from_the_declarations():
    from verify.cli import build_parser

    parser = build_parser()
    certify = parser._subparsers._group_actions[0].choices["certify-model"]
    (opt,) = [a for a in certify._actions if a.dest == "optimizer"]
    # any built-in (one without a filter gets the reason) or FILE.py:NAME: the help lists them
    assert opt.choices is None and all(name in opt.help for name in updates.OPTIMIZERS)
    method = registry.kind("filter-set").field("method")
    assert method.choices == updates.FILTER_METHODS


def test_a_python_constructor_reads_its_kind_like_a_toml_table():
    import sympy as sp

    from theorems import sharp

    c = sharp.sharp_minimizer("Abs(x) + x**2", at=(0,), modulus="1/2", variables=["x"], id="c")
    (x,) = c.params["variables"]
    assert c.params["norm"] == "2" and c.params["f"] == sp.Abs(x) + x ** 2
    assert c.params["modulus"] == sp.Rational(1, 2)
    assert c.check().status is Status.PROVED


def test_kinds_and_list_answer_without_loading_the_mathematics():
    code = ("import sys; from verify import registry; registry.kinds(); registry.discover(); "
            "heavy = [m for m in ('sympy', 'torch', 'z3', 'cvxpy', 'scipy') if m in sys.modules "
            "and type(sys.modules[m]).__name__ != '_LazyModule']; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "[]", out


def test_the_theory_page_covers_every_check_and_kind():
    """docs/theory.md says which check or kind covers each statement: none may be missing."""
    page = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    missing = [c.id for c in registry.discover() if f"`{c.id}`" not in page]
    missing += [k for k in registry.kinds() if f"`{k}`" not in page]
    assert not missing, f"add to docs/theory.md: {missing}"
