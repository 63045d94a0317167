"""Lipschitz constants of networks: certified upper bounds (a ladder), refuting pairs, brackets.

A network file is a Python file that defines ``model``, a ``torch.nn.Sequential`` of ``Linear``,
``Conv2d``, ``AvgPool2d``, ``Flatten``, residual blocks (:class:`numerics.models.Residual`)
and slope-restricted activations (ReLU, LeakyReLU, ReLU6, Hardtanh, Tanh, Sigmoid, GELU,
SiLU), and, when it starts with a convolution, ``input_shape`` = (C, H, W) (or the claim
gives it); :func:`load_network` runs it in a process of its own (a file that hangs or ends its
process gives a clear error) and keeps its exact layers (every float weight is a dyadic
rational, :func:`numerics.lipschitz.network_layers`) and their fingerprint, the SHA-256 of
their canonical JSON (:func:`verify.kernel.networks.layers_sha256`), which the claim records.

:func:`decide_lipschitz` decides L_p(f) <= c (p = 2, 1 or inf):

* **refuted** when a pair of rational inputs has ||f(x) - f(y)|| / ||x - y|| > c, evaluated
  exactly from the exact weights (ball arithmetic through tanh, sigmoid, GELU, SiLU); the
  pair comes from sampling and gradient ascent
  (:func:`numerics.lipschitz.sampled_lower_bound`), once before the ladder (no ascent) and
  once after it;
* **certified** (rigorous, confidence 1) by the first rung of the ladder
  (:mod:`theorems.networks.ladder`) whose exact bound is <= c and whose certificate the kernel
  accepts: absolute products, products of layer norms, ECLipsE-Fast multipliers, LipSDP-Neuron
  (interior point for small segments, first order otherwise);
* **inconclusive** otherwise, or when ``time_limit`` seconds have passed (the ladder starts no
  new rung; the first-order search stops), always with the bracket [best exact lower bound,
  best certified upper bound] in ``bounds``.

Every verdict carries a ``lipschitz-bracket`` certificate: the upper certificate of its upper
end and the pair of its lower end, so that ``sharpflat recheck`` re-checks both ends of the
bracket, for inconclusive verdicts too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import flint
import numpy as np
import sympy as sp

from numerics import lipschitz as L
from theorems.exact import exact_number
from theorems.networks import kinds
from theorems.networks.ladder import Ladder, Rung, preferred_solver
from verify.errors import InvalidClaim, SafetyTimeout
from verify.kernel.facts import parse_constant
from verify.kernel.networks import check_bracket, layers_sha256
from verify.verdict import Claim, Decision, Verdict, VerdictInvariantError

Q = flint.fmpq
#: wall-clock safety net of a network file's own run (seconds)
LOAD_TIMEOUT = 300.0
#: pairs sampled and gradient-ascent steps of the refutation search (deterministic)
SAMPLES, STEPS = 256, 100
#: seconds after which the ladder starts no new rung (a claim's ``time_limit`` overrides)
TIME_LIMIT = 120.0
#: denominators the solver's multipliers are rounded to for the exact attempt at rho = c^2
SNAP_DENOMINATORS = (10**3, 10**6)

__all__ = ["Network", "network_from_data", "network_from_model", "load_network",
           "forward_f64", "claim_for", "pin_fingerprint", "rational_bounds", "preferred_solver",
           "UpperBound", "lipsdp_bound", "decide_lipschitz", "decide_claim"]


@dataclass
class Network:
    """The exact layers of a network, their JSON form and its fingerprint."""

    layers: list[Any]
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
        """Rows of the LipSDP matrix of a plain MLP: input plus hidden neurons."""
        return self.in_features + sum(layer.out_features for layer in self.layers
                                      if layer.activation is not None)

    @property
    def sizes(self) -> list[int]:
        return [self.in_features] + [layer.out_features for layer in self.layers]


def network_from_data(data: list[dict[str, Any]], source: str = "<layers>") -> Network:
    return Network(L.layers_from_json(data), data, layers_sha256(data), source)


def network_from_model(model: Any, source: str = "<model>",
                       input_shape: Sequence[int] | None = None) -> Network:
    """The exact network of a torch model in this process (raises InvalidClaim)."""
    try:
        layers = L.network_layers(model, input_shape)
    except L.LipschitzError as exc:
        raise InvalidClaim(f"{source}: {exc}") from None
    data = L.layers_to_json(layers)
    return Network(layers, data, layers_sha256(data), source)


def load_network(path: str | Path, *, timeout: float = LOAD_TIMEOUT,
                 input_shape: Sequence[int] | None = None) -> Network:
    """Run a network file in a process of its own (:mod:`theorems.networks.worker`, one torch
    thread, so that training in the file is reproducible) and read its ``model`` exactly, on
    inputs of ``input_shape`` (else the file's ``input_shape``, if it defines one).

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
    shape = json.dumps(None if input_shape is None else [int(v) for v in input_shape])
    with tempfile.TemporaryDirectory(prefix="sharpflat-network-") as tmp:
        out = Path(tmp) / "answer.json"
        try:
            proc = subprocess.run([sys.executable, "-m", "theorems.networks.worker",
                                   str(path.resolve()), str(out), shape],
                                  cwd=str(path.parent), env=env, capture_output=True,
                                  text=True, timeout=timeout)
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
    import torch

    with torch.no_grad():
        return L._torch_forward(net.layers)(torch.as_tensor(np.asarray(X, dtype=float))
                                            ).numpy()


def claim_for(net: Network, at_most: Any, id: str = "", norm: str = "2",
              time_limit: float | None = None) -> Claim:
    """A ``network-lipschitz`` claim about an in-memory network (its fingerprint recorded;
    ``network`` names its source). A string ``at_most`` is read exactly ("0.999" = 999/1000)."""
    value = parse_constant(at_most) if isinstance(at_most, str) else \
        exact_number(at_most, "at_most")
    params = {"network": net.source, "at_most": value, "norm": norm,
              "network_sha256": net.sha256}
    if time_limit is not None:
        params["time_limit"] = exact_number(time_limit, "time_limit")
    return Claim(kind=kinds.NETWORK_LIPSCHITZ, id=id, params=params)


def pin_fingerprint(params: dict[str, Any], key: str, net: Network) -> None:
    """Record the network's fingerprint in the claim (``params[key]``); a fingerprint the user
    wrote must match the file."""
    given = params.get(key)
    if given and given != net.sha256:
        raise InvalidClaim(f"{key} = {given!r} but the exact layers of {net.source} hash to "
                           f"{net.sha256!r}: the network file changed")
    params[key] = net.sha256


# --------------------------------------------------------------------------------------------
# LipSDP of a plain MLP (the perturbation zeta of lipschitz-stable claims)
# --------------------------------------------------------------------------------------------

def rational_bounds(c: sp.Expr, digits: int = 24) -> tuple[flint.fmpq, flint.fmpq]:
    """Rationals lo <= c <= hi (equal to c when c is rational)."""
    if c.is_Rational:
        q = Q(int(c.p), int(c.q))
        return q, q
    scale = sp.Integer(10) ** digits
    lo, hi = sp.floor(c * scale), sp.ceiling(c * scale)
    return Q(int(lo), 10 ** digits), Q(int(hi), 10 ** digits)


@dataclass
class UpperBound:
    """A certified L_2 bound of a plain MLP: ``certificate`` is the kernel's ``lipsdp``, ``rho``
    the certified L^2 and ``bound`` >= L."""

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


def lipsdp_bound(net: Network, *, solver: str | None = None) -> UpperBound:
    """LipSDP-Neuron on a plain MLP ``net`` by the interior-point SDP, exactly checked."""
    out = UpperBound()
    try:
        cert = L.lipsdp(net.layers, solver=solver or preferred_solver())
    except (L.TooLarge, L.UnsupportedLayer) as exc:
        out.too_large = str(exc)
        return out
    out.lipsdp = cert
    if not cert.certified:
        out.notes.append(f"LipSDP: {cert.status}: {cert.message}")
        return out
    out.rho, out.bound = cert.rho, L.sqrt_upper(cert.rho)
    out.how = f"LipSDP-Neuron ({cert.solver}), exact check of {net.rows} rows"
    out.certificate = {"kind": "lipsdp", "layers": net.data, "rho": str(cert.rho),
                       "multipliers": [[str(t) for t in lam] for lam in cert.multipliers]}
    return out


# --------------------------------------------------------------------------------------------
# deciding L_p(f) <= c
# --------------------------------------------------------------------------------------------

def _pair_record(q: L.DifferenceQuotient, found_by: str) -> dict[str, Any]:
    return {"x": [float(v) for v in q.x], "y": [float(v) for v in q.y],
            "quotient_lower": q.lower, "quotient_upper": q.upper,
            "evaluated": "exactly (rationals)" if q.ball is not None and (
                q.squared is not None or q.exact is not None) else
            "in ball arithmetic (python-flint)", "found_by": found_by}


def _upper_of(up: UpperBound) -> Rung | None:
    """A precomputed LipSDP bound as a rung (its certificate without the layers)."""
    if up is None or up.certificate is None:
        return None
    cert = {k: v for k, v in up.certificate.items() if k != "layers"}
    return Rung("lipsdp (given)", cert, L.sqrt_upper(up.rho), 0.0, up.how)


def decide_lipschitz(net: Network, at_most: sp.Expr, *, claim: Mapping[str, Any],
                     seed: int = 0, samples: int = SAMPLES, steps: int = STEPS,
                     upper: UpperBound | None = None, norm: str = "2",
                     time_limit: float | None = None) -> Verdict:
    """Decide ||f(x) - f(y)||_p <= at_most ||x - y||_p for all x, y (see the module
    docstring); ``claim`` is the claim's JSON form (with its ``network_sha256``).

    In order: ``samples`` sampled pairs (no ascent), the rungs of the ladder cheapest first
    (stopping at the first that proves the claim), then the same pairs with ``steps``
    gradient-ascent steps; deterministic for a given ``seed`` except where ``time_limit``
    seconds (default :data:`TIME_LIMIT`) cut the work short, which only ever gives an
    inconclusive verdict. ``upper``, a :func:`lipsdp_bound` of the same network computed
    before, is tried as a rung before the LipSDP rung. Runs on one thread
    (:func:`numerics.lipschitz.one_thread`)."""
    with L.one_thread():
        return _decide(net, at_most, claim=claim, seed=seed, samples=samples, steps=steps,
                       upper=upper, norm=norm, time_limit=time_limit)


def _decide(net: Network, at_most: sp.Expr, *, claim: Mapping[str, Any], seed: int,
            samples: int, steps: int, upper: UpperBound | None, norm: str,
            time_limit: float | None) -> Verdict:
    t_start = time.perf_counter()
    limit = TIME_LIMIT if time_limit is None else float(time_limit)
    deadline = t_start + limit
    d = Decision(claim)
    lo, hi = rational_bounds(at_most)
    ladder = Ladder(net.layers, norm, deadline=deadline)
    ev: dict[str, Any] = {"network": {"source": net.source, "sizes": net.sizes,
                                      "sha256": net.sha256},
                          "norm": norm, "rungs": [], "time_limit_s": limit}
    rungs: list[Rung] = []
    lower_pair: dict[str, Any] | None = None
    lower = 0.0

    def search(ascent: int) -> L.DifferenceQuotient | None:
        nonlocal lower_pair, lower
        low = L.sampled_lower_bound(net.layers, seed=seed, samples=samples, steps=ascent,
                                    norm=norm)
        ev.setdefault("sampled", []).append({"float_quotient": low.value,
                                             "exact_lower": low.lower, "samples": samples,
                                             "steps": ascent, "seed": seed})
        q = low.exact
        if q is not None and q.lower > lower:
            lower = q.lower
            lower_pair = {"x": [str(v) for v in q.x], "y": [str(v) for v in q.y]}
        return q if q is not None and q.exceeds(hi) else None

    def bracket(best: Rung | None) -> dict[str, Any]:
        return {"kind": "lipschitz-bracket", "layers": net.data,
                "upper": best.certificate if best is not None else None,
                "lower": lower_pair}

    def run(name: str) -> Rung:
        rung = ladder.rung(name, lo)
        rungs.append(rung)
        ev["rungs"].append(rung.record())
        return rung

    q = search(0)
    if q is not None:                                     # refuted: the cheap rungs on top
        best = _best_verified(d, [run(n) for n in ladder.names()[:2]], lower,
                              lower_pair, net)
        how = "sampled pairs, quotient re-evaluated exactly"
        return d.refuted(how, f"||f(x) - f(y)|| / ||x - y|| >= {q.lower:.10g} > {at_most} at "
                         "an explicit rational pair", certificate=bracket(best),
                         counterexample=_pair_record(q, "sampled pairs"),
                         bounds=_bounds(lower, best), evidence=_finish(ev, ladder, t_start))
    candidates = ladder.names()
    given = _upper_of(upper) if upper is not None and upper.certificate is not None and \
        upper.certificate.get("layers") == net.data else None
    for name in candidates:
        if time.perf_counter() > deadline and rungs:       # the first rung always runs
            ev["stopped"] = f"time limit of {limit:g} s reached before the rung {name!r}"
            break
        if name == "lipsdp" and given is not None:
            rungs.append(given)
            ev["rungs"].append(given.record())
            if given.bound <= lo:
                verdict = _certify(d, given, net, at_most, lower, lower_pair, ev, ladder,
                                   t_start)
                if verdict is not None:
                    return verdict
        rung = run(name)
        if rung.bound is not None and rung.bound <= lo:
            verdict = _certify(d, rung, net, at_most, lower, lower_pair, ev, ladder, t_start)
            if verdict is not None:
                return verdict
    if steps > 0 and time.perf_counter() <= deadline:
        q = search(steps)
        if q is not None:
            best = _best_verified(d, rungs, lower, lower_pair, net)
            how = "sampled pairs + gradient ascent, quotient re-evaluated exactly"
            return d.refuted(how, f"||f(x) - f(y)|| / ||x - y|| >= {q.lower:.10g} > "
                             f"{at_most} at an explicit rational pair",
                             certificate=bracket(best), counterexample=_pair_record(q, how),
                             bounds=_bounds(lower, best),
                             evidence=_finish(ev, ladder, t_start))
    best = _best_verified(d, rungs, lower, lower_pair, net)
    stated = "" if norm == "2" else (f" (the {norm}-norm bound is the product of absolute "
                                     "weight matrices, an upper bound only)")
    why = ev.get("stopped") or "no rung proves the claim"
    up_text = (f"certified upper bound {best.bound_float:.10g} ({best.name})"
               if best is not None else "no certified upper bound")
    return d.inconclusive("ladder of certified upper bounds + sampled pairs",
                          f"{why}; {up_text}{stated}; the best pair found gives L >= "
                          f"{lower:.10g}: no decision at {at_most}",
                          certificate=bracket(best), bounds=_bounds(lower, best),
                          evidence=_finish(ev, ladder, t_start))


def _bounds(lower: float, best: Rung | None) -> tuple[float, float | None]:
    return (lower, None if best is None else best.bound_float)


def _finish(ev: dict[str, Any], ladder: Ladder, t_start: float) -> dict[str, Any]:
    ev["notes"] = ladder.notes
    ev["seconds"] = round(time.perf_counter() - t_start, 3)
    return ev


def _certify(d: Decision, rung: Rung, net: Network, at_most: sp.Expr, lower: float,
             lower_pair: dict[str, Any] | None, ev: dict[str, Any], ladder: Ladder,
             t_start: float) -> Verdict | None:
    """A certified verdict from ``rung`` if the kernel accepts it (None otherwise)."""
    t0 = time.perf_counter()
    cert = {"kind": "lipschitz-bracket", "layers": net.data, "upper": rung.certificate,
            "lower": lower_pair}
    try:
        verdict = d.certified(f"{rung.name} (ladder of certified upper bounds)",
                              f"L(f) <= {rung.bound_float:.10g} <= {at_most} ({rung.name}; "
                              f"the best pair found gives L >= {lower:.6g})",
                              certificate=cert, confidence=1.0,
                              bounds=(lower, rung.bound_float), evidence=ev)
    except VerdictInvariantError as exc:
        rung.verified, rung.check_seconds = False, round(time.perf_counter() - t0, 3)
        rung.note += f"; the kernel rejected it: {exc}"
        ev["rungs"][-1] = rung.record()
        return None
    rung.verified, rung.check_seconds = True, round(time.perf_counter() - t0, 3)
    ev["rungs"][-1] = rung.record()
    _finish(ev, ladder, t_start)
    return verdict


def _best_verified(d: Decision, rungs: Sequence[Rung], lower: float,
                   lower_pair: dict[str, Any] | None, net: Network) -> Rung | None:
    """The rung with the least bound whose certificate the kernel accepts as the bracket's
    upper end (each tried at most once, best first)."""
    for rung in sorted((r for r in rungs if r.bound is not None and r.verified is not False),
                       key=lambda r: r.bound):
        t0 = time.perf_counter()
        cert = {"kind": "lipschitz-bracket", "layers": net.data, "upper": rung.certificate,
                "lower": lower_pair}
        ok, reason = check_bracket(d.claim, [lower, rung.bound_float], cert)
        rung.verified, rung.check_seconds = ok, round(time.perf_counter() - t0, 3)
        if ok:
            return rung
        rung.note += f"; the kernel rejected it: {reason}"
    return None


def decide_claim(claim: Any, *, seed: int = 0) -> Verdict:
    """A ``network-lipschitz`` claim: load the network, pin its fingerprint, decide."""
    params = claim.params
    norm = str(params.get("norm", "2"))
    shape = params.get("input_shape")
    net = load_network(params["network"], input_shape=None if shape is None else
                       [int(v) for v in shape])
    pin_fingerprint(params, "network_sha256", net)
    limit = params.get("time_limit")
    return decide_lipschitz(net, params["at_most"], claim=claim.describe(), seed=seed,
                            norm=norm, time_limit=None if limit is None else float(limit))
