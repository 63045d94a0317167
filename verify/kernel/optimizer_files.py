"""What a user's method ``"file.py:name"`` means to the kernel, and how its filter is derived.

A built-in method name means its map in :mod:`numerics.updates`. A user's method means the map
that the file declares with :func:`numerics.updates.declare`, **as the file is**: a claim about
it pins the file's SHA-256 (``method_sha256``, written when the claim is read). The kernel
re-derives what the claim's obligation needs from the file itself (design choice (a)):

* the file must be present at the claim's path and hash to ``method_sha256``; otherwise the
  check *fails* with that reason (a verdict about a file's method is never re-checked without
  the file, so a recheck on a machine without it never passes);
* the file is run only in a worker process (:func:`verify.kernel.isolated.run_isolated`, under
  :data:`TIMEOUT` seconds), never in the kernel's process. The worker runs the kernel's own
  derivation below on the user's map and sends back formula text, which the kernel parses
  with the whitelisting parser. Answers are cached by (SHA-256, request).

The derivation (:func:`linearize`) is the one the built-in maps get, made general: the map runs
on SymPy matrices with the oracles of the quadratic f = lambda x^2/2 (gradient lambda v,
Hessian-vector product lambda v); every state entry shaped like x is a state variable; the
state at the critical point x = 0 is ``init(0)`` (or the unique solution of the fixed-point
equations); M(lambda) is the exact Jacobian of (x, state) there. No filter applies, with the
reason and the condition under which one would, when the map is not C^1 at the critical point
(undefined, or built from Abs/Max/sign...), when a state field changes with the step number
(a counter: not one fixed map), when the state has no unique fixed value, when the map
computes with floating-point numbers, or when its Jacobian on a rotated two-dimensional
quadratic depends on the Hessian's eigenvectors (element-wise operations: then a filter is
not a set of eigenvalues of H).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import sympy as sp

from verify.errors import InvalidClaim, NoFilter
from verify.kernel.facts import parse, parse_constant

#: wall-clock limit (seconds) of one worker run of an optimizer file
TIMEOUT = 120.0
#: the curvature symbol in the text the worker sends back ("lambda" is a Python keyword)
_CURVATURE = "curvature_lambda"
_NONSMOOTH = (sp.Abs, sp.sign, sp.Max, sp.Min, sp.Heaviside, sp.Piecewise, sp.floor,
              sp.ceiling)
_ASSUME = {"positive": {"positive": True}, "nonnegative": {"nonnegative": True},
           "unit-interval": {"nonnegative": True}, "integer": {"positive": True,
                                                               "integer": True}}


class OptimizerFileError(InvalidClaim):
    """A user's optimizer file cannot be used as the claim says (absent, changed, failing,
    slow): the message says which."""


# --------------------------------------------------------------------------------------------
# the files
# --------------------------------------------------------------------------------------------

def is_user_method(method: Any) -> bool:
    return isinstance(method, str) and ":" in method


def split(method: str) -> tuple[str, str]:
    """(path, name) of ``"file.py:name"``."""
    from numerics.updates import split_method

    spec = split_method(method)
    if spec is None:
        raise OptimizerFileError(f"{method!r} is not of the form 'file.py:name'")
    return spec


def file_sha256(path: str | Path) -> str:
    """SHA-256 of the file's bytes (the file itself, not the modules it imports)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise OptimizerFileError(f"the optimizer file {path} cannot be read "
                                 f"({exc.strerror or exc})") from None


def pinned_file(method: str, sha256: Any) -> tuple[str, str]:
    """(path, name) after checking that the file is present and hashes to ``sha256``."""
    from verify.kernel import reads_files

    reads_files()
    path, name = split(method)
    if not isinstance(sha256, str) or len(sha256) != 64:
        raise OptimizerFileError(f"the claim does not pin the SHA-256 of {path} "
                                 "(method_sha256): a claim about a file's method states which "
                                 "file it is")
    if not Path(path).is_file():
        raise OptimizerFileError(f"the optimizer file {path} is not present here: a claim "
                                 f"about its method {name!r} is re-checked only with the file "
                                 f"(SHA-256 {sha256[:12]}...)")
    actual = file_sha256(path)
    if actual != sha256:
        raise OptimizerFileError(f"the optimizer file {path} has changed: it hashes to "
                                 f"{actual[:12]}..., the claim pins {sha256[:12]}...")
    return path, name


_CACHE: dict[tuple, Any] = {}


def ask(path: str, sha256: str, request: tuple, *, timeout: float | None = None) -> Any:
    """The worker's answer to ``request`` about the file (cached by its SHA-256; the caller
    has checked that the file hashes to it). Raises NoFilter or OptimizerFileError."""
    from verify.kernel.isolated import IsolatedFailure, run_isolated

    key = (sha256, request)
    if key not in _CACHE:
        try:
            status, payload = run_isolated(_answer, (path, request),
                                           timeout=TIMEOUT if timeout is None else timeout)
        except IsolatedFailure as exc:
            raise OptimizerFileError(f"the optimizer file {path} {exc}") from None
        if status != "ok":
            raise OptimizerFileError(f"running the optimizer file {path} failed: {payload}")
        _CACHE[key] = payload
    kind, value = _CACHE[key]
    if kind == "no-filter":
        raise NoFilter(value)
    if kind == "error":
        raise OptimizerFileError(value)
    return value


# --------------------------------------------------------------------------------------------
# what the worker does (in its own process: it runs the user's file)
# --------------------------------------------------------------------------------------------

def _answer(path: str, request: tuple) -> tuple[str, Any]:
    from numerics.updates import load_declarations

    try:
        declared = load_declarations(path)
    except SystemExit as exc:
        return "error", f"{path}: the file called exit({exc.code})"
    except Exception as exc:  # noqa: BLE001 - the user's file failed
        return "error", f"running {path} failed: {type(exc).__name__}: {exc}"
    what = request[0]
    if what == "describe":
        return "ok", {n: describe(d) for n, d in declared.items()}
    name = request[1]
    if name not in declared:
        return "error", (f"{path} declares no optimizer {name!r}; it declares "
                         f"{sorted(declared) or 'none'} (with numerics.updates.declare)")
    try:
        if what == "matrix":
            _, _, hyper, form = request
            umap = _build(declared[name], hyper, form)
            M, names = linearize(umap)
            return "ok", {"matrix": _texts(M), "state": list(names)}
        if what == "jacobian":
            _, _, hyper, form, variables, f_text, point = request
            from verify.formula import make_symbols

            symbols = make_symbols(variables)
            f = parse(f_text, symbols)
            umap = _build(declared[name], hyper, form)
            J, fixed = map_jacobian(umap, f, symbols, [parse_constant(c) for c in point])
            return "ok", {"jacobian": _texts(J), "fixed": fixed}
    except NoFilter as exc:
        return "no-filter", str(exc)
    except ValueError as exc:
        return "error", f"{path}:{name}: {exc}"
    raise ValueError(f"unknown request {what!r}")


def describe(declared: Any) -> dict[str, Any]:
    """A declaration as plain data."""
    return {"name": declared.name, "summary": declared.summary,
            "hyper": [list(h) for h in declared.hyper], "forms": list(declared.forms),
            "filter": declared.filter, "no_filter": declared.no_filter,
            "oracles": list(declared.oracles)}


def _build(declared: Any, hyper: Sequence[tuple[str, str]], form: str) -> Any:
    """The map with exact hyperparameters: a value equal to the hyperparameter's own name is
    that symbol (with the sign its range gives), any other text a number."""
    from numerics.updates import build

    checks = {h.name: h.check for h in declared.hyper}
    values = {}
    for name, text in hyper:
        if text == name:
            values[name] = hyper_symbol(name, checks.get(name, ""))
        else:
            values[name] = parse_constant(text)
    return build(declared, form=form or "A", **values)


def curvature_symbol() -> sp.Symbol:
    """lambda as it is written in the worker's answers."""
    return sp.Symbol(_CURVATURE, real=True)


def hyper_symbol(name: str, check: str) -> sp.Symbol:
    """The symbol of a hyperparameter left symbolic, with the sign its range gives."""
    return sp.Symbol(name, **_ASSUME.get(check, {"real": True}))


def _texts(M: sp.Matrix) -> list[list[str]]:
    lam = sp.Symbol(_CURVATURE, real=True)
    return [[str(e.xreplace({LAM: lam})) for e in M.row(i)] for i in range(M.rows)]


# --------------------------------------------------------------------------------------------
# the derivation (pure: the kernel's own code, on a map)
# --------------------------------------------------------------------------------------------

LAM = sp.Symbol("lambda", real=True)


class _State(NamedTuple):
    """A state split into vector entries (shaped like x) and constant entries."""

    vectors: list[tuple[str, Any]]
    constants: list[tuple[str, Any]]
    rebuild: Callable[[Sequence[Any]], Any]


def _split_state(state: Any, shape: tuple[int, int]) -> _State:
    fields = getattr(state, "_fields", None)
    if isinstance(state, tuple):
        names = list(fields) if fields else [f"state[{i}]" for i in range(len(state))]
        items = list(state)
    elif isinstance(state, sp.MatrixBase):
        names, items = ["state"], [state]
    else:
        raise NoFilter(f"no filter is derived for a state of type {type(state).__name__}: "
                       "init(x) returns a tuple or NamedTuple of arrays shaped like x")
    vectors, constants, slots = [], [], []
    for name, value in zip(names, items):
        if isinstance(value, sp.MatrixBase):
            if value.shape != shape:
                raise NoFilter(f"the state entry {name!r} has shape {value.shape}, not that of "
                               f"x {shape}: sharpflat derives filters of maps whose state is "
                               "made of vectors like x (a scalar state couples the eigen-"
                               "directions of the Hessian)")
            vectors.append((name, value))
            slots.append("v")
        else:
            constants.append((name, value))
            slots.append("c")

    def rebuild(new_vectors: Sequence[Any]) -> Any:
        it_v, it_c = iter(new_vectors), iter(c for _, c in constants)
        values = [next(it_v) if s == "v" else next(it_c) for s in slots]
        if isinstance(state, sp.MatrixBase):
            return values[0]
        return type(state)(*values) if fields else tuple(values)

    return _State(vectors, constants, rebuild)


def _call(umap: Any, X: sp.Matrix, state: Any, grad_fn: Callable, hvp_fn: Callable) -> Any:
    try:
        return umap.update(X, state, grad_fn, hvp_fn=hvp_fn)
    except NoFilter:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's map does not run on SymPy
        raise NoFilter(f"the map does not run on SymPy matrices ({type(exc).__name__}: "
                       f"{exc}): a filter is derived from maps written with +, -, scalar "
                       "multiples and the helpers of numerics.updates, with no branch on "
                       "numerical values") from None


def _linear_system(umap: Any, X: sp.Matrix, grad_fn: Callable, hvp_fn: Callable,
                   at: Sequence[sp.Expr], *, critical: bool = True
                   ) -> tuple[sp.Matrix, list[str], bool]:
    """The exact Jacobian of (x, state vectors) -> update at x = at and its state, the names of
    the state vectors, and whether (at, state) is a fixed point of the map.

    ``critical``: ``at`` is a critical point, and the state is its fixed value (``init(at)``
    or the unique solution of the fixed-point equations; NoFilter when there is none, or when
    ``at`` is not fixed); otherwise the state is ``init(at)``, as for the built-in maps."""
    shape = X.shape
    at_matrix = sp.Matrix(list(at)).reshape(*shape)
    try:
        start = _split_state(umap.init(at_matrix), shape)
    except NoFilter:
        raise
    except Exception as exc:  # noqa: BLE001
        raise NoFilter(f"init(x) does not run on SymPy matrices ({type(exc).__name__}: {exc})"
                       ) from None
    n = shape[0] * shape[1]
    state_syms = [sp.Matrix([sp.Dummy(f"{name}_{i}" if name.isidentifier() else f"s{k}_{i}",
                                      real=True) for i in range(n)]).reshape(*shape)
                  for k, (name, _) in enumerate(start.vectors)]
    new_x, new_state = _call(umap, X, start.rebuild(state_syms), grad_fn, hvp_fn)
    new = _split_state(new_state, shape)
    if [nm for nm, _ in new.vectors] != [nm for nm, _ in start.vectors]:
        raise NoFilter("update changes the structure of the state; a filter is derived for "
                       "maps whose state keeps its entries")
    for (name, before), (_, after) in zip(start.constants, new.constants):
        if not _same_constant(before, after):
            raise NoFilter(f"the state entry {name!r} changes with each step ({before!r} -> "
                           f"{after!r}): the map depends on the step number (a counter, a "
                           "schedule, a bias correction), so it is not one fixed map and "
                           "Theorem 2.1 gives no filter; a filter applies to the map with that "
                           "entry held fixed (e.g. no bias correction, a constant step)")
    outputs = list(new_x) + [e for _, v in new.vectors for e in v]
    xs = list(X)
    inputs = xs + [s for m in state_syms for s in m]
    bad = [e for e in outputs if isinstance(e, sp.Basic) and e.has(sp.Float)]
    if bad:
        floats = sorted({str(f) for e in bad for f in e.atoms(sp.Float)})[:3]
        raise NoFilter(f"the map computes with floating-point numbers ({', '.join(floats)}), so "
                       "its filter cannot be derived exactly: write its constants exactly "
                       "(g / 2 rather than 0.5 * g, numerics.updates.scalar_sqrt(v) rather than "
                       "v ** 0.5)")
    nonsmooth = sorted({type(a).__name__ for e in outputs if isinstance(e, sp.Basic)
                        for a in e.atoms(sp.Function) if isinstance(a, _NONSMOOTH)})
    if nonsmooth:
        raise NoFilter(f"the map uses {', '.join(nonsmooth)}, which is not differentiable "
                       "everywhere, so its linearization at a critical point is not defined "
                       "(Theorem 2.1 needs a C^1 map); a filter applies to a smooth map")
    at_x = dict(zip(xs, at))
    fixed = {**at_x, **{s: v for m, (_, v0) in zip(state_syms, start.vectors)
                        for s, v in zip(m, v0)}}
    def check_defined() -> None:
        undefined = [o for o in outputs if _undefined(o.subs(fixed, simultaneous=True))]
        if undefined:
            raise NoFilter(f"the map is undefined at the critical point (its update has no "
                           f"value at {_show(fixed)}: a state it divides by vanishes there), "
                           "so it has no linearization and no filter (Theorem 2.1 needs a C^1 "
                           "map); a filter applies when the step stays defined and C^1 there, "
                           "e.g. with a frozen preconditioner")

    if critical:
        check_defined()

    def residual() -> list[sp.Expr]:
        return [sp.simplify(o.subs(fixed, simultaneous=True) - fixed[i])
                for o, i in zip(outputs, inputs)]

    settled = all(r == 0 for r in residual())
    if critical and not settled and state_syms:
        flat = [s for m in state_syms for s in m]
        eqs = [sp.simplify((o - i).subs(at_x, simultaneous=True))
               for o, i in zip(outputs[len(xs):], flat)]
        try:
            solutions = sp.solve(eqs, flat, dict=True)
        except (NotImplementedError, ValueError, TypeError):
            solutions = []
        if len(solutions) != 1 or set(solutions[0]) != set(flat):
            raise NoFilter(f"the state does not settle at the critical point: init(x) is not "
                           f"a fixed state there and the fixed-state equations "
                           f"{[str(e) + ' = 0' for e in eqs]} have "
                           f"{'no unique' if solutions else 'no'} solution; a filter needs "
                           "a fixed point (x-bar, state) of the map")
        fixed.update(solutions[0])
        settled = all(r == 0 for r in residual())
    if critical and not settled:
        raise NoFilter("a critical point is not a fixed point of the map (its update moves "
                       "x = 0 on the quadratic f = lambda x^2/2), so the map has no filter "
                       "in the sense of Theorem 2.1")
    check_defined()
    J = sp.Matrix(outputs).jacobian(inputs)
    Jf = J.subs(fixed, simultaneous=True)
    for (i, j), entry in zip(((i, j) for i in range(J.rows) for j in range(J.cols)), Jf):
        if _undefined(entry):
            raise NoFilter(f"the linearization at the critical point is undefined: the "
                           f"derivative of entry {i} of the update with respect to "
                           f"{str(inputs[j]).lstrip('_')} "
                           f"has no value at {_show(fixed)} (a state that the step divides by "
                           "vanishes with the gradient, so the step is not C^1 there). "
                           "Theorem 2.1 needs a C^1 map at the limit, so no filter applies; "
                           "one does when the preconditioner is frozen at a positive value")
    Jf = Jf.applyfunc(lambda e: sp.expand(sp.simplify(e)))
    return Jf, [nm for nm, _ in start.vectors], settled


def _same_constant(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001
        return a is b


def _undefined(e: Any) -> bool:
    e = sp.sympify(e)
    return bool(e.has(sp.nan, sp.zoo, sp.oo, -sp.oo)) or e.is_finite is False


def _show(fixed: Mapping) -> str:
    return ", ".join(f"{str(k).lstrip('_')} = {v}" for k, v in fixed.items())


def linearize(umap: Any, lam: sp.Expr = LAM) -> tuple[sp.Matrix, tuple[str, ...]]:
    """M(lambda): the Jacobian of the map on one eigen-direction of a quadratic with curvature
    lambda, at the critical point with its fixed state, and the names of the state vectors.

    Raises NoFilter (see the module docstring): not C^1, not autonomous, no fixed state,
    floating-point constants, or not rotation-equivariant (checked on H = Q diag(l1, l2) Q^T
    with a rational rotation Q: in the eigenbasis every block of the Jacobian must be
    diag(m(l1), m(l2)) for the entries m of M)."""
    x = sp.Dummy("x_0", real=True)
    M, names, _ = _linear_system(umap, sp.Matrix([x]), lambda v: lam * v,
                                 lambda y, v: lam * v, [sp.Integer(0)])
    l1, l2 = sp.symbols("l1 l2", real=True)
    Q = sp.Matrix([[sp.Rational(3, 5), -sp.Rational(4, 5)], [sp.Rational(4, 5),
                                                            sp.Rational(3, 5)]])
    H = Q * sp.diag(l1, l2) * Q.T
    X = sp.Matrix([sp.Dummy(f"x_{i}", real=True) for i in range(2)])
    J2, _, _ = _linear_system(umap, X, lambda v: H * v, lambda y, v: H * v,
                              [sp.Integer(0)] * 2)
    k = M.rows
    for a in range(k):
        for b in range(k):
            block = Q.T * J2[2 * a:2 * a + 2, 2 * b:2 * b + 2] * Q
            want = sp.diag(M[a, b].subs(lam, l1), M[a, b].subs(lam, l2))
            if any(sp.simplify(e) != 0 for e in block - want):
                raise NoFilter("the map's linearization depends on the eigenvectors of the "
                               "Hessian, not only on its eigenvalues (it mixes coordinates "
                               "element-wise, e.g. a diagonal preconditioner), so its "
                               "stability is not a set of eigenvalues of H; a filter applies to "
                               "maps built from gradients, Hessian-vector products and scalar "
                               "coefficients (a preconditioner that is a scalar or a polynomial "
                               "in H)")
    for e in M:
        if not e.is_polynomial(lam):
            raise NoFilter(f"the linearization {M.tolist()} is not polynomial in lambda; "
                           "sharpflat decides filters whose M(lambda) is polynomial")
    return M, tuple(names)


def map_jacobian(umap: Any, f: sp.Expr, variables: Sequence[sp.Symbol],
                 point: Sequence[sp.Expr]) -> tuple[sp.Matrix, bool]:
    """The exact Jacobian of the map (x and its state vectors) at (point, init(point)) on f,
    and whether that is a fixed point of the map."""
    from verify.kernel.filters import sympy_oracles

    grad_fn, hvp_fn = sympy_oracles(f, variables)
    X = sp.Matrix([sp.Dummy(f"x_{i}", real=True) for i in range(len(variables))])
    J, _, fixed = _linear_system(umap, X, grad_fn, hvp_fn, list(point), critical=False)
    return J, fixed


# --------------------------------------------------------------------------------------------
# the kernel's questions, from a claim
# --------------------------------------------------------------------------------------------

def hyper_texts(declared_hyper: Sequence[Sequence[str]], claim: Mapping[str, Any]
                ) -> tuple[tuple[str, str], ...]:
    """The claim's exact values of the hyperparameters a user's optimizer declares: those
    named alpha, beta, rho from those fields, the others from ``hyper``."""
    table = claim.get("hyper") or {}
    out = []
    for h in declared_hyper:
        name = h[0]
        value = claim.get(name) if name in ("alpha", "beta", "rho") else table.get(name)
        if value is None:
            raise OptimizerFileError(f"the claim gives no value of the hyperparameter {name!r}")
        out.append((name, str(parse_constant(value))))
    extra = set(table) - {h[0] for h in declared_hyper}
    if extra:
        raise OptimizerFileError(f"the optimizer declares no hyperparameters {sorted(extra)}")
    return tuple(out)


def pinned_declaration(method: str, sha256: Any) -> tuple[str, str, dict[str, Any]]:
    """(path, name, declaration) of a pinned user's method (the file present, unchanged, and
    declaring ``name``)."""
    path, name = pinned_file(method, sha256)
    declared = ask(path, sha256, ("describe",))
    if name not in declared:
        raise OptimizerFileError(f"{path} declares no optimizer {name!r}")
    return path, name, declared[name]


def claim_matrix(claim: Mapping[str, Any], lam: sp.Expr = LAM) -> sp.Matrix:
    """M(lambda) of the claim's user method, re-derived from its pinned file in a worker."""
    sha = claim.get("method_sha256")
    path, name, info = pinned_declaration(claim["method"], sha)
    hyper = hyper_texts(info["hyper"], claim)
    answer = ask(path, sha, ("matrix", name, hyper, claim.get("variant") or "A"))
    curvature = curvature_symbol()
    return sp.Matrix([[parse(t, (curvature,)).xreplace({curvature: lam}) for t in row]
                      for row in answer["matrix"]])


def claim_jacobian(claim: Mapping[str, Any]) -> sp.Matrix:
    """The exact Jacobian of the claim's user method at the claim's point (stable-point)."""
    sha = claim.get("method_sha256")
    path, name, info = pinned_declaration(claim["method"], sha)
    hyper = hyper_texts(info["hyper"], claim)
    variables = tuple(str(v) for v in claim["variables"])
    point = tuple(str(c) for c in claim["point"])
    answer = ask(path, sha, ("jacobian", name, hyper, claim.get("variant") or "A", variables,
                             str(claim["f"]), point))
    return sp.Matrix([[parse_constant(t) for t in row] for row in answer["jacobian"]])
