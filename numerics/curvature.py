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
  the graph of the gradient is built once (timed apart, ``stats["graph_s"]``) and reused for
  every product, by copies of the operator (``-op``, :meth:`HessianOperator.using`) too.
* ``"forward"``: forward-over-reverse (``torch.func.jvp`` of ``torch.func.grad``), ``vmap``-ped
  over a block of vectors.
* ``"auto"`` (default): ``"reverse"``, falling back to ``"forward"`` if an operator of the model
  has no batching rule for the double backward (``fallback_reason`` says which).
* ``"finite-difference"``: central differences of gradients (oracle for tests only).

Blocks of vectors are cut to ``block_size`` vectors per call. By default the size starts at 1
(single products) and larger blocks are tried on the real work only while the trial costs at most
a tenth of the products already done (:class:`BlockTuner`); the choice is cached per model shape,
device and dtype. On a CPU a batched double backward rarely beats single products per vector, so
the trials end at the first size that is not 10% faster. Out-of-memory halves the block.

Error statements: :meth:`HessianOperator.trace` gives a Student-t confidence interval over the
i.i.d. probe values (asymptotic in the number of probes; with Welch-Satterthwaite degrees of
freedom for the stratified estimator); :meth:`HessianOperator.top_eigenvalues`
gives Ritz residual norms (each Rayleigh value lies within its residual of an eigenvalue, a
rigorous statement up to floating-point error in the products), the Rayleigh quotient as a lower
bound of lambda_max, and an upper bound valid with a stated probability from Kuczynski and
Wozniakowski (SIAM J. Matrix Anal. Appl. 13(4), 1992, Theorem 4.2: random-start Lanczos);
:meth:`HessianOperator.spectral_density` states its runs, steps and smoothing width.
"""

from __future__ import annotations

import copy
import heapq
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from scipy import stats
from torch.func import functional_call, grad, jvp, vmap

Tensor = torch.Tensor
HVP_METHODS = ("auto", "reverse", "forward", "finite-difference")
TRACE_METHODS = ("hutchinson", "hutch++", "stratified")
_EXACT_BLOCK = 8  # stratified trace: parameter blocks this small are traced exactly


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
    """A Hutchinson, Hutch++ or stratified estimate of tr(H) with a confidence interval.

    ``lower``/``upper`` is a Student-t interval of level ``confidence`` over the i.i.d. probe
    values (the random part of the estimator; Hutch++'s projected part and the exactly traced
    blocks of the stratified estimator are exact), with ``df`` degrees of freedom; ``interval``
    states the assumption. ``strata`` (stratified only) lists each parameter block's name, size,
    number of probes, mean and standard deviation of its probe values.
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
    df: float = math.inf
    strata: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def relative_std_error(self) -> float:
        """``std_error / |value|`` (``inf`` for a zero value with a positive error)."""
        if self.std_error == 0:
            return 0.0
        return self.std_error / abs(self.value) if self.value else math.inf

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("value", "lower", "upper", "confidence", "matvecs",
                                             "probes", "method", "std_error", "interval")}
        out["df"] = self.df if math.isfinite(self.df) else None  # strict JSON has no inf
        return out


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
# block size
# --------------------------------------------------------------------------------------------

# block-size tuners by model shape, data shape, device, dtype and product method (see
# HessianOperator._tuning_key): operators on the same model share one, so a second operator
# continues the first one's search or starts from its result
_TUNERS: dict[tuple, "BlockTuner"] = {}
# a CPU product slower than this is compute-bound: blocks are not tried (see BlockTuner)
_CPU_COMPUTE_BOUND_S = 0.05


def _candidate_block_sizes(device: torch.device, dim: int, dtype: torch.dtype) -> tuple[int, ...]:
    """Block sizes a tuner may try: 1, 4, 16, 64 (CUDA: and 256), each block of vectors at
    most 256 MiB on a CPU and an eighth of the free memory on CUDA."""
    sizes = (1, 4, 16, 64, 256) if device.type == "cuda" else (1, 4, 16, 64)
    if device.type == "cuda":
        cap = torch.cuda.mem_get_info(device)[0] // 8
    else:
        cap = 256 * 2 ** 20
    row = dim * torch.empty((), dtype=dtype).element_size()
    return tuple(b for b in sizes if b == 1 or b * row <= cap)


class BlockTuner:
    """Chooses the number of vectors per batched product on the real work, at a bounded cost.

    Single products come first. Larger sizes are tried in increasing order, each on three
    calls, but only while the vectors spent in trials, this one included, stay within
    ``budget`` times all vectors multiplied so far: trials are real work and never more than
    that fraction of it, amortized across calls (and across operators sharing the tuner). A
    size is kept when its median time per vector is 10% below the median of the best size's
    last nine calls (medians, because a loaded machine stalls single calls); the search ends at
    the first size that is not, or at the last size. With ``compute_bound_s`` (CPUs) it also
    ends, at single products, once their median time exceeds it: a block saves per-call
    overhead (milliseconds) and no arithmetic on a CPU, so it cannot win 10% of a product that
    takes longer.

    Parameters
    ----------
    sizes
        Increasing candidate sizes, starting at 1.
    budget
        Largest fraction of the vectors that may go to trials.
    key
        The tuning key (see ``HessianOperator._tuning_key``).
    compute_bound_s
        Single-product time beyond which blocks are not tried (None: always tried).
    """

    TRIAL_CALLS = 3

    def __init__(self, sizes: Iterable[int], budget: float = 0.1, key: Any = None,
                 compute_bound_s: float | None = None):
        self.sizes, self.budget, self.key = tuple(sizes), budget, key
        self.compute_bound_s = compute_bound_s
        if not self.sizes or self.sizes[0] != 1:
            raise CurvatureError(f"block sizes must start at 1, got {self.sizes}")
        self.best = 1
        self.per_vector: dict[int, list[float]] = {}
        self.vectors = 0
        self.trial_vectors = 0
        self._next = 1
        self.done = len(self.sizes) == 1

    def _trial(self) -> int | None:
        if self.done:
            return None
        b = self.sizes[self._next]
        return b if self.trial_vectors + b <= self.budget * self.vectors else None

    def wanted(self) -> int:
        """The size the next call should have: a trial size when one is due, else the best."""
        return self._trial() or self.best

    def size_for(self, remaining: int) -> int:
        """The size of the next call with ``remaining`` vectors left to multiply."""
        b = self._trial()
        return b if b is not None and b <= remaining else min(self.best, remaining)

    def record(self, size: int, seconds: float) -> bool:
        """Account a call of ``size`` vectors that took ``seconds``; True if it was a trial."""
        self.vectors += size
        times = self.per_vector.setdefault(size, [])
        times.append(seconds / size)
        del times[:-16]
        trial = not self.done and size == self.sizes[self._next]
        if not trial:
            if (size == 1 and not self.done and self.compute_bound_s is not None
                    and len(times) >= self.TRIAL_CALLS
                    and statistics.median(times) > self.compute_bound_s):
                self.done = True   # best stays 1
            return False
        self.trial_vectors += size
        if len(times) >= self.TRIAL_CALLS:
            if statistics.median(times) < 0.9 * statistics.median(self.per_vector[self.best][-9:]):
                self.best = size
                self._next += 1
                self.done = self._next == len(self.sizes)
            else:
                self.done = True
        return True


# --------------------------------------------------------------------------------------------
# the operator
# --------------------------------------------------------------------------------------------

class HessianOperator:
    """The Hessian of a model's loss over data, as a symmetric linear operator.

    :class:`GGNOperator` and :class:`EmpiricalFisherOperator` are the same operator with
    another product (every method below applies to them); :meth:`restricted` gives the
    diagonal block of a group of parameters, :meth:`as_linear_operator` a SciPy
    ``LinearOperator``.

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
        Vectors per batched call; by default chosen by a :class:`BlockTuner` on the real work
        (single products first; see the module docstring).

    Attributes
    ----------
    stats
        Seconds spent building the gradient graph (``graph_s``), in products (``product_s``,
        ``products``) and, of those, in block-size trials (``tuning_s``, ``tuning_products``).
    """

    #: what the operator is (reports and error messages)
    name = "Hessian"

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor],
                 data: Any, *, params: Iterable[str] | None = None, hvp: str = "auto",
                 block_size: int | None = None):
        if not isinstance(model, torch.nn.Module):
            raise CurvatureError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if hvp not in HVP_METHODS:
            raise CurvatureError(f"hvp must be one of {HVP_METHODS}, got {hvp!r}")
        refuse_pitfalls(model)
        self.model, self.loss_fn, self.hvp_method = model, loss_fn, hvp
        self.data = data
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
        if block_size is not None and (not isinstance(block_size, int) or block_size < 1):
            raise CurvatureError(f"block_size must be a positive integer, got {block_size!r}")
        self.block_size = block_size
        self._tuner: BlockTuner | None = None
        if block_size is None:
            key = self._tuning_key()
            if key not in _TUNERS:
                _TUNERS[key] = BlockTuner(
                    _candidate_block_sizes(self.device, self.dim, self.dtype), key=key,
                    compute_bound_s=_CPU_COMPUTE_BOUND_S if self.device.type == "cpu" else None)
            self._tuner = _TUNERS[key]
            if self._tuner.done:
                self.block_size = self._tuner.best
        self._sign = 1
        self.matvecs = 0
        # shared (not copied) by -op and using(): one gradient graph, one set of timings
        self._cache: dict[str, Any] = {"graph": None}
        self.stats: dict[str, float] = {"graph_s": 0.0, "product_s": 0.0, "products": 0,
                                        "tuning_s": 0.0, "tuning_products": 0}
        self._reverse_batched_ok = True
        self.fallback_reason: str | None = None

    def _tuning_key(self) -> tuple:
        """What a tuned block size depends on: model class and parameter shapes, data shapes,
        device, dtype and product method."""
        inputs = self._batches[0][0] if self._single else None
        return (type(self).__name__, type(self.model).__qualname__,
                tuple(tuple(s) for s in self.shapes),
                tuple(inputs.shape) if inputs is not None else None, self.num_batches,
                str(self.device), self.dtype, self.hvp_method)

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
        # one reduction decides for finite vectors; the entrywise test only confirms (a sum
        # of huge finite entries can overflow)
        if not torch.isfinite(v.sum()) and not torch.isfinite(v).all():
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

    def _apply_rows(self, rows: Tensor, out: Tensor | None = None) -> Tensor:
        """H (or -H) applied to the rows of a (k, dim) block; written into ``out`` if given."""
        res = self._products(rows, out=out)
        if self._sign > 0:
            return res
        return res.neg_() if out is not None else -res

    def _quadratic_forms(self, rows: Tensor) -> Tensor:
        """(z_i^T H z_i) for the rows z_i of a (k, dim) block (reverse products never build
        the flat H z_i: the forms are summed parameter by parameter)."""
        res = self._products(rows, quadratic=True)
        return res if self._sign > 0 else -res

    def _kernel(self) -> Callable[..., Tensor]:
        if self.hvp_method == "forward" or (self.hvp_method == "auto"
                                            and not self._reverse_batched_ok):
            return self._hvp_forward
        return self._hvp_reverse

    def _products(self, rows: Tensor, *, quadratic: bool = False,
                  out: Tensor | None = None) -> Tensor:
        k = rows.shape[0]
        self.matvecs += k
        if self.hvp_method == "finite-difference":
            res = torch.stack([self._hvp_fd(r) for r in rows])
            if quadratic:
                return _rowwise_dot(rows, res)
            return res if out is None else out.copy_(res)
        kernel = self._kernel()
        if kernel == self._hvp_reverse and self._single and self._cache["graph"] is None:
            t0 = self._clock()
            self._cache["graph"] = self._grad_graph(*self._batches[0])
            self.stats["graph_s"] += self._clock() - t0
        if out is None and not quadratic and k > 1 and kernel == self._hvp_reverse:
            # one result block, each call writing its rows in place: no concatenation (a second
            # copy of the block, on fresh pages) after the products
            out = rows.new_empty((k, self.dim))
        parts, start = [], 0
        while start < k:
            tuner = self._tuner if self.block_size is None else None
            size = tuner.size_for(k - start) if tuner else min(self.block_size, k - start)
            block = rows[start:start + size]
            try:
                t0 = self._clock(sync=tuner is not None)
                if kernel == self._hvp_reverse:
                    parts.append(kernel(block, quadratic=quadratic,
                                        out=None if out is None else out[start:start + size]))
                else:
                    hv = kernel(block)
                    parts.append(_rowwise_dot(block, hv) if quadratic else hv)
                seconds = self._clock(sync=tuner is not None) - t0
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                self.block_size = max(1, size // 2)
                torch.cuda.empty_cache()
                continue
            except RuntimeError as exc:
                # an operator without a batching rule for the double backward: fall back once
                if self.hvp_method != "auto" or kernel != self._hvp_reverse or size == 1:
                    raise
                self._reverse_batched_ok, kernel = False, self._hvp_forward
                self.fallback_reason = str(exc).splitlines()[0]
                continue
            start += size
            self.stats["product_s"] += seconds
            self.stats["products"] += size
            if tuner is not None:
                if tuner.record(size, seconds):
                    self.stats["tuning_s"] += seconds
                    self.stats["tuning_products"] += size
                if tuner.done:
                    self.block_size = tuner.best
        if out is not None and not quadratic:
            for i, part in enumerate(parts):  # kernels that ignore ``out``
                dst = out[sum(p.shape[0] for p in parts[:i]):][:part.shape[0]]
                if part.data_ptr() != dst.data_ptr():
                    dst.copy_(part)
            return out
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def preferred_rows(self) -> int:
        """How many vectors a caller that generates its own (e.g. probes) should pass per call:
        the block size, or the next trial size while the tuner may still try one."""
        if self.block_size is not None:
            return self.block_size
        return self._tuner.wanted()

    def _clock(self, sync: bool = True) -> float:
        if sync and self.device.type == "cuda":
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

    def _hvp_reverse(self, rows: Tensor, *, quadratic: bool = False,
                     out: Tensor | None = None) -> Tensor:
        """H applied to a (k, dim) block by one double backward per data batch (batched with
        ``is_grads_batched`` when k > 1), reusing the gradient graph when there is one batch;
        with ``quadratic`` the (k,) forms z^T H z, reduced parameter by parameter."""
        k = rows.shape[0]
        if k == 1:
            vs = [t.view(s) for t, s in zip(torch.split(rows[0], self.sizes), self.shapes)]
        else:
            vs = [t.reshape(k, *s) for t, s in zip(torch.split(rows, self.sizes, dim=1),
                                                     self.shapes)]
        total = None
        batches = [(1.0, None, None)] if self._single else self._weighted_batches()
        for w, x, y in batches:
            leaves, grads = self._cache["graph"] if self._single else self._grad_graph(x, y)
            hv = torch.autograd.grad(grads, leaves, grad_outputs=vs, retain_graph=self._single,
                                     allow_unused=True, is_grads_batched=k > 1)
            if quadratic:
                used = [(h, v) for h, v in zip(hv, vs) if h is not None]
                if k == 1:
                    part = torch.stack([torch.dot(h.reshape(-1), v.reshape(-1))
                                        for h, v in used]).sum().reshape(1)
                else:
                    part = sum(_rowwise_dot(h.reshape(k, -1), v.reshape(k, -1))
                               for h, v in used)
                if not used:
                    part = rows.new_zeros(k)
            else:
                pieces = [(h if h is not None else torch.zeros_like(v)).reshape(k, -1)
                          for h, v in zip(hv, vs)]
                if self._single:  # weight 1
                    return torch.cat(pieces, dim=1, out=out) if out is not None else \
                        torch.cat(pieces, dim=1)
                part = torch.cat(pieces, dim=1)
            if self._single:
                return part
            total = part.mul_(w) if total is None else total.add_(part, alpha=w)
        if out is not None:
            return out.copy_(total)
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

    def loss_at(self, shift: Tensor | None = None) -> float:
        """L at the current parameters moved by the flat vector ``shift`` (no gradient)."""
        params = self.params
        if shift is not None:
            params = {n: p + d for (n, p), d in zip(self.params.items(),
                                                    self.to_dict(self._check_flat(shift)).values())}
        with torch.no_grad():
            return float(sum(w * self._loss(params, x, y)
                             for w, x, y in self._weighted_batches()))

    # -- views ------------------------------------------------------------------------------
    def restricted(self, names: Iterable[str]) -> "HessianOperator":
        """The same kind of operator on the parameters ``names`` only, the others held fixed:
        the diagonal block of those parameters (for a layer's weight and bias, the layer's
        block, whose trace and top eigenvalue are the per-layer numbers of PyHessian)."""
        return type(self)(self.model, self.loss_fn, self.data, params=list(names),
                          **self._restricted_options())

    def _restricted_options(self) -> dict[str, Any]:
        return {"hvp": self.hvp_method}

    def as_linear_operator(self) -> "Any":
        """The operator as a ``scipy.sparse.linalg.LinearOperator`` of shape (dim, dim) on
        NumPy vectors and (dim, k) blocks (symmetric: ``rmatvec`` is ``matvec``), e.g. for
        ``scipy.sparse.linalg.eigsh`` or ``cg``. Products run in the model's dtype and device;
        results come back as NumPy arrays of that precision."""
        from scipy.sparse.linalg import LinearOperator

        np_dtype = np.float64 if self.dtype == torch.float64 else np.float32

        def apply(x: np.ndarray) -> np.ndarray:
            t = torch.as_tensor(np.ascontiguousarray(x), dtype=self.dtype, device=self.device)
            return (self @ t).detach().cpu().numpy().astype(np_dtype, copy=False)

        def matvec(x: np.ndarray) -> np.ndarray:
            return apply(np.asarray(x).reshape(-1))

        return LinearOperator((self.dim, self.dim), matvec=matvec, rmatvec=matvec,
                              matmat=apply, rmatmat=apply, dtype=np_dtype)

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
              confidence: float = 0.95, *, rtol: float | None = None,
              min_probes: int = 20, pilot: int = 2) -> TraceEstimate:
        """Estimate tr(H) from at most ``probes`` products, with a confidence interval.

        Parameters
        ----------
        probes
            Products to use; with ``rtol``, the most to use.
        method
            ``"hutchinson"``: mean of z^T H z over Rademacher probes z.
            ``"hutch++"``: Meyer, Musco, Musco and Woodruff (2021): a third of the products
            sketch a subspace Q whose trace tr(Q^T H Q) is exact, the rest are Hutchinson probes
            projected off Q (pays when a few eigenvalues carry most of ||H||_F).
            ``"stratified"``: the parameter blocks (one per tensor) are strata: tr(H) =
            sum_l tr(H_ll), each estimated from probes supported on block l, so the cross-block
            entries of H, which add variance to Hutchinson and nothing to the trace, drop out;
            blocks of at most 8 entries are traced exactly with unit vectors; ``pilot`` probes per
            block, then Neyman allocation (probes where the estimated standard deviation is
            largest) in rounds that at most double the products. A block's variance is the
            larger of the sample variance of its probe values and an unbiased estimate that
            averages over its entries, 2 (||H_ll||_F^2 - sum_i H_ii^2) from ||H_ll z||^2 and
            pairs of probes (conservative; the same estimate steers the allocation, so a block
            whose few values happen to agree is not starved). Pays when the cross-block
            entries carry much of ||H||_F, as for networks whose output is linear in each layer's
            parameters (ReLU networks), where the within-layer blocks of the residual term
            sum_c (dloss/df_c) Hess f_c vanish.
        seed
            Seeds the probes (drawn vector by vector, so the probes do not depend on how the
            products are blocked).
        confidence
            Level of the Student-t interval over the i.i.d. probe values (the stratified
            estimator: Welch-Satterthwaite degrees of freedom over the independent blocks); the
            interval is asymptotic in the number of probes.
        rtol
            Stop as soon as the estimated standard error is at most ``rtol * |estimate|``
            (Hutchinson: checked after each probe from ``min_probes`` on; stratified: after each
            allocation round, once the interval has ``min_probes - 1`` degrees of freedom). The
            interval then ignores the stopping rule, which is valid asymptotically (Chow and
            Robbins 1965), not exactly; ``min_probes`` keeps a stop from resting on a variance
            estimated from a handful of values.
        pilot
            Stratified: probes per parameter block before the allocation (at least 2).
        """
        if method not in TRACE_METHODS:
            raise CurvatureError(f"method must be one of {TRACE_METHODS}, got {method!r}")
        if not 0 < confidence < 1:
            raise CurvatureError(f"confidence must lie in (0, 1), got {confidence}")
        if rtol is not None and not rtol > 0:
            raise CurvatureError(f"rtol must be positive, got {rtol}")
        if rtol is not None and method == "hutch++":
            raise CurvatureError("rtol (adaptive stopping) is available for 'hutchinson' and "
                                 "'stratified', not 'hutch++'")
        gen = torch.Generator(device=self.device).manual_seed(seed)
        before = self.matvecs
        if method == "stratified":
            return self._trace_stratified(probes, gen, confidence, rtol, pilot, before,
                                          max(2, min_probes) - 1)
        exact = 0.0
        if method == "hutchinson":
            if probes < 2:
                raise CurvatureError("Hutchinson needs at least 2 probes for an interval")
            samples_np = self._hutchinson_samples(probes, gen, rtol, max(2, min_probes))
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
            samples_np = (G * self._apply_rows(G)).sum(dim=1).detach().double().cpu().numpy()
        if not np.all(np.isfinite(samples_np)):
            raise CurvatureError("a Hessian product was not finite (NaN/inf in the model or loss)")
        n = len(samples_np)
        mean = float(samples_np.mean())
        se = float(samples_np.std(ddof=1) / math.sqrt(n))
        half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * se
        value = exact + mean
        interval = TraceEstimate.interval
        if rtol is not None:
            interval += f"; stopped at standard error <= {rtol:g} |estimate| (asymptotic)"
        return TraceEstimate(value=value, lower=value - half, upper=value + half,
                             confidence=confidence, matvecs=self.matvecs - before,
                             probes=n if method == "hutchinson" else probes, method=method,
                             std_error=se, samples=samples_np.tolist(), interval=interval,
                             df=n - 1)

    def _hutchinson_samples(self, probes: int, gen: torch.Generator, rtol: float | None,
                            min_probes: int) -> np.ndarray:
        """z^T H z for up to ``probes`` Rademacher probes, generated and multiplied in blocks
        (never all in memory); with ``rtol``, cut at the first probe count >= ``min_probes``
        where the standard error is within ``rtol`` of the mean (a function of the probe values
        only, not of the blocking)."""
        values = np.empty(0)
        buffer = None   # reused: a fresh block of probes pays page faults on every touch
        while len(values) < probes:
            c = min(self.preferred_rows(), probes - len(values))
            if buffer is None or buffer.shape[0] != c:
                buffer = torch.empty((c, self.dim), device=self.device, dtype=self.dtype)
            Z = self._rademacher(c, gen, out=buffer)
            new = self._quadratic_forms(Z).detach().double().cpu().numpy()
            first = len(values)
            values = np.concatenate([values, new])
            if rtol is not None and len(values) >= min_probes:
                n = np.arange(1, len(values) + 1)
                shifted = values - values[0]   # running moments without cancellation
                mean_s = np.cumsum(shifted) / n
                var = np.maximum(np.cumsum(shifted ** 2) / n - mean_s ** 2, 0.0) * n \
                    / np.maximum(n - 1, 1)
                mean = mean_s + values[0]
                ok = np.flatnonzero((n >= min_probes) & (n > first)
                                    & (np.sqrt(var / n) <= rtol * np.abs(mean)))
                if ok.size:
                    return values[:ok[0] + 1]
        return values

    def _trace_stratified(self, probes: int, gen: torch.Generator, confidence: float,
                          rtol: float | None, pilot: int, before: int,
                          min_df: int) -> TraceEstimate:
        if pilot < 2:
            raise CurvatureError(f"pilot must be at least 2 (a variance per block), got {pilot}")
        offsets = np.cumsum([0] + self.sizes)
        exact_blocks = [b for b, d in enumerate(self.sizes) if d <= _EXACT_BLOCK]
        blocks = [b for b, d in enumerate(self.sizes) if d > _EXACT_BLOCK]
        need = sum(self.sizes[b] for b in exact_blocks) + pilot * len(blocks)
        if probes < need:
            raise CurvatureError(
                f"the stratified trace needs at least {need} probes here ({pilot} per parameter "
                f"block for {len(blocks)} blocks, plus unit vectors for blocks of at most "
                f"{_EXACT_BLOCK} entries), got {probes}; use method='hutchinson'")
        exact = 0.0
        if exact_blocks:
            idx = torch.cat([torch.arange(int(offsets[b]), int(offsets[b + 1]))
                             for b in exact_blocks]).to(self.device)
            for part in idx.split(max(1, self.preferred_rows())):
                E = torch.zeros((len(part), self.dim), device=self.device, dtype=self.dtype)
                E[torch.arange(len(part)), part] = 1
                exact += float(self._apply_rows(E)[torch.arange(len(part)), part].double().sum())
        values: dict[int, list[float]] = {b: [] for b in blocks}
        # for the allocation, a variance estimate that averages over a block's entries:
        # Var(z^T A z) = 2 (||A||_F^2 - sum_i A_ii^2) with E||A z||^2 = ||A||_F^2 and, for
        # independent z, z', E[(z o Az)_i (z' o Az')_i] = A_ii^2
        frob = {b: 0.0 for b in blocks}
        wsum = {b: torch.zeros(self.sizes[b], device=self.device, dtype=torch.float64)
                for b in blocks}
        wsq = {b: 0.0 for b in blocks}

        def draw(order: list[int]) -> None:
            start = 0
            while start < len(order):
                part = order[start:start + max(1, self.preferred_rows())]
                Z = torch.zeros((len(part), self.dim), device=self.device, dtype=self.dtype)
                for i, b in enumerate(part):
                    Z[i, offsets[b]:offsets[b + 1]] = self._rademacher(1, gen, self.sizes[b])[0]
                HZ = self._apply_rows(Z)
                stats_ = []
                for i, b in enumerate(part):
                    z = Z[i, offsets[b]:offsets[b + 1]].double()
                    u = HZ[i, offsets[b]:offsets[b + 1]].double()
                    w = z * u
                    wsum[b] += w
                    stats_.append(torch.stack([z @ u, u @ u, w @ w]))
                for b, (q, f, ww) in zip(part, torch.stack(stats_).cpu().tolist()):
                    values[b].append(q)
                    frob[b] += f
                    wsq[b] += ww
                start += len(part)

        def allocation_variance() -> np.ndarray:
            out = []
            for b in blocks:
                n = len(values[b])
                diag = (float(wsum[b] @ wsum[b]) - wsq[b]) / (n * (n - 1))
                out.append(max(2 * (frob[b] / n - diag), 0.0))
            return np.array(out)

        def summary() -> tuple[float, float, float, np.ndarray, np.ndarray]:
            n = np.array([len(values[b]) for b in blocks], dtype=float)
            mean = np.array([np.mean(values[b]) for b in blocks])
            var = np.array([np.var(values[b], ddof=1) for b in blocks])
            if not np.all(np.isfinite(mean)) or not np.all(np.isfinite(var)):
                raise CurvatureError("a Hessian product was not finite (NaN/inf in the model "
                                     "or loss)")
            v = np.maximum(var, allocation_variance()) / n
            total = float(v.sum())
            df = total ** 2 / float((v ** 2 / (n - 1)).sum()) if total > 0 else math.inf
            return exact + float(mean.sum()), math.sqrt(total), df, n, var

        draw([b for b in blocks for _ in range(pilot)])
        used = need
        while blocks:
            value, se, df, n, var = summary()
            tight = rtol is not None and se <= rtol * abs(value)
            if tight and df >= min_df:
                break
            sampled = int(n.sum())
            remaining = probes - used
            if remaining <= 0 or not var.any():
                break
            alloc = allocation_variance()
            sd = np.sqrt(alloc)
            round_size = min(remaining, sampled)           # at most doubles the probes
            if tight:  # tight enough, but on too few degrees of freedom: a quarter more
                round_size = max(1, min(round_size, sampled // 4))
            elif rtol is not None and value != 0:
                # Neyman allocation: variance (sum_l sd_l)^2 / N over N block probes
                target = math.ceil((sd.sum() / (rtol * abs(value))) ** 2)
                round_size = max(1, min(round_size, target - sampled))
            # greedy Neyman: each probe where it removes the most variance (estimated over the
            # block's entries, so a block whose few probe values happen to agree is not
            # starved); a floor of 1% of the largest standard deviation keeps every block
            # sampled as the probes grow
            weight = np.maximum(alloc, (0.01 * sd.max()) ** 2)
            counts = n.copy()
            heap = [(-weight[i] / (counts[i] * (counts[i] + 1)), i) for i in range(len(blocks))]
            heapq.heapify(heap)
            order = []
            for _ in range(round_size):
                _, i = heapq.heappop(heap)
                order.append(blocks[i])
                counts[i] += 1
                heapq.heappush(heap, (-weight[i] / (counts[i] * (counts[i] + 1)), i))
            draw(sorted(order))
            used += round_size
        if blocks:
            value, se, df, n, var = summary()
        else:
            value, se, df, n, var = exact, 0.0, math.inf, np.zeros(0), np.zeros(0)
        half = float(stats.t.ppf((1 + confidence) / 2, df)) * se if se > 0 else 0.0
        strata = [{"name": self.names[b], "size": self.sizes[b], "probes": len(values[b]),
                   "mean": float(np.mean(values[b])), "std": float(math.sqrt(var[i]))}
                  for i, b in enumerate(blocks)]
        strata += [{"name": self.names[b], "size": self.sizes[b], "probes": self.sizes[b],
                    "exact": True} for b in exact_blocks]
        interval = ("Student-t with Welch-Satterthwaite degrees of freedom over independent "
                    "per-block i.i.d. probe values, each block's variance the larger of two "
                    "estimates (asymptotic; allocation by the same samples)")
        if rtol is not None:
            interval += f"; stopped at standard error <= {rtol:g} |estimate|"
        return TraceEstimate(value=value, lower=value - half, upper=value + half,
                             confidence=confidence, matvecs=self.matvecs - before, probes=used,
                             method="stratified", std_error=se,
                             samples=[q for b in blocks for q in values[b]], interval=interval,
                             df=df, strata=strata)

    def _rademacher(self, k: int, gen: torch.Generator, size: int | None = None,
                    out: Tensor | None = None) -> Tensor:
        """``k`` rows of ``size`` (default ``dim``) i.i.d. signs, drawn row by row so that a
        stream of rows does not depend on how it is cut into blocks. Each sign is one bit of a
        uniform random byte (eight signs per draw of the generator)."""
        n = self.dim if size is None else size
        if out is None:
            out = torch.empty((k, n), device=self.device, dtype=self.dtype)
        shifts = torch.arange(8, dtype=torch.uint8, device=self.device)
        for row in out:
            octets = torch.randint(0, 256, ((n + 7) // 8,), dtype=torch.uint8, generator=gen,
                                   device=self.device)
            row.copy_(((octets[:, None] >> shifts) & 1).reshape(-1)[:n])
        return out.mul_(2).sub_(1)

    # -- eigenvalues -------------------------------------------------------------------------
    def top_eigenvalues(self, k: int = 1, tol: float = 1e-6, seed: int = 0, *,
                        max_steps: int | None = None, confidence: float = 0.95,
                        reorthogonalize: bool | str = True, certify: bool = False,
                        bound_rtol: float | None = None,
                        check_every: int | None = None) -> EigenEstimate:
        """The ``k`` largest eigenvalues by Lanczos from a random start, run until each of the
        top ``k`` Ritz pairs has residual ``<= tol * max|Ritz value|`` and, if ``bound_rtol`` is given,
        the probabilistic upper bound of lambda_max lies within ``bound_rtol * max|Ritz value|``
        of the top Ritz value (or ``max_steps`` is reached). The stopping test reads the
        coefficients on the host every ``check_every`` steps (default: every step on a CPU,
        where that read costs nothing, every 5 on CUDA, where it waits for the device).
        ``reorthogonalize`` is passed to :func:`lanczos`; the reported values and residuals
        come from fresh products with the normalized Ritz vectors whatever it is. The Lanczos
        vectors are kept between calls (``_cache["lanczos_blocks"]``) so that repeated calls
        write into memory already mapped."""
        if k < 1 or k > self.dim:
            raise CurvatureError(f"k must lie in [1, {self.dim}], got {k}")
        if not 0 < confidence < 1:
            raise CurvatureError(f"confidence must lie in (0, 1), got {confidence}")
        if check_every is None:
            check_every = 5 if self.device.type == "cuda" else 1
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
                     stop=done, check_every=check_every, product_into=True,
                     workspace=self._cache.setdefault("lanczos_blocks", []))
        theta, S = lz.ritz()
        order = np.argsort(theta)[::-1][:k]
        ritz = torch.as_tensor(S[:, order], dtype=self.dtype, device=self.device)
        Y = lz.ritz_vectors(ritz)                                    # (k, dim) Ritz vectors
        Y = Y / accurate_norm(Y).to(Y.dtype)[:, None]
        HY = self._apply_rows(Y)
        rayleigh = (Y * HY).sum(dim=1)
        residuals = accurate_norm(HY - rayleigh[:, None] * Y)
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
                         reorthogonalize: bool | str = True) -> SpectralDensity:
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
            lz = lanczos(self._apply_rows, z, steps, reorthogonalize=reorthogonalize,
                         product_into=True,
                         workspace=self._cache.setdefault("lanczos_blocks", []))
            theta, S = lz.ritz()
            m = len(theta)
            nodes[r, :m], weights[r, :m] = theta, S[0] ** 2
            if m < steps:  # breakdown: pad with zero-weight copies of the last node
                nodes[r, m:] = theta[-1]
        return SpectralDensity(nodes=nodes, weights=weights, matvecs=self.matvecs - before)


class _OtherCurvature(HessianOperator):
    """An operator of the Hessian's family with a product of its own (``_curvature_rows``,
    H replaced by it in every method); it has no choice of product (``hvp``)."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor],
                 data: Any, *, params: Iterable[str] | None = None,
                 block_size: int | None = None):
        super().__init__(model, loss_fn, data, params=params, hvp="auto",
                         block_size=block_size)

    def _restricted_options(self) -> dict[str, Any]:
        return {}

    def using(self, hvp: str) -> "HessianOperator":
        raise CurvatureError(f"the {self.name} operator has one product; 'using' picks a "
                             "product of the Hessian")

    def _kernel(self) -> Callable[..., Tensor]:
        return self._curvature_rows

    def _curvature_rows(self, rows: Tensor) -> Tensor:
        raise NotImplementedError


class GGNOperator(_OtherCurvature):
    """The generalized Gauss-Newton matrix of the loss over the data (Schraudolph 2002;
    Martens 2020, Section 8):

        G = sum_b (n_b / N) J_b^T (d^2 loss_fn / d out^2) J_b,

    J_b the Jacobian of the model's outputs on batch b with respect to the parameters and the
    middle factor the Hessian of ``loss_fn`` in the outputs (at the targets of the batch). It
    drops the term of the Hessian that carries the model's second derivatives, so it is
    positive semidefinite whenever ``loss_fn`` is convex in the outputs (squared error,
    cross-entropy), and equals the Hessian when the model is linear in its parameters.

    A product is J^T (H_out (J v)), all in reverse mode on one graph: J^T u for a dummy u
    (linear in u), whose backward in direction v is J v ("the double-vjp trick"); the output
    Hessian by a double backward of the loss in the outputs; J^T by a backward of the outputs.
    A block of vectors is one batched backward each (``is_grads_batched``); with one data
    batch the graph is built once and reused. Only these products exist (``hvp`` is not an
    option); everything else (trace, eigenvalues, density, dense, restricted,
    as_linear_operator) is the Hessian's.
    """

    name = "GGN"

    def _ggn_graph(self, x: Tensor, y: Tensor) -> tuple:
        leaves = [self.params[n].clone().requires_grad_(True) for n in self.names]
        with torch.enable_grad():
            out = functional_call(self.model, {**self._fixed, **dict(zip(self.names, leaves))},
                                  (x,))
            dummy = torch.zeros_like(out, requires_grad=True)
            jtu = torch.autograd.grad(out, leaves, grad_outputs=dummy, create_graph=True,
                                      allow_unused=True)
            used = [i for i, t in enumerate(jtu) if t is not None]
            o = out.detach().requires_grad_(True)
            out_grad = torch.autograd.grad(self.loss_fn(o, y), o, create_graph=True)[0]
        return leaves, out, dummy, jtu, used, o, out_grad

    def _curvature_rows(self, rows: Tensor) -> Tensor:
        k = rows.shape[0]
        batched = k > 1
        if batched:
            vs = [t.reshape(k, *s) for t, s in zip(torch.split(rows, self.sizes, dim=1),
                                                     self.shapes)]
        else:
            vs = [t.view(s) for t, s in zip(torch.split(rows[0], self.sizes), self.shapes)]
        total = None
        batches = [(1.0, None, None)] if self._single else self._weighted_batches()
        for w, x, y in batches:
            if self._single:
                if self._cache.get("ggn") is None:
                    t0 = self._clock()
                    self._cache["ggn"] = self._ggn_graph(*self._batches[0])
                    self.stats["graph_s"] += self._clock() - t0
                graph = self._cache["ggn"]
            else:
                graph = self._ggn_graph(x, y)
            leaves, out, dummy, jtu, used, o, out_grad = graph
            if not used:
                part = torch.zeros_like(rows)
            else:
                jv = torch.autograd.grad([jtu[i] for i in used], dummy,
                                         grad_outputs=[vs[i] for i in used], retain_graph=True,
                                         is_grads_batched=batched)[0]
                hjv = torch.autograd.grad(out_grad, o, grad_outputs=jv, retain_graph=True,
                                          is_grads_batched=batched)[0]
                res = torch.autograd.grad(out, leaves, grad_outputs=hjv, retain_graph=True,
                                          allow_unused=True, is_grads_batched=batched)
                part = torch.cat([(r if r is not None else torch.zeros_like(v)).reshape(k, -1)
                                  for r, v in zip(res, vs)], dim=1)
            if self._single:
                return part
            total = part.mul_(w) if total is None else total.add_(part, alpha=w)
        return total


#: per-example gradients kept in memory up to this many bytes (the empirical Fisher)
_GRADIENT_CACHE_BYTES = 256 * 2**20


class EmpiricalFisherOperator(_OtherCurvature):
    """The empirical Fisher (uncentred gradient covariance) of the loss over the data:

        F = (1/N) sum_n g_n g_n^T,   g_n = grad loss_fn(model(x_n), y_n),

    each g_n the gradient of the loss of example n alone (``loss_fn`` on a batch of one). It is
    the empirical Fisher of L when ``loss_fn`` averages per-example losses, i.e. L = (1/N)
    sum_n loss_n, which is checked on the first batch (Kunstner, Balles and Hennig 2019 on what
    it is and is not). ``curvlinops``' ``EFLinearOperator`` is the same matrix for
    ``CrossEntropyLoss``; for ``MSELoss(reduction="mean")`` it defines loss_n as the sum over
    the C outputs and comes out C times larger.

    Per-example gradients come from ``vmap`` over ``grad`` and are kept while they fit in
    256 MiB (then a product is two matrix products), otherwise recomputed per product.
    """

    name = "empirical Fisher"

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor],
                 data: Any, *, params: Iterable[str] | None = None,
                 block_size: int | None = None):
        super().__init__(model, loss_fn, data, params=params, block_size=block_size)
        itemsize = torch.finfo(self.dtype).bits // 8
        self._keep = self.num_examples * self.dim * itemsize <= _GRADIENT_CACHE_BYTES
        self._check_per_example_mean()

    def _per_example_losses(self, params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return vmap(lambda xi, yi: self._loss(params, xi[None], yi[None]))(x, y)

    def _check_per_example_mean(self) -> None:
        _, x, y = next(iter(self._weighted_batches()))
        with torch.no_grad():
            whole = float(self._loss(self.params, x, y))
            mean = float(self._per_example_losses(self.params, x, y).mean())
        tol = math.sqrt(float(torch.finfo(self.dtype).eps)) * max(1.0, abs(whole))
        if not abs(whole - mean) <= tol:
            raise CurvatureError(
                f"the empirical Fisher needs loss_fn to average per-example losses: on the "
                f"first batch loss_fn gives {whole:.6g} but the mean of its values on single "
                f"examples is {mean:.6g}")

    def gradients(self, x: Tensor, y: Tensor) -> Tensor:
        """The per-example gradients of a batch, as an (n, dim) block."""
        g = vmap(grad(lambda p, xi, yi: self._loss(p, xi[None], yi[None])),
                 in_dims=(None, 0, 0))(self.params, x, y)
        return self.to_flat(g, (x.shape[0],))

    def _curvature_rows(self, rows: Tensor) -> Tensor:
        cache = self._cache.setdefault("gradients", {})
        total = torch.zeros_like(rows)
        for b, (_, x, y) in enumerate(self._weighted_batches()):
            G = cache.get(b)
            if G is None:
                G = self.gradients(x, y).detach()
                if self._keep:
                    cache[b] = G
            total.addmm_(rows @ G.T, G, alpha=1.0 / self.num_examples)
        return total


#: the curvature operators by name (``HessianOperator`` and the two of the Gauss-Newton family)
OPERATORS: dict[str, type[HessianOperator]] = {"hessian": HessianOperator, "ggn": GGNOperator,
                                               "fisher": EmpiricalFisherOperator}


def parameter_blocks(op: HessianOperator, by: str = "module") -> dict[str, list[str]]:
    """The operator's parameters grouped into blocks, in model order: ``"module"`` (a layer's
    weight and bias together, named by the module path, e.g. ``"0"`` for ``"0.weight"``,
    ``"0.bias"``) or ``"parameter"`` (one block per tensor)."""
    if by not in ("module", "parameter"):
        raise CurvatureError(f"blocks are by 'module' or 'parameter', got {by!r}")
    groups: dict[str, list[str]] = {}
    for name in op.names:
        key = name.rsplit(".", 1)[0] if by == "module" and "." in name else name
        groups.setdefault(key, []).append(name)
    return groups


@dataclass
class BlockCurvature:
    """Trace and top eigenvalue of one diagonal block of a curvature operator."""

    name: str
    parameters: list[str]
    size: int
    trace: TraceEstimate
    top: EigenEstimate

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "parameters": self.parameters, "size": self.size,
                "trace": self.trace.to_dict(), "top": self.top.to_dict()}


def block_curvature(op: HessianOperator, *, by: str = "module", probes: int = 30,
                    seed: int = 0, confidence: float = 0.95,
                    tol: float = 1e-4) -> list[BlockCurvature]:
    """Per-block trace and top eigenvalue (PyHessian's per-layer view): for each block of
    :func:`parameter_blocks`, the operator restricted to it; its trace by Hutchinson with
    ``probes`` probes (exact, from unit vectors, when the block has at most ``probes``
    entries) and its top eigenvalue by Lanczos to relative residual ``tol``. The block traces
    sum to tr(op); the block eigenvalues are those of the diagonal blocks, not of op."""
    out = []
    for i, (name, names) in enumerate(parameter_blocks(op, by).items()):
        sub = op.restricted(names)
        if sub.dim <= probes:
            diag = sub.dense(max_params=probes).diagonal()
            value = float(diag.sum())
            tr = TraceEstimate(value=value, lower=value, upper=value, confidence=confidence,
                               matvecs=sub.dim, probes=sub.dim, method="exact",
                               std_error=0.0, interval="exact (unit vectors)")
        else:
            tr = sub.trace(probes=probes, method="hutchinson", seed=seed + i,
                           confidence=confidence)
        top = sub.top_eigenvalues(k=1, tol=tol, seed=seed + i, confidence=confidence)
        top.vectors = None
        out.append(BlockCurvature(name, names, sub.dim, tr, top))
    return out


def _rowwise_dot(A: Tensor, B: Tensor) -> Tensor:
    """(a_i . b_i) for the rows of two (k, n) blocks, without a (k, n) temporary."""
    return (A[:, None, :] @ B[:, :, None]).reshape(-1)


# Long reductions on a CPU: BLAS dot products and torch's vector norm accumulate in a few lanes,
# so a float32 sum of 10^7 positive terms (a norm, or q^T H q near a converged eigenvector) is off
# by up to ~4e-4 relative (measured: torch.linalg.vector_norm of 1.1e7 float32 entries, 4.3e-4;
# torch.dot, 3.5e-5). The accurate reductions below sum chunks of _CHUNK entries in the vectors'
# precision and add the chunk sums in float64, each in one call (a batched product over the
# chunks: many small calls would each wake the thread pool), so their rounding error is that of
# a length-_CHUNK sum, sqrt(_CHUNK) eps / 2 in Larsen's random-walk model (3.8e-6 in float32),
# whatever the dimension. CUDA reductions are trees already and are used as they are.
_CHUNK = 4096


def _chunked(a: Tensor) -> bool:
    return a.device.type != "cuda" and a.shape[-1] > _CHUNK


def _split_chunks(a: Tensor) -> tuple[Tensor, Tensor]:
    """The whole chunks of a vector's entries as a (n // _CHUNK, _CHUNK) view, and the rest."""
    head = a.shape[-1] // _CHUNK * _CHUNK
    return a[..., :head].unflatten(-1, (-1, _CHUNK)), a[..., head:]


def accurate_norm(a: Tensor) -> Tensor:
    """The Euclidean norms of the rows of ``a`` (or of a vector), as float64 (see ``_CHUNK``)."""
    if not _chunked(a):
        return torch.linalg.vector_norm(a, dim=-1).double()
    main, rest = _split_chunks(a)
    pieces = torch.linalg.vector_norm(main, dim=-1).double()
    tail = torch.linalg.vector_norm(rest, dim=-1).double()
    return (pieces.square().sum(-1) + tail.square()).sqrt()


def _accurate_dot(a: Tensor, b: Tensor) -> Tensor:
    (ma, ra), (mb, rb) = _split_chunks(a), _split_chunks(b)
    chunks = torch.bmm(ma.unsqueeze(1), mb.unsqueeze(2))          # (n // _CHUNK, 1, 1)
    return chunks.double().sum() + ra.double() @ rb.double()


def accurate_dots(A: Tensor, b: Tensor) -> Tensor:
    """(a_i . b) for the rows of a (k, n) block (or one vector) and a vector, as float64 (see
    ``_CHUNK``)."""
    if not _chunked(A):
        return (A @ b).double()
    if A.dim() == 1:
        return _accurate_dot(A, b)
    return torch.stack([_accurate_dot(row, b) for row in A])


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
    vectors: "_Basis"           # the Lanczos vectors, on the operator's device
    steps: int
    breakdown: bool
    reorthogonalizations: int = 0   # steps with a full Gram-Schmidt pass

    @property
    def basis(self) -> Tensor:
        """The Lanczos vectors as a (steps, dim) tensor (a copy)."""
        return self.vectors.matrix(self.steps)

    def ritz_vectors(self, coefficients: Tensor) -> Tensor:
        """Q^T S for a (steps, k) coefficient matrix S: the (k, dim) Ritz vectors as rows."""
        return self.vectors.combine(coefficients, self.steps).T.contiguous()

    def tridiagonal(self) -> np.ndarray:
        m = self.steps
        return (np.diag(self.alpha[:m]) + np.diag(self.beta[:m - 1], 1)
                + np.diag(self.beta[:m - 1], -1))

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (ascending) and eigenvectors of the tridiagonal matrix
        (:func:`tridiagonal_eigh`)."""
        return tridiagonal_eigh(self.alpha[:self.steps], self.beta[:self.steps - 1])


def tridiagonal_eigh(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal matrix with
    diagonal ``alpha`` and off-diagonal ``beta``, by LAPACK's tridiagonal solver (``stemr``).

    Not ``numpy.linalg.eigh`` of the dense matrix: that goes through the multithreaded BLAS,
    whose threads spin against torch's and against other jobs on a busy machine (measured on
    2 cores under load, a 120 x 120 tridiagonal: 119-220 ms by ``numpy.linalg.eigh`` beside
    torch, 0.6-0.9 ms here), and Lanczos solves one such matrix per step."""
    from scipy.linalg import eigh_tridiagonal

    return eigh_tridiagonal(np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float))


class _Basis:
    """Lanczos vectors as rows of fixed blocks of 16 (never copied to grow; rows past the last
    written are never read). Blocks come from ``pool`` when given (and new ones join it), so
    repeated runs reuse memory instead of paying page faults on fresh pages."""

    ROWS = 16

    def __init__(self, dim: int, like: Tensor, pool: list[Tensor] | None = None):
        self.dim, self.like, self.blocks, self.count = dim, like, [], 0
        self.pool = pool if pool is not None else []
        self.pool[:] = [b for b in self.pool if b.shape == (self.ROWS, dim)
                        and b.dtype == like.dtype and b.device == like.device]

    def next_slot(self) -> Tensor:
        """The next row to write (a view), allocating a block when needed; not yet counted."""
        if self.count == len(self.blocks) * self.ROWS:
            if len(self.blocks) < len(self.pool):
                self.blocks.append(self.pool[len(self.blocks)])
            else:
                self.blocks.append(torch.empty((self.ROWS, self.dim), dtype=self.like.dtype,
                                               device=self.like.device))
                self.pool.append(self.blocks[-1])
        return self.blocks[-1][self.count % self.ROWS]

    def append_slot(self) -> Tensor:
        """The next row to write, counted as written."""
        row = self.next_slot()
        self.count += 1
        return row

    def row(self, i: int) -> Tensor:
        return self.blocks[i // self.ROWS][i % self.ROWS]

    def _parts(self) -> list[Tensor]:
        return self._first(self.count)

    def coefficients(self, w: Tensor) -> Tensor:
        """Q w for the rows written so far (accurate reductions, in w's dtype)."""
        return torch.cat([accurate_dots(part, w) for part in self._parts()]).to(w.dtype)

    def subtract(self, w: Tensor, c: Tensor) -> None:
        """w -= Q^T c, in place."""
        start = 0
        for part in self._parts():
            w.addmv_(part.T, c[start:start + part.shape[0]], alpha=-1)
            start += part.shape[0]

    def owns(self, t: Tensor) -> bool:
        ptr = t.untyped_storage().data_ptr()
        return any(ptr == b.untyped_storage().data_ptr() for b in self.blocks)

    def _first(self, m: int) -> list[Tensor]:
        full, rest = divmod(m, self.ROWS)
        return self.blocks[:full] + ([self.blocks[full][:rest]] if rest else [])

    def matrix(self, m: int) -> Tensor:
        """The first m rows as one (m, dim) tensor."""
        parts = self._first(m)
        return torch.cat(parts) if parts else self.like.new_empty((0, self.dim))

    def combine(self, coef: Tensor, m: int) -> Tensor:
        """Q_m^T coef for an (m, k) coefficient matrix: (dim, k)."""
        out, start = None, 0
        for part in self._first(m):
            term = part.T @ coef[start:start + part.shape[0]]
            out = term if out is None else out.add_(term)
            start += part.shape[0]
        return out


def lanczos(apply_rows: Callable[[Tensor], Tensor], start: Tensor, steps: int, *,
            reorthogonalize: bool | str = True,
            stop: Callable[[np.ndarray, np.ndarray], bool] | None = None,
            check_every: int = 5, product_into: bool = False,
            workspace: list[Tensor] | None = None) -> LanczosResult:
    """Symmetric Lanczos from ``start``, keeping its basis orthogonal.

    ``reorthogonalize``:

    * ``"full"``: every step a classical Gram-Schmidt pass against the whole basis (which also
      does the three-term recurrence: alpha_j = q_j^T H q_j is the pass's last coefficient) and
      a second pass when the first removed more off the older vectors than it left
      (Daniel-Gragg-Kaufman-Stewart; always on CUDA, where the test would wait for the device);
    * ``"partial"``: the three-term recurrence, with the full pass only when Simon's recurrence
      for the inner products omega_jk = q_j^T q_k (Simon 1984, with Larsen's rounding term)
      estimates that one exceeds sqrt(eps), and on the step after; the basis stays
      semi-orthogonal, so T_j is the projection of H on its span to O(eps ||H||) (Simon 1984,
      Theorem 4) and the Ritz values are as accurate as with full reorthogonalization;
    * ``True``: ``"partial"`` on a CPU when the recurrence's rounding term sqrt(m) eps / 2 is
      below a tenth of sqrt(eps), m the longest sum an inner product adds in one precision
      (``min(dim, _CHUNK)``: the inner products and norms are :func:`accurate_dots` and
      :func:`accurate_norm`; float32 and float64 both qualify), else ``"full"`` (on CUDA the
      test would wait for the device); ``False``: none.

    All vectors stay on the device; on CUDA the host reads the coefficients only every
    ``check_every`` steps, to evaluate ``stop(ritz_values, ritz_residual_estimates)`` (on a CPU
    those reads cost nothing and the coefficients are host floats). With ``product_into``,
    ``apply_rows(rows, out=...)`` writes each product into the basis row it becomes (no fresh
    vector per step). ``workspace``: a list of basis blocks to reuse (and extend); the result's
    vectors live there, so a later run with the same workspace overwrites them."""
    dim = start.shape[0]
    host = start.device.type != "cuda"
    mode = reorthogonalize
    eps = float(torch.finfo(start.dtype).eps)
    if mode is True:
        mode = "partial" if host and math.sqrt(min(dim, _CHUNK)) * eps / 2 <= math.sqrt(eps) / 10 \
            else "full"
    if mode not in (False, "full", "partial"):
        raise CurvatureError(f"reorthogonalize must be True, False, 'full' or 'partial', got "
                             f"{reorthogonalize!r}")
    if mode == "partial" and not host:
        raise CurvatureError("partial reorthogonalization reads every coefficient on the host: "
                             "use 'full' on CUDA")
    Q = _Basis(dim, start, workspace)
    if host:
        alpha, beta = np.zeros(steps), np.zeros(steps)
    else:
        alpha = torch.zeros(steps, dtype=start.dtype, device=start.device)
        beta = torch.zeros(steps, dtype=start.dtype, device=start.device)
    torch.div(start, accurate_norm(start).to(start.dtype), out=Q.append_slot())
    tiny = torch.finfo(start.dtype).tiny
    # Larsen's local level sqrt(n) eps / 2 models an inner product of length n; the accurate
    # reductions sum at most _CHUNK float32 terms before they go to float64
    eps1, delta = math.sqrt(min(dim, _CHUNK)) * eps / 2, math.sqrt(eps)
    omega_prev, omega = np.zeros(0), np.ones(1)     # omega_{j-1,.} and omega_{j,.}
    force = False                                    # reorthogonalize this step regardless
    passes = 0
    m, breakdown = steps, False
    for j in range(steps):
        q = Q.row(j)
        if product_into:
            w = Q.next_slot()
            apply_rows(q[None], out=w[None])
        else:
            w = apply_rows(q[None])[0]
            if Q.owns(w):
                w = w.clone()  # the operator handed back its input: w is updated in place
        # three-term recurrence first (the large components go with modified Gram-Schmidt
        # accuracy), then the reorthogonalization against the whole basis
        a = accurate_dots(w, q)
        if host:
            a = float(a)
            w.add_(q, alpha=-a)
            if j > 0:
                w.add_(Q.row(j - 1), alpha=-beta[j - 1])
        else:
            a = a.to(w.dtype)
            w.addcmul_(q, a, value=-1)
            if j > 0:
                w.addcmul_(Q.row(j - 1), beta[j - 1], value=-1)
        due = mode == "full"
        if mode == "partial":
            b = float(accurate_norm(w))
            new = np.empty(j + 2)
            if j > 0:
                k = np.arange(j)
                num = beta[k] * omega[k + 1] + (alpha[k] - a) * omega[k] \
                    - beta[j - 1] * omega_prev[k]
                num[1:] += beta[k[1:] - 1] * omega[k[1:] - 1]
                new[:j] = (num + np.sign(num) * eps1 * (beta[k] + b)) / max(b, tiny)
            new[j], new[j + 1] = eps1, 1.0
            due = force or (j > 0 and np.abs(new[:j]).max() > delta)
            if due:
                new[:j + 1] = eps1
                force = not force  # the next vector as well (Simon), then back to the test
            omega_prev, omega = omega, new
        if due:
            passes += 1
            c = Q.coefficients(w)
            Q.subtract(w, c)
            b = accurate_norm(w)
            # a second pass when the first removed more than it left (Daniel-Gragg-Kaufman-
            # Stewart: |w| < |w before| / sqrt(2), with |w before|^2 = |w|^2 + |c|^2); always
            # on CUDA, where the test would wait for the device
            if not host or float(c.norm()) > float(b):
                Q.subtract(w, Q.coefficients(w))
                b = accurate_norm(w)
            if host:
                b = float(b)
        elif mode is False:
            b = float(accurate_norm(w)) if host else accurate_norm(w)
        alpha[j], beta[j] = a, b
        last = j == steps - 1
        if host or (j + 1) % check_every == 0 or last:
            al = alpha[:j + 1] if host else alpha[:j + 1].double().cpu().numpy()
            be = beta[:j + 1] if host else beta[:j + 1].double().cpu().numpy()
            small = np.flatnonzero(be <= 1e-10 * max(float(np.abs(al).max()), 1e-300))
            if small.size:  # invariant subspace reached at the first tiny beta
                m, breakdown = int(small[0]) + 1, True
                break
            if stop is not None and ((j + 1) % check_every == 0 or last):
                theta, S = tridiagonal_eigh(al, be[:-1])
                if stop(theta, np.abs(be[-1] * S[-1])):
                    m = j + 1
                    break
        if last:
            break
        # on CUDA no host sync here: a tiny b is caught at the next check, the steps after it
        # dropped
        if product_into:  # w is the next row already
            w.div_(max(b, tiny) if host else torch.clamp(b, min=tiny))
            Q.count += 1
        else:
            torch.div(w, max(b, tiny) if host else torch.clamp(b, min=tiny),
                      out=Q.append_slot())
    alpha = alpha[:m] if host else alpha[:m].double().cpu().numpy()
    beta = beta[:m] if host else beta[:m].double().cpu().numpy()
    return LanczosResult(alpha=np.asarray(alpha, dtype=float), beta=np.asarray(beta, dtype=float),
                         vectors=Q, steps=m, breakdown=breakdown,
                         reorthogonalizations=passes)


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
