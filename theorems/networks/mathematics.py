"""Lipschitz constants of feed-forward networks: certified upper bounds, refuting pairs.

A network file is a Python file that defines ``model``, a ``torch.nn.Sequential`` of ``Linear``
layers and slope-restricted activations (ReLU, LeakyReLU, ReLU6, Hardtanh, Tanh, Sigmoid);
:func:`load_network` runs it in a process of its own (a file that hangs or ends its process gives
a clear error) and keeps its exact layers (every float weight is a dyadic rational,
:func:`numerics.lipschitz.network_layers`) and their fingerprint, the SHA-256 of their canonical
JSON (:func:`verify.kernel.networks.layers_sha256`), which the claim records.

:func:`decide_lipschitz` decides L_2(f) <= c:

* **refuted** when a pair of rational inputs has ||f(x) - f(y)|| / ||x - y|| > c, evaluated
  exactly from the exact weights (ball arithmetic through tanh and sigmoid); the pair comes
  from sampling and gradient ascent (:func:`numerics.lipschitz.sampled_lower_bound`);
* **certified** (rigorous, confidence 1) when LipSDP-Neuron (Fazlyab et al. 2019, Theorem 2)
  gives rho <= c^2 whose matrix M(rho, T) is shown negative semidefinite exactly (the solver's
  candidate is only a candidate; besides the repaired rho, rho = c^2 itself is tried with the
  solver's multipliers and with them rounded to simple rationals), or when the product of
  exactly bounded layer norms and slope maxima is <= c;
* **inconclusive** otherwise, with the certified upper bound and the exact lower bound found
  (a network whose LipSDP matrix exceeds ``max_rows`` rows is inconclusive for that reason
  unless the product bound or a pair decides it).

Only the 2-norm constant is certified: the kind refuses other norms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping, Sequence

import flint
import numpy as np
import sympy as sp

from numerics import lipschitz as L
from theorems.exact import exact_number
from theorems.networks import kinds
from verify.errors import InvalidClaim, SafetyTimeout
from verify.kernel.facts import parse_constant
from verify.kernel.networks import layers_sha256
from verify.verdict import Claim, Decision, Verdict

Q = flint.fmpq
#: wall-clock safety net of a network file's own run (seconds)
LOAD_TIMEOUT = 300.0
#: pairs sampled and gradient-ascent steps of the refutation search (deterministic)
SAMPLES, STEPS = 256, 100
#: denominators the solver's multipliers are rounded to for the exact attempt at rho = c^2
SNAP_DENOMINATORS = (10**3, 10**6)


@dataclass
class Network:
    """The exact layers of a network, their JSON form and its fingerprint."""

    layers: list[L.ExactLayer]
    data: list[dict[str, Any]]
    sha256: str
    source: str = "<model>"

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    @property
    def rows(self) -> int:
        """Rows of the LipSDP matrix: input plus hidden neurons."""
        return self.in_features + sum(layer.out_features for layer in self.layers[:-1])

    @property
    def sizes(self) -> list[int]:
        return [self.in_features] + [layer.out_features for layer in self.layers]


def network_from_data(data: list[dict[str, Any]], source: str = "<layers>") -> Network:
    return Network(L.layers_from_json(data), data, layers_sha256(data), source)


def network_from_model(model: Any, source: str = "<model>") -> Network:
    """The exact network of a torch model in this process (raises InvalidClaim)."""
    try:
        layers = L.network_layers(model)
    except L.LipschitzError as exc:
        raise InvalidClaim(f"{source}: {exc}") from None
    return network_from_data(L.layers_to_json(layers), source)


def load_network(path: str | Path, *, timeout: float = LOAD_TIMEOUT) -> Network:
    """Run a network file in a process of its own (:mod:`theorems.networks.worker`, one torch
    thread, so that training in the file is reproducible) and read its ``model`` exactly.

    Raises InvalidClaim (missing file, no ``model``, unsupported layers, the file failed or
    ended its process) or SafetyTimeout (it did not finish within ``timeout`` seconds)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidClaim(f"network file {path} does not exist")
    if path.suffix != ".py":
        raise InvalidClaim(f"network file {path} must be a Python file (.py) defining `model`")
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH"))
                                          if p))
    with tempfile.TemporaryDirectory(prefix="sharpflat-network-") as tmp:
        out = Path(tmp) / "answer.json"
        try:
            proc = subprocess.run([sys.executable, "-m", "theorems.networks.worker",
                                   str(path.resolve()), str(out)], cwd=str(path.parent),
                                  env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SafetyTimeout(f"the network file {path} did not finish within "
                                f"{timeout:g} s") from None
        if not out.exists():
            tail = (proc.stderr or "").strip().splitlines()[-3:]
            raise InvalidClaim(f"{path}: the file ended its process (exit code "
                               f"{proc.returncode}) before `model` was read"
                               + (f": {' / '.join(tail)}" if tail else ""))
        answer = json.loads(out.read_text(encoding="utf-8"))
    if "error" in answer:
        raise InvalidClaim(answer["error"])
    try:
        return network_from_data(answer["layers"], str(path))
    except L.LipschitzError as exc:
        raise InvalidClaim(f"{path}: {exc}") from None


def forward_f64(net: Network, X: np.ndarray) -> np.ndarray:
    """f at the rows of X in float64 (numerics only: cross-checks, never a decision)."""
    for layer in net.layers:
        X = X @ layer.weight_f64.T + layer.bias_f64
        a, p = layer.activation, layer.params
        if a == "relu":
            X = np.maximum(X, 0.0)
        elif a == "leaky_relu":
            X = np.where(X >= 0, X, float(p["negative_slope"]) * X)
        elif a == "hardtanh":
            X = np.clip(X, float(p["min_val"]), float(p["max_val"]))
        elif a == "tanh":
            X = np.tanh(X)
        elif a == "sigmoid":
            X = 1.0 / (1.0 + np.exp(-X))
    return X


def claim_for(net: Network, at_most: Any, id: str = "") -> Claim:
    """A ``network-lipschitz`` claim about an in-memory network (its fingerprint recorded;
    ``network`` names its source). A string ``at_most`` is read exactly ("0.999" = 999/1000)."""
    value = parse_constant(at_most) if isinstance(at_most, str) else \
        exact_number(at_most, "at_most")
    return Claim(kind=kinds.NETWORK_LIPSCHITZ, id=id,
                 params={"network": net.source, "at_most": value, "norm": "2",
                         "network_sha256": net.sha256})


def pin_fingerprint(params: dict[str, Any], key: str, net: Network) -> None:
    """Record the network's fingerprint in the claim (``params[key]``); a fingerprint the user
    wrote must match the file."""
    given = params.get(key)
    if given and given != net.sha256:
        raise InvalidClaim(f"{key} = {given!r} but the exact layers of {net.source} hash to "
                           f"{net.sha256!r}: the network file changed")
    params[key] = net.sha256


# --------------------------------------------------------------------------------------------
# bounds
# --------------------------------------------------------------------------------------------

def rational_bounds(c: sp.Expr, digits: int = 24) -> tuple[flint.fmpq, flint.fmpq]:
    """Rationals lo <= c <= hi (equal to c when c is rational)."""
    if c.is_Rational:
        q = Q(int(c.p), int(c.q))
        return q, q
    scale = sp.Integer(10) ** digits
    lo, hi = sp.floor(c * scale), sp.ceiling(c * scale)
    return Q(int(lo), 10 ** digits), Q(int(hi), 10 ** digits)


def preferred_solver() -> str:
    """CVXOPT (a dependency: much faster on networks of a hundred neurons); Clarabel where it is
    missing."""
    import cvxpy as cp

    return "CVXOPT" if "CVXOPT" in cp.installed_solvers() else "CLARABEL"


@dataclass
class UpperBound:
    """A certified L_2 bound: ``certificate`` is the kernel's (``lipsdp`` or
    ``lipschitz-product``), ``rho`` the certified L^2 (LipSDP) and ``bound`` >= L."""

    bound: flint.fmpq | None = None
    rho: flint.fmpq | None = None
    certificate: dict[str, Any] | None = None
    how: str = ""
    lipsdp: L.LipschitzCertificate | None = None
    too_large: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def bound_float(self) -> float | None:
        return None if self.bound is None else L._float_up(self.bound)


def _snapped(lams: Sequence[Sequence[flint.fmpq]], denominator: int) -> list[list[flint.fmpq]]:
    out = []
    for lam in lams:
        row = []
        for t in lam:
            fr = Fraction(int(t.p), int(t.q)).limit_denominator(denominator)
            row.append(Q(max(fr, Fraction(0)).numerator, max(fr, Fraction(0)).denominator))
        out.append(row)
    return out


def lipsdp_bound(net: Network, *, target: flint.fmpq | None = None,
                 solver: str | None = None) -> UpperBound:
    """LipSDP-Neuron on ``net``, exactly checked; with ``target`` (a rational c), also the
    exact attempt rho = c^2 with the solver's multipliers and simple roundings of them."""
    out = UpperBound()
    try:
        cert = L.lipsdp(net.layers, solver=solver or preferred_solver())
    except L.TooLarge as exc:
        out.too_large = str(exc)
        return out
    out.lipsdp = cert
    if not cert.certified:
        out.notes.append(f"LipSDP: {cert.status}: {cert.message}")
        return out
    rho, lams = cert.rho, cert.multipliers
    if target is not None and rho > target * target:
        for candidate in [lams] + [_snapped(lams, d) for d in SNAP_DENOMINATORS]:
            if L.check_lipsdp_certificate(net.layers, target * target, candidate):
                rho, lams = target * target, candidate
                out.notes.append("rho = at_most^2 passed the exact check with the solver's "
                                 "multipliers" + ("" if candidate is cert.multipliers
                                                  else " rounded to simple rationals"))
                break
    out.rho, out.bound = rho, L.sqrt_upper(rho)
    out.how = f"LipSDP-Neuron ({cert.solver}), exact LDL^T check of {net.rows} rows"
    out.certificate = {"kind": "lipsdp", "layers": net.data, "rho": str(rho),
                       "multipliers": [[str(t) for t in lam] for lam in lams]}
    return out


def product_certificate(net: Network, naive: L.NaiveBound) -> dict[str, Any]:
    return {"kind": "lipschitz-product", "layers": net.data,
            "norms": [str(c) for c in naive.norms]}


# --------------------------------------------------------------------------------------------
# deciding L_2(f) <= c
# --------------------------------------------------------------------------------------------

def _pair_record(q: L.DifferenceQuotient, found_by: str) -> dict[str, Any]:
    return {"x": [float(v) for v in q.x], "y": [float(v) for v in q.y],
            "quotient_lower": q.lower, "quotient_upper": q.upper,
            "evaluated": "exactly (rationals)" if q.squared is not None else
            "in ball arithmetic (python-flint)", "found_by": found_by}


def decide_lipschitz(net: Network, at_most: sp.Expr, *, claim: Mapping[str, Any],
                     seed: int = 0, samples: int = SAMPLES, steps: int = STEPS,
                     upper: UpperBound | None = None) -> Verdict:
    """Decide ||f(x) - f(y)||_2 <= at_most ||x - y||_2 for all x, y (see the module
    docstring); ``claim`` is the claim's JSON form (with its ``network_sha256``).

    In order: ``samples`` sampled pairs (no ascent), LipSDP and the product bound, then the
    same pairs with ``steps`` gradient-ascent steps; all deterministic for a given ``seed``.
    ``upper``, a :func:`lipsdp_bound` of the same network computed before, is used instead of
    a new solve when its rho is <= at_most^2 (the kernel re-checks it all the same)."""
    d = Decision(claim)
    lo, hi = rational_bounds(at_most)
    naive = L.naive_bound(net.layers)
    ev: dict[str, Any] = {"network": {"source": net.source, "sizes": net.sizes,
                                      "rows": net.rows, "sha256": net.sha256},
                          "naive_bound": naive.bound_float, "naive_methods": naive.methods}

    def search(ascent: int) -> tuple[L.SampledLowerBound, Verdict | None]:
        low = L.sampled_lower_bound(net.layers, seed=seed, samples=samples, steps=ascent)
        ev["sampled"] = {"float_quotient": low.value, "exact_lower": low.lower,
                         "samples": samples, "steps": ascent, "seed": seed}
        q = low.exact
        if q is None or not q.exceeds(hi):
            return low, None
        how = "sampled pairs" + (" + gradient ascent" if ascent else "")
        cert = {"kind": "lipschitz-pair", "layers": net.data, "x": [str(v) for v in q.x],
                "y": [str(v) for v in q.y]}
        return low, d.refuted(f"{how}, quotient re-evaluated exactly",
                              f"||f(x) - f(y)|| / ||x - y|| >= {q.lower:.10g} > {at_most} at "
                              "an explicit rational pair", certificate=cert,
                              counterexample=_pair_record(q, how),
                              bounds=(q.lower, naive.bound_float), evidence=ev)

    low, refuted = search(0)
    if refuted is not None:
        return refuted
    lower = low.lower or 0.0
    reuse = upper is not None and upper.rho is not None and upper.rho <= lo * lo and \
        upper.certificate is not None and upper.certificate["layers"] == net.data
    up = upper if reuse else lipsdp_bound(net, target=lo)
    if up.lipsdp is not None:
        ev["lipsdp"] = {k: v for k, v in up.lipsdp.to_json().items() if k != "multipliers"}
    ev["notes"] = up.notes
    if up.rho is not None and up.rho <= lo * lo:
        return d.certified(up.how, f"L_2(f) <= {up.bound_float:.10g} <= {at_most} (naive "
                           f"product {naive.bound_float:.6g}, sampled lower bound "
                           f"{lower:.6g})", certificate=up.certificate, confidence=1.0,
                           bounds=(lower, up.bound_float), evidence=ev)
    if naive.bound <= lo:
        return d.certified("product of exactly bounded layer norms and slope maxima",
                           f"L_2(f) <= {naive.bound_float:.10g} <= {at_most} (sampled lower "
                           f"bound {lower:.6g})", certificate=product_certificate(net, naive),
                           confidence=1.0, bounds=(lower, naive.bound_float), evidence=ev)
    if steps > 0:
        low, refuted = search(steps)
        if refuted is not None:
            return refuted
        lower = max(lower, low.lower or 0.0)
    best = min(b for b in (up.bound_float, naive.bound_float) if b is not None)
    why = up.too_large or "; ".join(up.notes) or (
        f"LipSDP certifies L_2(f) <= {up.bound_float:.10g}, above {at_most}")
    return d.inconclusive("LipSDP + sampled pairs", f"{why}; the naive product gives "
                          f"{naive.bound_float:.10g}; the best pair found gives L_2(f) >= "
                          f"{lower:.10g}: no decision at {at_most}",
                          bounds=(lower, best), evidence=ev)


def decide_claim(claim: Any, *, seed: int = 0) -> Verdict:
    """A ``network-lipschitz`` claim: load the network, pin its fingerprint, decide."""
    params = claim.params
    norm = str(params.get("norm", "2"))
    if norm != "2":
        raise InvalidClaim(kinds.norm_refusal(norm))
    net = load_network(params["network"])
    pin_fingerprint(params, "network_sha256", net)
    return decide_lipschitz(net, params["at_most"], claim=claim.describe(), seed=seed)
