"""The layers and their arrows: verify -> theorems -> numerics, and a kernel that imports no
decider. Read from the source (the import statements), not from what happens to be loaded."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (absolute names; relative imports resolved to the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_import" \
                and node.args and isinstance(node.args[0], ast.Constant):
            out.add(node.args[0].value)
    return out


def project_imports(package: str) -> dict[str, set[str]]:
    result = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = {n for n in imports_of(path) if n.split(".")[0] in ("numerics", "theorems",
                                                                    "verify")}
        result[str(path.relative_to(ROOT))] = names
    return result


def test_numerics_imports_nothing_of_the_project_but_numerics():
    for path, names in project_imports("numerics").items():
        bad = {n for n in names if not n.startswith("numerics")}
        assert not bad, f"{path} imports {sorted(bad)}"


#: what theorems may use of the engine: the verdict types, the registry, the errors, and the
#: kernel's trusted primitives (ball arithmetic, SMT texts, exact facts)
THEOREMS_MAY_IMPORT = ("verify.verdict", "verify.registry", "verify.errors", "verify.kernel")


def test_theorems_import_only_the_verdict_types_registry_and_kernel():
    for path, names in project_imports("theorems").items():
        bad = {n for n in names if n.startswith("verify")
               and not n.startswith(THEOREMS_MAY_IMPORT)}
        assert not bad, f"{path} imports {sorted(bad)} (the engine parses; theorems decide)"


def test_the_kernel_imports_no_decider():
    for path, names in project_imports("verify/kernel").items():
        bad = {n for n in names if n.startswith("theorems")
               or (n.startswith("verify") and not n.startswith(("verify.kernel",
                                                                "verify.errors",
                                                                "verify.formula")))}
        # numerics: only the definitions of the optimizers (what a method name means)
        bad |= {n for n in names if n.startswith("numerics") and n != "numerics.updates"}
        assert not bad, f"{path} imports {sorted(bad)}"


def test_the_verdict_types_import_nothing_of_the_project_at_module_level():
    tree = ast.parse((ROOT / "verify/verdict.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    for node in top:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        assert not any(str(n).split(".")[0] in ("numerics", "theorems", "verify")
                       for n in names), names


def test_no_import_cycles_between_the_layers():
    numerics = project_imports("numerics")
    theorems = project_imports("theorems")
    assert not any(n.startswith("theorems") for names in numerics.values() for n in names)
    registry = imports_of(ROOT / "verify/registry.py")
    assert not any(n.startswith("theorems") for n in registry), \
        "the registry discovers theorem modules by name, it never imports them statically"
    assert not any(n.startswith(("verify.cli", "verify.session", "verify.runner",
                                 "verify.store", "verify.loaders", "verify.report"))
                   for names in theorems.values() for n in names)


def test_paper_packages_share_one_shape():
    #: packages shared by the papers: the exact fact kinds (the instances of the checks)
    shared = {"facts"}
    papers = [p for p in (ROOT / "theorems").iterdir() if p.is_dir() and
              (p / "__init__.py").exists() and p.name not in shared]
    assert {p.name for p in papers} == {"sharp", "filters", "escape", "flat_geometry",
                                        "xor_flatness", "networks"}
    assert all((ROOT / "theorems" / name / "kinds.py").exists() for name in shared)
    for p in papers:
        assert (p / "checks.py").exists(), p
        assert (p / "kinds.py").exists() or p.name == "xor_flatness", p


def test_no_theorem_module_is_over_600_lines_without_a_reason():
    for path in sorted((ROOT / "theorems").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        assert lines <= 600 or "over 600 lines" in doc, f"{path}: {lines} lines"


def test_the_sharpflat_package_only_re_exports_the_api():
    """`import sharpflat` is the Python API's name: the package holds no code of its own and
    imports nothing but verify.api."""
    files = sorted((ROOT / "sharpflat").rglob("*.py"))
    assert [f.name for f in files] == ["__init__.py"]
    assert imports_of(files[0]) == {"verify.api"}
    tree = ast.parse(files[0].read_text(encoding="utf-8"))
    assert all(isinstance(n, (ast.Import, ast.ImportFrom)) or
               (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
               for n in tree.body)
