"""Curvature of a network's loss: Hessian-vector products, trace, top eigenvalues, spectral
density and exact Hessians, each number with an error statement.

``HessianOperator(model, loss_fn, data)`` is the Hessian of

    L(theta) = sum_b (n_b / N) loss_fn(model(x_b; theta), y_b)

over the batches ``(x_b, y_b)`` of ``data`` (``n_b`` examples each, ``N`` in all), i.e. the mean
loss over the data when ``loss_fn`` averages over its batch (the PyTorch default). Parameters are
those of ``model`` with ``requires_grad`` (or the names given in ``params``), at their current
values; buffers are held fixed.

Hessian-vector products (``hvp=``):

* ``"reverse"``: reverse-over-reverse (Pearlmutter by double backward); a block of vectors is one
  batched backward (``is_grads_batched``, i.e. vmap over the backward pass); with one data batch
  the graph of the gradient is built once and reused for every product.
* ``"forward"``: forward-over-reverse (``torch.func.jvp`` of ``torch.func.grad``), ``vmap``-ped
  over a block of vectors.
* ``"auto"`` (default): ``"reverse"``, falling back to ``"forward"`` if an operator of the model
  has no batching rule for the double backward (``fallback_reason`` says which).

Blocks are cut to ``block_size`` vectors (halved automatically on CUDA out-of-memory).
* ``"finite-difference"``: central differences of gradients (oracle for tests only).

Error statements: :meth:`HessianOperator.trace` gives a Student-t confidence interval over the
i.i.d. probe values (asymptotic in the number of probes); :meth:`HessianOperator.top_eigenvalues`
gives Ritz residual norms (each Rayleigh value lies within its residual of an eigenvalue, a
rigorous statement up to floating-point error in the products), the Rayleigh quotient as a lower
bound of lambda_max, and an upper bound valid with a stated probability from Kuczynski and
Wozniakowski (SIAM J. Matrix Anal. Appl. 13(4), 1992, Theorem 4.2: random-start Lanczos);
:meth:`HessianOperator.spectral_density` states its runs, steps and smoothing width.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from scipy import stats
from torch.func import functional_call, grad, jvp, vmap

Tensor = torch.Tensor
HVP_METHODS = ("auto", "reverse", "forward", "finite-difference")
TRACE_METHODS = ("hutchinson", "hutch++")


def load_forward_ad() -> None:
    """Register torch's forward-mode decompositions without its FutureWarning.

    The first ``torch.func.jvp`` imports ``torch._decomp.decompositions_for_jvp``, which
    registers its decompositions through ``torch.jit.script`` and so warns that
    ``torch.jit.script`` is deprecated: torch's own use, not ours. Importing it here, under a
    filter for exactly that message, keeps a normal run free of the warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                                category=FutureWarning)
        import torch._decomp.decompositions_for_jvp  # noqa: F401


class CurvatureError(ValueError):
    """A model, data set or argument the curvature engine cannot handle soundly."""


class AutodiffPitfall(CurvatureError):
    """A known autodiff pitfall (BatchNorm or dropout in train mode, a shuffling loader)."""


class TooLarge(CurvatureError):
    """An exact computation was asked for on a model too large for it."""


# --------------------------------------------------------------------------------------------
# result types
# --------------------------------------------------------------------------------------------

@dataclass
class TraceEstimate:
    """A Hutchinson or Hutch++ estimate of tr(H) with a confidence interval.

    ``lower``/``upper`` is a Student-t interval of level ``confidence`` over the i.i.d. probe
    values (the random part of the estimator; Hutch++'s projected part is exact).
    """

    value: float
    lower: float
    upper: float
    confidence: float
    matvecs: int
    probes: int
    method: str
    std_error: float
    samples: list[float] = field(repr=False, default_factory=list)
    interval: str = "Student-t over i.i.d. probe values (asymptotic in the number of probes)"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("value", "lower", "upper", "confidence", "matvecs",
                                              "probes", "method", "std_error", "interval")}


@dataclass
class EigenEstimate:
    """Top eigenvalues from Lanczos with their error statements.

    ``values[i]`` is the Rayleigh quotient of the i-th Ritz vector (recomputed with fresh
    products); an eigenvalue of H lies in ``[values[i] - residuals[i], values[i] + residuals[i]]``.
    ``values[0]`` is also a lower bound of lambda_max. ``upper_bound`` >= lambda_max holds with
    probability at least ``confidence`` over the random start (Kuczynski-Wozniakowski 1992,
    Theorem 4.2, applied to H and -H); it is ``inf`` when too few steps were taken for one.
    """

    values: list[float]
    residuals: list[float]
    upper_bound: float
    confidence: float
    matvecs: int
    steps: int
    converged: bool
    ritz_min: float
    certified_ritz: list[tuple[float, float]] | None = None
    ritz_max: float | None = None      # the top Ritz value the upper bound was computed from
    breakdown: bool = False            # Lanczos found an invariant subspace
    vectors: Tensor | None = field(default=None, repr=False)

    @property
    def lower_bound(self) -> float:
        return self.values[0]

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("values", "residuals", "upper_bound", "confidence",
                                              "matvecs", "steps", "converged", "ritz_min",
                                              "certified_ritz", "ritz_max", "breakdown")} | \
            {"lower_bound": self.lower_bound}


@dataclass
class SpectralDensity:
    """Stochastic Lanczos quadrature: ``runs`` quadrature rules of ``steps`` nodes each.

    The density estimate is sum_r sum_j weights[r, j] * N(t; nodes[r, j], sigma^2) / runs, a
    smoothed estimate of the eigenvalue density of H normalized to mass 1; ``sigma`` is the
    Gaussian smoothing width (part of the result).
    """

    nodes: np.ndarray
    weights: np.ndarray
    matvecs: int

    def density(self, grid: np.ndarray, sigma: float | None = None) -> tuple[np.ndarray, float]:
        """The smoothed density on ``grid`` and the width used (default: 1% of the range)."""
        grid = np.asarray(grid, dtype=float)
        if sigma is None:
            spread = float(self.nodes.max() - self.nodes.min())
            sigma = max(spread, 1e-12) / 100
        if not sigma > 0:
            raise CurvatureError(f"sigma must be positive, got {sigma}")
        diff = grid[:, None, None] - self.nodes[None]
        kern = np.exp(-0.5 * (diff / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        return (kern * self.weights[None]).sum(axis=(1, 2)) / self.nodes.shape[0], sigma

    def moment(self, power: int) -> float:
        """SLQ estimate of (1/d) tr(H^power)."""
        return float((self.weights * self.nodes ** power).sum(axis=1).mean())


# --------------------------------------------------------------------------------------------
# pitfalls
# --------------------------------------------------------------------------------------------

_TRAIN_MODE_PITFALLS = (
    (torch.nn.modules.batchnorm._BatchNorm, "BatchNorm in train mode normalizes with batch "
     "statistics and updates its running buffers on every forward, so the 'Hessian' mixes "
     "examples and changes between products"),
    (torch.nn.modules.dropout._DropoutNd, "dropout in train mode draws a new mask on every "
     "forward, so products are random"),
)


def refuse_pitfalls(model: torch.nn.Module) -> None:
    """Raise :class:`AutodiffPitfall` for modules whose train-mode forward is not a fixed
    function of the parameters (BatchNorm, dropout)."""
    for name, module in model.named_modules():
        for kind, why in _TRAIN_MODE_PITFALLS:
            if isinstance(module, kind) and module.training:
                raise AutodiffPitfall(
                    f"module {name or type(module).__name__!r} ({type(module).__name__}): {why}; "
                    "call model.eval() first (or replace the module)")


def _as_batches(data: Any) -> tuple[Any, bool]:
    """(batches, single): one (inputs, targets) pair, or a re-iterable of them."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(
            isinstance(t, Tensor) for t in data):
        return [tuple(data)], True
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, Tensor)):
        return data, False
    raise CurvatureError("data must be one (inputs, targets) pair of tensors or an iterable of "
                         f"such pairs, got {type(data).__name__}")


def _check_deterministic(batches: Iterable) -> tuple[int, int]:
    """Iterate twice; the two passes must give identical batches. Returns (batches, examples)."""
    first = list(batches)
    second = list(batches)
    if not first:
        raise CurvatureError("data yielded no batches")
    if len(first) != len(second) or not all(
            _same_batch(a, b) for a, b in zip(first, second)):
        raise AutodiffPitfall(
            "the data iterable gave different batches on two passes (a DataLoader with "
            "shuffle=True, random augmentation or a random sampler?); every Hessian product must "
            "see the same data: use shuffle=False and deterministic transforms")
    total = 0
    for b in first:
        if not (isinstance(b, (tuple, list)) and len(b) == 2):
            raise CurvatureError("each batch must be an (inputs, targets) pair")
        total += int(b[0].shape[0])
    return len(first), total


def _same_batch(a: Any, b: Any) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


# --------------------------------------------------------------------------------------------
# the operator
# --------------------------------------------------------------------------------------------

class HessianOperator:
    """The Hessian of a model's loss over data, as a symmetric linear operator.

    Parameters
    ----------
    model, loss_fn, data
        ``loss_fn(model(inputs), targets)`` is a scalar; ``data`` is one ``(inputs, targets)``
        batch or an iterable of them (iterated on every product, so it must be deterministic:
        checked by two passes).
    params
        Names of the parameters to differentiate (default: all with ``requires_grad``).
    hvp
        One of :data:`HVP_METHODS` (see the module docstring).
    block_size
        Vectors per batched call; by default tuned on the first products (1, 4, 16, 64, ...
        vectors per call, timed; the fastest per vector is kept).
    """

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor],
                 data: Any, *, params: Iterable[str] | None = None, hvp: str = "auto",
                 block_size: int | None = None):
        if not isinstance(model, torch.nn.Module):
            raise CurvatureError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if hvp not in HVP_METHODS:
            raise CurvatureError(f"hvp must be one of {HVP_METHODS}, got {hvp!r}")
        refuse_pitfalls(model)
        self.model, self.loss_fn, self.hvp_method = model, loss_fn, hvp
        self._batches, self._single = _as_batches(data)
        if self._single:
            self.num_batches, self.num_examples = 1, int(self._batches[0][0].shape[0])
        else:
            self.num_batches, self.num_examples = _check_deterministic(self._batches)
        named = dict(model.named_parameters())
        wanted = list(params) if params is not None else [
            n for n, p in named.items() if p.requires_grad]
        unknown = [n for n in wanted if n not in named]
        if unknown:
            raise CurvatureError(f"unknown parameter names {unknown}; the model has "
                                 f"{list(named)[:8]}...")
        if not wanted:
            raise CurvatureError("no parameters to differentiate")
        self.names = wanted
        self.params = {n: named[n].detach() for n in wanted}
        self._fixed = {n: p.detach() for n, p in named.items() if n not in self.params}
        self._fixed.update(dict(model.named_buffers()))
        self.shapes = [self.params[n].shape for n in wanted]
        self.sizes = [self.params[n].numel() for n in wanted]
        self.dim = int(sum(self.sizes))
        first = self.params[wanted[0]]
        self.device, self.dtype = first.device, first.dtype
        self.block_size = block_size
        self._tuning: list[float] | None = [] if block_size is None else None
        self._warm = False
        self._sign = 1
        self.matvecs = 0
        self._graph: tuple[list[Tensor], list[Tensor]] | None = None
        self._reverse_batched_ok = True
        self.fallback_reason: str | None = None

    # -- vectors ------------------------------------------------------------------------------
    def to_dict(self, flat: Tensor) -> dict[str, Tensor]:
        """Split a flat vector (or a (k, dim) block, rows are vectors) into parameter shapes."""
        lead = flat.shape[:-1]
        parts = torch.split(flat, self.sizes, dim=-1)
        return {n: p.reshape(*lead, *s) for n, p, s in zip(self.names, parts, self.shapes)}

    def to_flat(self, vec: Mapping[str, Tensor], lead: tuple[int, ...] = ()) -> Tensor:
        """Concatenate a parameter dict (with optional leading dims) into flat vectors."""
        missing = [n for n in self.names if n not in vec]
        extra = [n for n in vec if n not in self.params]
        if missing or extra:
            raise CurvatureError(f"vector dict keys do not match the parameters: missing "
                                 f"{missing}, unknown {extra}")
        parts = []
        for n, s in zip(self.names, self.shapes):
            t = vec[n]
            if tuple(t.shape) != tuple(lead) + tuple(s):
                raise CurvatureError(f"vector entry {n!r} has shape {tuple(t.shape)}, expected "
                                     f"{tuple(lead) + tuple(s)}")
            parts.append(t.reshape(*lead, -1))
        return torch.cat(parts, dim=-1)

    def _lead_dims(self, vec: Mapping[str, Tensor]) -> tuple[int, ...]:
        """Leading (block) dimensions of a parameter dict, read off its first parameter."""
        name = self.names[0]
        if name not in vec:
            self.to_flat(vec)  # raises, naming the missing and unknown keys
        t = vec[name]
        return tuple(t.shape[:t.dim() - len(self.shapes[0])])

    def _check_flat(self, v: Tensor) -> Tensor:
        if v.shape[0] != self.dim or v.dim() > 2:
            raise CurvatureError(f"expected a vector of length {self.dim} or a ({self.dim}, k) "
                                 f"block, got shape {tuple(v.shape)}")
        if not torch.isfinite(v).all():
            raise CurvatureError("the vector has non-finite entries")
        return v.to(device=self.device, dtype=self.dtype)

    # -- products -----------------------------------------------------------------------------
    def __matmul__(self, v: Tensor | Mapping[str, Tensor]) -> Any:
        if isinstance(v, Mapping):
            lead = self._lead_dims(v)
            rows = self.to_flat(v, lead).reshape(-1, self.dim)
            out = self._apply_rows(self._check_flat(rows.T).T)
            return self.to_dict(out.reshape(*lead, self.dim))
        if not isinstance(v, Tensor):
            raise CurvatureError(f"cannot multiply the Hessian with {type(v).__name__}")
        v = self._check_flat(v)
        if v.dim() == 1:
            return self._apply_rows(v[None])[0]
        return self._apply_rows(v.T.contiguous()).T

    def __neg__(self) -> "HessianOperator":
        """The operator -H (sharing data, graph cache and block size): ``(-op).top_eigenvalues()``
        gives the smallest eigenvalues of H, negated."""
        neg = copy.copy(self)
        neg._sign = -self._sign
        return neg

    def using(self, hvp: str) -> "HessianOperator":
        """The same operator with products computed by ``hvp`` (one of :data:`HVP_METHODS`),
        e.g. finite differences to re-check a number by an independent path."""
        if hvp not in HVP_METHODS:
            raise CurvatureError(f"hvp must be one of {HVP_METHODS}, got {hvp!r}")
        other = copy.copy(self)
        other.hvp_method = hvp
        return other

    def matmat(self, rows: Tensor) -> Tensor:
        """H applied to each row of a (k, dim) block (the layout used internally)."""
        return self._apply_rows(self._check_flat(rows.T).T)

    def _apply_rows(self, rows: Tensor) -> Tensor:
        out = self._products(rows)
        return out if self._sign > 0 else -out

    def _products(self, rows: Tensor) -> Tensor:
        k = rows.shape[0]
        self.matvecs += k
        if self.hvp_method == "finite-difference":
            return torch.stack([self._hvp_fd(r) for r in rows])
        if self.hvp_method == "auto" and not self._reverse_batched_ok:
            kernel = self._hvp_forward
        else:
            kernel = self._hvp_forward if self.hvp_method == "forward" else self._hvp_reverse
        out, start = [], 0
        while start < k:
            size = min(self._next_block_size(), k - start)
            try:
                t0 = self._clock()
                out.append(kernel(rows[start:start + size]))
                self._record_block(size, self._clock() - t0)
                start += size
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                self.block_size, self._tuning = max(1, size // 2), None
                torch.cuda.empty_cache()
            except RuntimeError as exc:
                # an operator without a batching rule for the double backward: fall back once
                if self.hvp_method != "auto" or kernel is self._hvp_forward or size == 1:
                    raise
                self._reverse_batched_ok, kernel = False, self._hvp_forward
                self.fallback_reason = str(exc).splitlines()[0]
        if self.block_size is None and k > 1 and self._tuning:
            # the block ran out before the search ended: keep the best size seen
            self.block_size = self._TRIAL_SIZES[int(np.argmin(self._tuning))]
        return torch.cat(out)

    # block-size tuning: while no block size is fixed, blocks of 1, 4, 16, 64 (CUDA: up to 256)
    # vectors are timed on the real work; the first size that does not beat the previous one's
    # time per vector by 10% ends the search and the best so far is kept.
    _TRIAL_SIZES = (1, 4, 16, 64, 256)

    def _next_block_size(self) -> int:
        if self.block_size is not None:
            return self.block_size
        return self._TRIAL_SIZES[len(self._tuning)]

    def _record_block(self, size: int, seconds: float) -> None:
        if self.block_size is not None or size != self._TRIAL_SIZES[len(self._tuning)]:
            return
        if not self._warm:  # the first call builds graphs and caches: not representative
            self._warm = True
            return
        self._tuning.append(seconds / size)
        limit = 5 if self.device.type == "cuda" else 4
        if len(self._tuning) >= 2 and self._tuning[-1] > 0.9 * self._tuning[-2] or \
                len(self._tuning) == limit:
            best = int(np.argmin(self._tuning))
            self.block_size = self._TRIAL_SIZES[best]

    def _clock(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _weighted_batches(self) -> Iterable[tuple[float, Tensor, Tensor]]:
        for inputs, targets in self._batches:
            yield (inputs.shape[0] / self.num_examples, inputs.to(self.device),
                   targets.to(self.device))

    def _loss(self, params: dict[str, Tensor], inputs: Tensor, targets: Tensor) -> Tensor:
        out = functional_call(self.model, {**self._fixed, **params}, (inputs,))
        return self.loss_fn(out, targets)

    def loss(self) -> float:
        """L at the current parameters."""
        with torch.no_grad():
            return float(sum(w * self._loss(self.params, x, y)
                             for w, x, y in self._weighted_batches()))

    def gradient(self) -> Tensor:
        """The flat gradient of L at the current parameters."""
        total = torch.zeros(self.dim, device=self.device, dtype=self.dtype)
        for w, x, y in self._weighted_batches():
            g = grad(self._loss)(self.params, x, y)
            total += w * self.to_flat(g)
        return total

    def _hvp_forward(self, rows: Tensor) -> Tensor:
        load_forward_ad()
        tangents = self.to_dict(rows)

        def one(params, tangent, x, y):
            return jvp(lambda p: grad(self._loss)(p, x, y), (params,), (tangent,))[1]

        total = torch.zeros_like(rows)
        for w, x, y in self._weighted_batches():
            out = vmap(one, in_dims=(None, 0, None, None))(self.params, tangents, x, y)
            total += w * self.to_flat(out, (rows.shape[0],))
        return total

    def _grad_graph(self, x: Tensor, y: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        leaves = [self.params[n].clone().requires_grad_(True) for n in self.names]
        with torch.enable_grad():
            loss = self._loss(dict(zip(self.names, leaves)), x, y)
            grads = torch.autograd.grad(loss, leaves, create_graph=True)
        return leaves, list(grads)

    def _hvp_reverse(self, rows: Tensor) -> Tensor:
        """H applied to a (k, dim) block by one batched double backward per data batch
        (``is_grads_batched``), reusing the gradient graph when there is one batch."""
        k = rows.shape[0]
        vs = [t.reshape(k, *s) for t, s in zip(torch.split(rows, self.sizes, dim=1),
                                                 self.shapes)]
        total = torch.zeros_like(rows)
        for w, x, y in self._weighted_batches():
            if self._single:
                if self._graph is None:
                    self._graph = self._grad_graph(x, y)
                leaves, grads = self._graph
            else:
                leaves, grads = self._grad_graph(x, y)
            if k == 1:
                hv = torch.autograd.grad(grads, leaves, grad_outputs=[v[0] for v in vs],
                                         retain_graph=True, allow_unused=True)
                hv = [h[None] if h is not None else None for h in hv]
            else:
                hv = torch.autograd.grad(grads, leaves, grad_outputs=vs, retain_graph=True,
                                         allow_unused=True, is_grads_batched=True)
            total += w * torch.cat([(h if h is not None else torch.zeros_like(v)).reshape(k, -1)
                                    for h, v in zip(hv, vs)], dim=1)
        return total

    def _hvp_fd(self, v: Tensor) -> Tensor:
        eps = float(torch.finfo(self.dtype).eps) ** (1 / 3) * max(1.0, float(
            self.to_flat(self.params).norm())) / max(float(v.norm()), 1e-300)
        base = self.params

        def grad_at(sign: float) -> Tensor:
            shifted = {n: base[n] + sign * eps * d for n, d in self.to_dict(v).items()}
            total = torch.zeros_like(v)
            for w, x, y in self._weighted_batches():
                total += w * self.to_flat(grad(self._loss)(shifted, x, y))
            return total

        return (grad_at(1.0) - grad_at(-1.0)) / (2 * eps)

    # -- exact ------------------------------------------------------------------------------
    def dense(self, max_params: int = 5000) -> Tensor:
        """The exact (dim, dim) Hessian, built from dim products with unit vectors; refuses
        models with more than ``max_params`` parameters."""
        if self.dim > max_params:
            raise TooLarge(f"dense Hessian of {self.dim} parameters refused (max_params="
                           f"{max_params}): use trace/top_eigenvalues/spectral_density")
        eye = torch.eye(self.dim, device=self.device, dtype=self.dtype)
        H = self._apply_rows(eye)
        return (H + H.T) / 2

    # -- trace ------------------------------------------------------------------------------
    def trace(self, probes: int = 100, method: str = "hutchinson", seed: int = 0,
              confidence: float = 0.95) -> TraceEstimate:
        """Hutchinson or Hutch++ estimate of tr(H) using ``probes`` products (Rademacher
        probes), with a Student-t interval of level ``confidence``."""
        if method not in TRACE_METHODS:
            raise CurvatureError(f"method must be one of {TRACE_METHODS}, got {method!r}")
        if not 0 < confidence < 1:
            raise CurvatureError(f"confidence must lie in (0, 1), got {confidence}")
        gen = torch.Generator(device=self.device).manual_seed(seed)
        before = self.matvecs
        exact = 0.0
        if method == "hutchinson":
            if probes < 2:
                raise CurvatureError("Hutchinson needs at least 2 probes for an interval")
            Z = self._rademacher(probes, gen)
            samples = (Z * self._apply_rows(Z)).sum(dim=1)
        else:
            if probes < 6:
                raise CurvatureError("Hutch++ needs at least 6 probes (3 per phase)")
            s = probes // 3
            m = probes - 2 * s
            S = self._rademacher(s, gen)
            Q, _ = torch.linalg.qr(self._apply_rows(S).T)         # (dim, s)
            Qr = Q.T.contiguous()
            exact = float((Qr * self._apply_rows(Qr)).sum())
            G = self._rademacher(m, gen)
            G = G - (G @ Q) @ Qr
            samples = (G * self._apply_rows(G)).sum(dim=1)
        samples_np = samples.detach().double().cpu().numpy()
        if not np.all(np.isfinite(samples_np)):
            raise CurvatureError("a Hessian product was not finite (NaN/inf in the model or loss)")
        n = len(samples_np)
        mean = float(samples_np.mean())
        se = float(samples_np.std(ddof=1) / math.sqrt(n))
        half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * se
        value = exact + mean
        return TraceEstimate(value=value, lower=value - half, upper=value + half,
                             confidence=confidence, matvecs=self.matvecs - before, probes=probes,
                             method=method, std_error=se, samples=samples_np.tolist())

    def _rademacher(self, k: int, gen: torch.Generator) -> Tensor:
        z = torch.randint(0, 2, (k, self.dim), generator=gen, device=self.device)
        return (2 * z - 1).to(self.dtype)

    # -- eigenvalues -------------------------------------------------------------------------
    def top_eigenvalues(self, k: int = 1, tol: float = 1e-6, seed: int = 0, *,
                        max_steps: int | None = None, confidence: float = 0.95,
                        reorthogonalize: bool = True, certify: bool = False,
                        bound_rtol: float | None = None, check_every: int = 5) -> EigenEstimate:
        """The ``k`` largest eigenvalues by Lanczos from a random start, run until each of the
        top ``k`` Ritz pairs has residual ``<= tol * max|Ritz value|`` and, if ``bound_rtol`` is given,
        the probabilistic upper bound of lambda_max lies within ``bound_rtol * max|Ritz value|``
        of the top Ritz value (or ``max_steps`` is reached)."""
        if k < 1 or k > self.dim:
            raise CurvatureError(f"k must lie in [1, {self.dim}], got {k}")
        if not 0 < confidence < 1:
            raise CurvatureError(f"confidence must lie in (0, 1), got {confidence}")
        before = self.matvecs
        max_steps = min(self.dim, max_steps or max(300, 4 * k))
        gen = torch.Generator(device=self.device).manual_seed(seed)
        start = torch.randn(self.dim, generator=gen, device=self.device, dtype=self.dtype)

        def done(theta: np.ndarray, res: np.ndarray) -> bool:
            if len(theta) < k:
                return False
            top = np.argsort(theta)[::-1][:k]
            if not np.all(res[top] <= tol * _scale(theta)):
                return False
            if bound_rtol is None:
                return True
            upper = kw_upper_bound(theta[top[0]], theta.min(), len(theta), self.dim, confidence)
            return upper - theta[top[0]] <= bound_rtol * _scale(theta)

        lz = lanczos(self._apply_rows, start, max_steps, reorthogonalize=reorthogonalize,
                     stop=done, check_every=check_every)
        theta, S = np.linalg.eigh(lz.tridiagonal())
        order = np.argsort(theta)[::-1][:k]
        ritz = torch.as_tensor(S[:, order], dtype=self.dtype, device=self.device)
        Y = (lz.basis.T @ ritz).T                                    # (k, dim) Ritz vectors
        Y = Y / Y.norm(dim=1, keepdim=True)
        HY = self._apply_rows(Y)
        rayleigh = (Y * HY).sum(dim=1)
        residuals = (HY - rayleigh[:, None] * Y).norm(dim=1)
        values = rayleigh.double().cpu().tolist()
        res = residuals.double().cpu().tolist()
        if not all(map(math.isfinite, values + res)):
            raise CurvatureError("a Hessian product was not finite (NaN/inf in the model or loss)")
        ritz_max = max(float(theta[order[0]]), values[0])
        upper = kw_upper_bound(ritz_max, float(theta.min()), lz.steps, self.dim, confidence)
        if lz.breakdown:
            # invariant Krylov subspace: the Ritz values are eigenvalues of H, and lambda_max is
            # among them unless the Gaussian start was orthogonal to its eigenspace (probability 0)
            upper = max(float(theta[order[0]]), values[0]) + res[0]
        certified = certify_tridiagonal(lz.alpha, lz.beta) if certify else None
        converged = bool(np.all(np.array(res) <= tol * _scale(theta)))
        return EigenEstimate(values=values, residuals=res, upper_bound=upper,
                             confidence=confidence, matvecs=self.matvecs - before,
                             steps=lz.steps, converged=converged, ritz_min=float(theta.min()),
                             ritz_max=ritz_max, breakdown=bool(lz.breakdown),
                             certified_ritz=certified, vectors=Y)

    # -- density ------------------------------------------------------------------------------
    def spectral_density(self, runs: int = 10, steps: int = 80, seed: int = 0,
                         reorthogonalize: bool = True) -> SpectralDensity:
        """Stochastic Lanczos quadrature (Ubaru, Chen, Saad 2017): ``runs`` Lanczos runs of
        ``steps`` steps from Rademacher starts; nodes are Ritz values, weights the squared first
        components of the Ritz vectors."""
        if runs < 1 or steps < 2:
            raise CurvatureError("spectral_density needs runs >= 1 and steps >= 2")
        steps = min(steps, self.dim)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        before = self.matvecs
        nodes = np.zeros((runs, steps))
        weights = np.zeros((runs, steps))
        for r in range(runs):
            z = self._rademacher(1, gen)[0]
            lz = lanczos(self._apply_rows, z, steps, reorthogonalize=reorthogonalize)
            theta, S = np.linalg.eigh(lz.tridiagonal())
            m = len(theta)
            nodes[r, :m], weights[r, :m] = theta, S[0] ** 2
            if m < steps:  # breakdown: pad with zero-weight copies of the last node
                nodes[r, m:] = theta[-1]
        return SpectralDensity(nodes=nodes, weights=weights, matvecs=self.matvecs - before)


def _scale(theta: np.ndarray) -> float:
    """The residual scale of a Lanczos run: max |Ritz value|, an estimate of ||H||_2 from below
    (tolerances are relative to it, so eigenvalues near zero converge in absolute terms)."""
    return max(float(np.abs(theta).max()), 1e-30)


# --------------------------------------------------------------------------------------------
# Lanczos and its bounds
# --------------------------------------------------------------------------------------------

@dataclass
class LanczosResult:
    alpha: np.ndarray
    beta: np.ndarray            # beta[j] couples steps j and j+1; beta[-1] is the last residual
    basis: Tensor               # (steps, dim), on the operator's device
    steps: int
    breakdown: bool

    def tridiagonal(self) -> np.ndarray:
        m = self.steps
        return (np.diag(self.alpha[:m]) + np.diag(self.beta[:m - 1], 1)
                + np.diag(self.beta[:m - 1], -1))


def lanczos(apply_rows: Callable[[Tensor], Tensor], start: Tensor, steps: int, *,
            reorthogonalize: bool = True, stop: Callable[[np.ndarray, np.ndarray], bool] | None
            = None, check_every: int = 5) -> LanczosResult:
    """Symmetric Lanczos with full (twice, classical Gram-Schmidt) reorthogonalization. All
    vectors stay on the device; the host reads the coefficients only every ``check_every``
    steps, to evaluate ``stop(ritz_values, ritz_residual_estimates)``."""
    dim = start.shape[0]
    # the basis grows by doubling, so memory follows the steps taken, not the step limit
    Q = torch.zeros((min(steps, 16), dim), dtype=start.dtype, device=start.device)
    alpha = torch.zeros(steps, dtype=start.dtype, device=start.device)
    beta = torch.zeros(steps, dtype=start.dtype, device=start.device)
    q = start / start.norm()
    m, breakdown = steps, False
    for j in range(steps):
        if j == Q.shape[0]:
            grown = torch.zeros((min(steps, 2 * j), dim), dtype=Q.dtype, device=Q.device)
            grown[:j] = Q
            Q = grown
        Q[j] = q
        w = apply_rows(q[None])[0].clone()
        a = torch.dot(w, q)
        alpha[j] = a
        # in-place updates with device scalars: no host sync, no temporaries of length dim
        w.addcmul_(q, a, value=-1)
        if j > 0:
            w.addcmul_(Q[j - 1], beta[j - 1], value=-1)
        if reorthogonalize:
            # classical Gram-Schmidt against the whole basis, twice ("twice is enough"); on the
            # CPU the second pass is skipped when the first kept most of w (Daniel-Gragg-
            # Kaufman-Stewart), a host read that is free there
            before = w.norm() if not w.is_cuda else None
            w.addmv_(Q[:j + 1].T, Q[:j + 1] @ w, alpha=-1)
            if w.is_cuda or float(w.norm()) < 0.7071 * float(before):
                w.addmv_(Q[:j + 1].T, Q[:j + 1] @ w, alpha=-1)
        b = w.norm()
        beta[j] = b
        last = j == steps - 1
        if (j + 1) % check_every == 0 or last:
            al = alpha[:j + 1].double().cpu().numpy()
            be = beta[:j + 1].double().cpu().numpy()
            tiny = np.flatnonzero(be <= 1e-10 * max(float(np.abs(al).max()), 1e-300))
            if tiny.size:  # invariant subspace reached at the first tiny beta
                m, breakdown = int(tiny[0]) + 1, True
                break
            if stop is not None:
                T = np.diag(al) + np.diag(be[:-1], 1) + np.diag(be[:-1], -1)
                theta, S = np.linalg.eigh(T)
                if stop(theta, np.abs(be[-1] * S[-1])):
                    m = j + 1
                    break
        if last:
            break
        # no host sync here: a tiny b is caught at the next check, and the steps after it dropped
        q = w / torch.clamp(b, min=torch.finfo(w.dtype).tiny)
    return LanczosResult(alpha=alpha[:m].double().cpu().numpy(),
                         beta=beta[:m].double().cpu().numpy(), basis=Q[:m], steps=m,
                         breakdown=breakdown)


def kw_epsilon(steps: int, dim: int, failure: float) -> float:
    """The relative error eps with P(lambda_1 - theta_1 >= eps (lambda_1 - lambda_n)) <=
    ``failure`` after ``steps`` Lanczos steps from a uniformly random start
    (Kuczynski-Wozniakowski 1992, Theorem 4.2: bound 1.648 sqrt(n) exp(-sqrt(eps)(2q - 1)) with
    q = steps - 1 matrix-vector products beyond the start, a conservative reading)."""
    q = steps - 1
    if q < 1:
        return math.inf
    root = math.log(1.648 * math.sqrt(dim) / failure) / (2 * q - 1)
    return max(root, 0.0) ** 2


def kw_upper_bound(theta_max: float, theta_min: float, steps: int, dim: int,
                   confidence: float) -> float:
    """An upper bound of lambda_max holding with probability >= ``confidence``.

    With eps = :func:`kw_epsilon` at failure (1 - confidence)/2, applied to H (top) and -H
    (bottom, same Krylov space): lambda_1 <= theta_max + eps S and lambda_n >= theta_min - eps S
    with S = lambda_1 - lambda_n, so S <= (theta_max - theta_min)/(1 - 2 eps) and
    lambda_1 <= theta_max + eps (theta_max - theta_min)/(1 - 2 eps). ``inf`` if eps >= 1/2.
    """
    eps = kw_epsilon(steps, dim, (1 - confidence) / 2)
    if not eps < 0.5:
        return math.inf
    return theta_max + eps * max(theta_max - theta_min, 0.0) / (1 - 2 * eps)


def certify_tridiagonal(alpha: np.ndarray, beta: np.ndarray) -> list[tuple[float, float]]:
    """Rigorous enclosures (python-flint balls) of the eigenvalues of the Lanczos tridiagonal
    matrix, as (lower, upper) pairs sorted descending. They bound the Ritz values exactly; how
    the Ritz values relate to H is stated by the residuals."""
    import flint

    m = len(alpha)
    T = flint.arb_mat(m, m)
    for i in range(m):
        T[i, i] = flint.arb(float(alpha[i]))
        if i + 1 < m:
            T[i, i + 1] = T[i + 1, i] = flint.arb(float(beta[i]))
    eig = flint.acb_mat(T).eig()
    out = []
    for z in eig:
        # float() of a ball endpoint rounds to nearest: step one ulp outward to keep enclosing
        lo = math.nextafter(float(z.real.lower()), -math.inf)
        hi = math.nextafter(float(z.real.upper()), math.inf)
        out.append((lo, hi))
    return sorted(out, key=lambda p: -p[1])


# --------------------------------------------------------------------------------------------
# Wen, Li and Ma's trace identity
# --------------------------------------------------------------------------------------------

@dataclass
class IdentityTrace:
    """tr(H) by Wen et al.'s identity, valid exactly at interpolating points."""

    value: float
    max_residual: float
    per_example: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "max_residual": self.max_residual}


def mse_trace_identity(model: torch.nn.Module, inputs: Tensor, targets: Tensor, *,
                       scale: float = 1.0, chunk_size: int | None = None) -> IdentityTrace:
    """Wen, Li and Ma (2023), Lemma 4.1: for L = (scale/n) sum_i ||f(x_i) - y_i||^2 at a point
    that interpolates (f(x_i) = y_i), tr(Hess L) = (2 scale/n) sum_i ||grad_theta f(x_i)||_F^2.

    The identity's hypothesis is reported as ``max_residual`` = max_i ||f(x_i) - y_i||_inf:
    away from interpolation the value is the trace of the Gauss-Newton part only.
    """
    refuse_pitfalls(model)
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    fixed = {n: p.detach() for n, p in model.named_parameters() if n not in params}
    fixed.update(dict(model.named_buffers()))

    def out(p: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(model, {**fixed, **p}, (x[None],))[0]

    from torch.func import jacrev

    jac = vmap(jacrev(out), in_dims=(None, 0), chunk_size=chunk_size)(params, inputs)
    per = sum(j.reshape(j.shape[0], -1).pow(2).sum(dim=1) for j in jac.values())
    with torch.no_grad():
        pred = model(inputs)
        residual = float((pred - targets.reshape(pred.shape)).abs().max())
    n = inputs.shape[0]
    value = float(2 * scale / n * per.sum())
    return IdentityTrace(value=value, max_residual=residual,
                         per_example=per.detach().double().cpu().numpy())
