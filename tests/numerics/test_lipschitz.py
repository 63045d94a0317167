"""LipSDP certificates (numerics.lipschitz) on networks whose Lipschitz constant, or whose LipSDP
value, is known in closed form; soundness against exact lower bounds; the exact checker against
tampering; bad input.

Closed forms used below (Fazlyab et al. 2019, LipSDP-Neuron, matrix in numerics/lipschitz.py):

* one Linear W: M = W^T W - rho I, so LipSDP = ||W||_2, the true constant.
* f(x) = w2 phi(w1 x + b), phi slope-restricted in [0, beta]: M = [[-rho, beta w1 l],
  [beta w1 l, w2^2 - 2 l]]; M <= 0 iff l > w2^2 / 2 and rho >= beta^2 w1^2 l^2 / (2 l - w2^2),
  minimal at l = w2^2: LipSDP = beta |w1 w2|, which is the true constant for sigmoid (beta =
  1/4, slope 1/4 at 0), tanh and ReLU6 (beta = 1).
* |x| = relu(x) + relu(-x) (W0 = [1; -1], W1 = [1, 1]): with l1 = l2 = l (the optimum is
  symmetric: M(rho, l1, l2) and M(rho, l2, l1) are congruent by a permutation, and the set is
  convex), the hidden block [[1 - 2l, 1], [1, 1 - 2l]] has eigenvalues -2l, 2 - 2l and the input
  column (l, -l) lies on the first eigenvector; so M <= 0 iff l >= 1 and rho >= l: LipSDP = 1.
* relu on R^n (W0 = W1 = I): per coordinate rho >= l^2 / (2l - 1), minimal at l = 1: LipSDP = 1.
* a scalar chain of ReLU layers with positive weights: LipSDP lies between the true constant
  (the product of the weights) and the naive bound (the same product).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from fractions import Fraction

import flint
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from numerics import lipschitz as L

Q = flint.fmpq
REL = 1e-4          # solver accuracy stated for the LipSDP optimum (Clarabel, default margins)


def net(*modules: nn.Module) -> nn.Sequential:
    return nn.Sequential(*modules).double()


def linear(weight, bias=None) -> nn.Linear:
    w = torch.tensor(weight, dtype=torch.float64)
    m = nn.Linear(w.shape[1], w.shape[0]).double()
    with torch.no_grad():
        m.weight.copy_(w)
        m.bias.copy_(torch.zeros(w.shape[0], dtype=torch.float64) if bias is None
                     else torch.tensor(bias, dtype=torch.float64))
    return m


def random_net(seed: int, sizes: tuple[int, ...], act) -> nn.Sequential:
    torch.manual_seed(seed)
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            mods.append(act())
    return nn.Sequential(*mods)          # float32, as trained networks usually are


def abs_net(last=(1.0, 1.0)) -> nn.Sequential:
    return net(linear([[1.0], [-1.0]]), nn.ReLU(), linear([list(last)]))


def certified(layers, **kw) -> L.LipschitzCertificate:
    cert = L.lipsdp(layers, **kw)
    assert cert.certified, cert.message
    assert cert.bound is not None and cert.bound * cert.bound >= cert.rho
    assert L.check_lipsdp_certificate(layers, cert.rho, cert.multipliers)
    return cert


# --------------------------------------------------------------------------------------------
# known constants
# --------------------------------------------------------------------------------------------

def test_single_linear_is_its_spectral_norm():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((3, 5))
    layers = L.network_layers(linear(W.tolist(), rng.standard_normal(3).tolist()))
    assert len(layers) == 1 and layers[0].activation is None
    cert = certified(layers)
    assert cert.multipliers == []
    # exact lower bound of ||W||^2: the Rayleigh quotient at numpy's top singular vector
    v = [to for to in map(L.to_fmpq, np.linalg.svd(W)[2][0])]
    Wq = layers[0].weight
    Wv = Wq * flint.fmpq_mat(5, 1, v)
    rayleigh = sum((Wv[i, 0] ** 2 for i in range(3)), Q(0)) / sum((t * t for t in v), Q(0))
    assert cert.bound ** 2 >= rayleigh
    sigma = np.linalg.norm(W, 2)
    assert cert.bound_float <= sigma * (1 + 1e-3)
    # the naive bound of one layer is the same norm
    nb = L.naive_bound(layers)
    assert nb.methods == ["gram-charpoly"] and nb.bound ** 2 >= rayleigh
    assert nb.bound_float <= sigma * (1 + 1e-9)
    fro = L.naive_bound(layers, gram_max=0)                 # ||W||_2 <= ||W||_F
    assert fro.methods == ["frobenius"]
    assert fro.bound ** 2 >= sum((e * e for e in Wq.entries()), Q(0)) >= rayleigh


def test_abs_network_lipsdp_value_is_one():
    layers = L.network_layers(abs_net())
    cert = certified(layers)
    q = L.exact_difference_quotient(layers, [1], [2])
    assert q.squared == 1                       # |f(1) - f(2)| = 1: the true constant is 1
    assert not q.exceeds(cert.bound)
    assert cert.bound >= 1 and cert.bound_float <= 1 + REL
    # the optimum itself (rho = 1, l = (1, 1)) is exactly valid though M is singular
    assert L.check_lipsdp_certificate(layers, 1, [[1, 1]])
    assert not L.check_lipsdp_certificate(layers, Q(10**9 - 1, 10**9), [[1, 1]])


@pytest.mark.parametrize("act, beta", [(nn.Sigmoid, Q(1, 4)), (nn.Tanh, Q(1)), (nn.ReLU6, Q(1))])
def test_scalar_network_lipsdp_is_exact(act, beta):
    w1, w2, b = 3.0, -0.625, 0.5
    layers = L.network_layers(net(linear([[w1]], [b]), act(), linear([[w2]])))
    true = beta * abs(L.to_fmpq(w1 * w2))
    cert = certified(layers)
    assert cert.bound >= true
    assert cert.bound <= true * L.to_fmpq(1 + REL)
    # the slope maximum is attained where the pre-activation is 0 (x = -b / w1; ReLU6 on [0, 6])
    x0 = Fraction(-b) / Fraction(w1) + (Fraction(1) if act is nn.ReLU6 else 0)
    h = Fraction(1, 10**6)
    q = L.exact_difference_quotient(layers, [x0 - h], [x0 + h])
    assert q.exceeds(true * L.to_fmpq(1 - 1e-9)) and not q.exceeds(cert.bound)


def test_relu_on_rn_is_one():
    eye = np.eye(3).tolist()
    layers = L.network_layers(net(linear(eye), nn.ReLU(), linear(eye)))
    cert = certified(layers)
    assert 1 <= cert.bound <= L.to_fmpq(1 + REL)


@pytest.mark.parametrize("weights", [(1024.0, 1 / 512, 3.0, 0.75), (1e-3, 2e3, 0.5, 8.0)])
def test_scalar_relu_chain_is_product(weights):
    mods: list[nn.Module] = []
    for i, w in enumerate(weights):
        mods.append(linear([[w]]))
        if i < len(weights) - 1:
            mods.append(nn.ReLU())
    layers = L.network_layers(net(*mods))
    product = Q(1)
    for w in weights:
        product *= L.to_fmpq(w)
    cert = certified(layers)
    assert product <= cert.bound <= product * L.to_fmpq(1 + REL)
    nb = L.naive_bound(layers)
    assert product <= nb.bound <= product * L.to_fmpq(1 + 1e-9)


# --------------------------------------------------------------------------------------------
# random networks: sound against exact lower bounds, never worse than naive (alpha = 0)
# --------------------------------------------------------------------------------------------

ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
        "leaky": lambda: nn.LeakyReLU(0.1), "relu6": nn.ReLU6}


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1),
       sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4),
       act=st.sampled_from(sorted(ACTS)))
def test_random_networks_sound_and_below_naive(seed, sizes, act):
    """certified >= the exact quotient at the best sampled pair (a true lower bound), and, for
    slopes [0, beta], certified <= naive: T_k = t_k I with t_l = ||W_l||^2, t_k = t_{k+1}
    beta^2 ||W_k||^2 and 2 beta t <x, W y> <= t (beta^2 ||W||^2 |y|^2 + |x|^2) make M(rho, T) <= 0
    at rho = naive^2, so the SDP optimum is at most naive (up to the solver's REL)."""
    layers = L.network_layers(random_net(seed, tuple(sizes), ACTS[act]))
    cert = certified(layers)
    low = L.sampled_lower_bound(layers, seed=seed, samples=64, steps=10)
    assert low.exact is not None
    assert not low.exact.exceeds(cert.bound)
    if act != "leaky":
        assert cert.bound <= L.naive_bound(layers).bound * L.to_fmpq(1 + REL)


def test_leaky_relu_two_layer_bounds():
    layers = L.network_layers(random_net(7, (3, 5, 5, 2), lambda: nn.LeakyReLU(0.2)))
    assert layers[0].slopes == (L.to_fmpq(0.2), Q(1))
    cert = certified(layers)
    low = L.sampled_lower_bound(layers, seed=7, samples=128, steps=50)
    assert not low.exact.exceeds(cert.bound)


def test_deterministic():
    layers = L.network_layers(random_net(11, (4, 6, 6, 2), nn.Tanh))
    a, b = L.lipsdp(layers), L.lipsdp(layers)
    assert a.certified and (a.rho, a.multipliers) == (b.rho, b.multipliers)
    s, t = (L.sampled_lower_bound(layers, seed=5, samples=32, steps=10) for _ in range(2))
    assert np.array_equal(s.x, t.x) and np.array_equal(s.y, t.y)


# --------------------------------------------------------------------------------------------
# the checker: exact, independent, rejects tampering
# --------------------------------------------------------------------------------------------

def test_exact_nsd_decision():
    def mat(rows):
        return flint.fmpq_mat([[L.to_fmpq(v) for v in r] for r in rows])

    assert L._is_nsd_exact(mat([[-1, 1, -1], [1, -1, 1], [-1, 1, -1]]))       # -v v^T, rank 1
    assert L._is_nsd_exact(mat([[0, 0], [0, 0]]))
    assert not L._is_nsd_exact(mat([[0, 1], [1, 0]]))
    assert not L._is_nsd_exact(mat([[-1, 0], [0, "1/1000000000000000000000000000000"]]))
    assert not L._is_nsd_exact(mat([[-1, 2], [0, -1]]))                       # not symmetric
    rng = np.random.default_rng(0)
    for _ in range(50):
        A = rng.integers(-3, 4, (4, 4))
        S = -(A @ A.T) + rng.integers(-1, 2) * np.diag(rng.integers(0, 3, 4))
        top = np.linalg.eigvalsh(S.astype(float))[-1]
        if abs(top) > 1e-6:
            assert L._is_nsd_exact(mat(S.tolist())) == (top < 0)


def test_tampered_certificates_are_rejected():
    layers = L.network_layers(abs_net())
    cert = certified(layers)
    rho, lams = cert.rho, cert.multipliers
    # rho lowered below 1 = L^2: no multipliers can prove it
    assert not L.check_lipsdp_certificate(layers, rho * Q(999, 1000), lams)
    # a multiplier made negative
    assert not L.check_lipsdp_certificate(layers, rho, [[-lams[0][0], lams[0][1]]])
    # a weight changed: 2 relu(x) + relu(-x) has constant 2 (pair 1, 2) > sqrt(rho)
    changed = L.network_layers(abs_net(last=(2.0, 1.0)))
    assert L.exact_difference_quotient(changed, [1], [2]).squared == 4
    assert not L.check_lipsdp_certificate(changed, rho, lams)
    # malformed
    assert not L.check_lipsdp_certificate(layers, rho, [lams[0][:1]])
    assert not L.check_lipsdp_certificate(layers, rho, lams + [[1]])
    assert not L.check_lipsdp_certificate(layers, "nan", lams)
    assert not L.check_lipsdp_certificate(layers, float("inf"), lams)
    assert not L.check_lipsdp_certificate(layers, -1, lams)


def test_rho_below_exact_lower_bound_is_rejected():
    layers = L.network_layers(random_net(2, (3, 6, 4, 2), nn.ReLU))
    cert = certified(layers)
    low = L.sampled_lower_bound(layers, seed=2, samples=128, steps=50)
    assert low.exact.squared is not None                     # ReLU: evaluated exactly
    below = low.exact.squared * L.to_fmpq(1 - 1e-9)                 # L^2 >= squared > below
    assert not L.check_lipsdp_certificate(layers, below, cert.multipliers)
    assert cert.rho >= low.exact.squared


def test_json_certificate_checked_without_solver_or_torch(tmp_path):
    w1, w2 = 3.0, -0.625
    layers = L.network_layers(net(linear([[w1]]), nn.Sigmoid(), linear([[w2]])))
    cert = certified(layers)
    data = {"layers": L.layers_to_json(layers), **cert.to_json()}
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(data))
    code = (
        "import json, sys\n"
        "from numerics.lipschitz import check_lipsdp_certificate\n"
        f"d = json.load(open({str(path)!r}))\n"
        "ok = check_lipsdp_certificate(d['layers'], d['rho'], d['multipliers'])\n"
        "assert 'cvxpy' not in sys.modules and 'torch' not in sys.modules\n"
        "print(ok)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(L.__file__).rsplit("/numerics/", 1)[0], timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
    # relabelling the activation in the data: tanh has slope 1, so L = |w1 w2| = 1.875 while
    # sqrt(rho) ~ 1.875 / 4; the slopes come from the checker's own table
    relabelled = json.loads(json.dumps(data["layers"]))
    relabelled[0]["activation"] = "tanh"
    assert not L.check_lipsdp_certificate(relabelled, data["rho"], data["multipliers"])
    relabelled[0]["activation"] = "softsign"
    assert not L.check_lipsdp_certificate(relabelled, data["rho"], data["multipliers"])
    again = L.layers_from_json(data["layers"])
    assert [l.weight for l in again] == [l.weight for l in layers]


# --------------------------------------------------------------------------------------------
# refutation by an explicit pair
# --------------------------------------------------------------------------------------------

def test_refutation_pair_exceeds_too_small_bound():
    layers = L.network_layers(abs_net())
    q = L.exact_difference_quotient(layers, ["1"], [Fraction(2)])
    assert q.exceeds("9/10") and not q.exceeds(1)
    # a tanh network: ball arithmetic
    layers = L.network_layers(random_net(4, (3, 5, 2), nn.Tanh))
    cert = certified(layers)
    low = L.sampled_lower_bound(layers, seed=4, samples=128, steps=50)
    assert low.exact.squared is None                        # tanh: a ball, not exact
    too_small = L.to_fmpq(low.value * 0.99)
    assert low.exact.exceeds(too_small)
    assert not low.exact.exceeds(cert.bound)
    assert low.exact.lower <= low.value * (1 + 1e-9)


def test_exact_forward_matches_float():
    model = random_net(9, (4, 5, 3), nn.Sigmoid).double()
    layers = L.network_layers(model)
    x = [0.25, -1.5, 2.0, 0.125]
    out = L.exact_forward(layers, x)
    ref = model(torch.tensor([x], dtype=torch.float64))[0].tolist()
    for ball, r in zip(out, ref):
        assert abs(float(ball.mid()) - r) < 1e-12
    with pytest.raises(L.LipschitzError):
        L.exact_difference_quotient(layers, x, x)


# --------------------------------------------------------------------------------------------
# reading networks; bad input
# --------------------------------------------------------------------------------------------

def test_linear_layers_are_merged_exactly_and_identities_inserted():
    torch.manual_seed(0)
    a, b, c = nn.Linear(3, 4), nn.Linear(4, 2), nn.Linear(2, 1)
    layers = L.network_layers(nn.Sequential(a, nn.Identity(), b, nn.ReLU(), c, nn.Tanh()))
    assert [l.activation for l in layers] == ["relu", "tanh", None]
    exact = [[sum(Fraction(b.weight[i, k].item()) * Fraction(a.weight[k, j].item())
                  for k in range(4)) for j in range(3)] for i in range(2)]
    merged = [[Fraction(int(e.p), int(e.q)) for e in row] for row in layers[0].weight.tolist()]
    assert merged == exact
    assert layers[2].weight == flint.fmpq_mat([[1]])               # identity appended
    first = L.network_layers(nn.Sequential(nn.ReLU(), nn.Linear(2, 2)))
    assert first[0].weight == flint.fmpq_mat([[1, 0], [0, 1]])     # identity prepended
    assert L.network_layers(nn.Sequential(nn.Sequential(nn.Linear(2, 3)), nn.ReLU6(),
                                          nn.Linear(3, 1)))[0].slopes == (0, 1)


class _Square(nn.Module):
    def forward(self, x):
        return x * x


class _ShiftedLinear(nn.Linear):
    def forward(self, x):
        return super().forward(x) + 1


@pytest.mark.parametrize("model, error", [
    (nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Linear(2, 1)), L.UnsupportedLayer),
    (nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=-1), nn.Linear(2, 1)), L.UnsupportedLayer),
    (nn.Sequential(nn.Linear(2, 2), nn.GELU(approximate="tanh"), nn.Linear(2, 1)),
     L.UnsupportedLayer),
    (nn.Sequential(nn.Flatten(), nn.Conv2d(1, 1, 3)), L.UnsupportedLayer),
    (nn.Sequential(nn.Linear(4, 4), nn.Dropout(), nn.Linear(4, 1)), L.UnsupportedLayer),
    (nn.Sequential(nn.Linear(2, 2), _Square(), nn.Linear(2, 1)), L.UnsupportedLayer),
    (nn.Sequential(_ShiftedLinear(2, 2)), L.UnsupportedLayer),
    (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 1)), L.BadWeights),
    (nn.Sequential(nn.ReLU()), L.UnsupportedLayer),
    ("not a network", L.UnsupportedLayer),
])
def test_bad_networks(model, error):
    with pytest.raises(error):
        L.network_layers(model)
    assert issubclass(error, L.LipschitzError) and issubclass(error, ValueError)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights(value):
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[2].weight[0, 1] = value
    with pytest.raises(L.BadWeights):
        L.network_layers(model)
    model = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        model[0].bias[0] = value
    with pytest.raises(L.BadWeights):
        L.network_layers(model)


def test_hooks_and_size_limit():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    model[1].register_forward_hook(lambda m, i, o: o * 2)
    with pytest.raises(L.UnsupportedLayer):
        L.network_layers(model)
    with pytest.raises(L.TooLarge):
        L.lipsdp(L.network_layers(random_net(0, (8, 8, 1), nn.ReLU)), max_rows=15)


def test_solver_failures_give_no_bound():
    layers = L.network_layers(random_net(1, (3, 4, 2), nn.ReLU))
    cert = L.lipsdp(layers, solver_options={"max_iter": 1})
    assert not cert.certified and cert.bound is None and cert.rho is None
    assert cert.status == "solver-failed" and cert.solver_status != "optimal"
    cert = L.lipsdp(layers, solver="NO_SUCH_SOLVER")
    assert not cert.certified and cert.bound is None
    assert cert.solver_status.startswith("solver_error")


def test_failed_exact_check_gives_no_bound():
    """Multipliers rounded to 4 bits: the |x| optimum l ~ 1 + margin rounds to l = 1, where the
    hidden block [[-1, 1], [1, -1]] is singular, so no attempt gets a rho; no bound."""
    layers = L.network_layers(abs_net())
    cert = L.lipsdp(layers, bits=4)
    assert not cert.certified and cert.status == "check-failed"
    assert cert.bound is None and cert.rho is None and cert.multipliers is None
    assert len(cert.attempts) == 5 and all(a["solver_status"] == "optimal" for a in cert.attempts)


def test_margin_attempt_certifies():
    layers = L.network_layers(abs_net())
    cert = certified(layers, margins=(1e-3,))
    assert cert.margin == 1e-3 and 1 <= cert.bound <= L.to_fmpq(1.01)


def test_scs_also_certifies():
    layers = L.network_layers(random_net(6, (3, 4, 2), nn.Tanh))
    a = certified(layers)
    b = certified(layers, solver="SCS", solver_options={"eps_abs": 1e-9, "eps_rel": 1e-9,
                                                        "max_iters": 100000})
    assert abs(a.bound_float - b.bound_float) <= 1e-3 * a.bound_float


def test_cvxopt_where_installed():
    import cvxpy as cp

    if "CVXOPT" not in cp.installed_solvers():
        pytest.skip("cvxopt is not installed")
    layers = L.network_layers(random_net(6, (3, 4, 4, 2), nn.ReLU))
    a, b = certified(layers), certified(layers, solver="CVXOPT")
    assert abs(a.bound_float - b.bound_float) <= REL * a.bound_float


def test_sqrt_upper():
    for q in (Q(2), Q(1, 3), Q(10**40 + 1, 7), Q(1, 10**30), Q(0), Q(4)):
        r = L.sqrt_upper(q)
        assert r * r >= q
        assert float(r) <= math.sqrt(float(q)) * (1 + 1e-14) + 1e-300
    assert L.sqrt_upper(Q(4)) == 2


# --------------------------------------------------------------------------------------------
# the example network
# --------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_example_network():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "examples" / "lipschitz_mlp.py"
    spec = importlib.util.spec_from_file_location("lipschitz_mlp", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    layers = L.network_layers(mod.model)
    cert = certified(layers)
    low = L.sampled_lower_bound(layers, seed=0, samples=256, steps=100)
    assert not low.exact.exceeds(cert.bound)
    assert cert.bound <= L.naive_bound(layers).bound * L.to_fmpq(1 + REL)
