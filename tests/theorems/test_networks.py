"""network-lipschitz claims and Lipschitz stability under a network perturbation.

Expected values are derived by hand:

* one Linear W: L = ||W||_2; for W = [[1, 2], [3, 4]], W^T W = [[10, 14], [14, 20]] has trace 30
  and determinant 4, so ||W||_2^2 = 15 + sqrt(221); for W = diag(3, 4), L = 4.
* |x| = relu(x) + relu(-x): L = 1 (equality for two inputs of the same sign).
* w2 leaky_relu_a(w1 x): L = |w1 w2| max(1, a) (two inputs on the side of slope max(1, a));
  the product of the layer norms and slope maxima is the same number, so it certifies L
  exactly. w2 tanh(w1 x + b): L = |w1 w2| (tanh' = 1 at 0, < 1 elsewhere), also the product.
* 1024 hidden ReLUs with input weights +-1/32 (half each) and output weights 1/32:
  f(x) = (16 relu(x) + 16 relu(-x)) / 32 = |x| / 2, so L = 1/2, while both weight matrices have
  spectral norm sqrt(1024) / 32 = 1 (the product bound is 1); 1025 LipSDP rows.
* f = 3/2 |x| + x^2 is sharp at 0 with modulus 3/2 (and no more), f = |x|/2 + x^2 with 1/2.
"""

from __future__ import annotations

import textwrap

import pytest
import sympy as sp
import torch
from torch import nn

from theorems import networks
from theorems.networks import checks as network_checks
from theorems.networks import mathematics as M
from verify import loaders, registry
from verify.errors import InvalidClaim
from verify.verdict import Status

SIDE = sp.Rational(1, 10**6)
ABS_FILE = """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)).double()
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[1.0], [-1.0]], dtype=torch.float64))
    model[0].bias.zero_()
    model[2].weight.copy_(torch.tensor([[1.0, 1.0]], dtype=torch.float64))
    model[2].bias.zero_()
"""


def net_of(weights, activation=None, bias=None, name="net"):
    return M.network_from_model(network_checks._net(weights, activation, bias), name)


def decide(net, at_most, seed=0):
    claim = M.claim_for(net, at_most, id=f"{net.source} <= {at_most}")
    return M.decide_lipschitz(net, claim.params["at_most"], claim=claim.describe(), seed=seed)


LINEAR = ([[[1.0, 2.0], [3.0, 4.0]]], None, sp.sqrt(15 + sp.sqrt(221)))
ABS = ([[[1.0], [-1.0]], [[1.0, 1.0]]], nn.ReLU, sp.Integer(1))
LEAKY_HALF = ([[[3.0]], [[-2.0]]], lambda: nn.LeakyReLU(0.5), sp.Integer(6))
LEAKY_TWO = ([[[3.0]], [[-2.0]]], lambda: nn.LeakyReLU(2.0), sp.Integer(12))
CASES = {"linear": LINEAR, "abs": ABS, "leaky-0.5": LEAKY_HALF, "leaky-2": LEAKY_TWO}


@pytest.mark.parametrize("name", sorted(CASES))
def test_known_constants_are_certified_just_above_and_refuted_just_below(name):
    weights, act, constant = CASES[name]
    net = net_of(weights, act, name=name)
    above = decide(net, constant * (1 + SIDE))
    assert above.status is Status.CERTIFIED and above.confidence == 1.0, above.message
    assert above.bounds[1] >= float(constant) * (1 - 1e-12)
    below = decide(net, constant * (1 - SIDE))
    assert below.status is Status.REFUTED, below.message
    assert below.certificate["kind"] == "lipschitz-pair"
    assert below.counterexample["quotient_lower"] > float(constant) * (1 - SIDE)


@pytest.mark.parametrize("weights, act, constant", [
    ([[[3.0, 0.0], [0.0, 4.0]]], None, 4),          # rho = 16 itself passes the exact check
    (*ABS[:2], 1),                                   # multipliers rounded to (1, 1)
    (*LEAKY_HALF[:2], 6),                            # the product bound is exactly 6
    ([[[3.0]], [[-0.625]]], nn.Tanh, sp.Rational(15, 8)),
])
def test_exactly_at_a_rational_constant_is_certified(weights, act, constant):
    v = decide(net_of(weights, act), constant)
    assert v.status is Status.CERTIFIED, v.message


def test_exactly_at_an_irrational_constant_is_neither_certified_nor_refuted():
    weights, act, constant = LINEAR
    v = decide(net_of(weights, act), constant)
    assert v.status is Status.INCONCLUSIVE
    lower, upper = v.bounds
    assert lower <= float(constant) <= upper and "no decision" in v.message


def test_tanh_pair_is_evaluated_in_ball_arithmetic():
    net = net_of([[[3.0]], [[-0.625]]], nn.Tanh, bias=[[0.5], [0.0]])
    v = decide(net, sp.Rational(15, 8) * (1 - SIDE))
    assert v.status is Status.REFUTED and "ball arithmetic" in v.counterexample["evaluated"]


def test_a_network_too_large_for_lipsdp_is_inconclusive_unless_another_bound_decides():
    n = 1024
    W1 = [[1 / 32] if i % 2 == 0 else [-1 / 32] for i in range(n)]
    net = net_of([W1, [[1 / 32] * n]], nn.ReLU, name="wide")
    assert net.rows == n + 1
    v = decide(net, sp.Rational(3, 4))                 # 1/2 < 3/4 < 1 = the product
    assert v.status is Status.INCONCLUSIVE and "max_rows" in v.message
    product = decide(net, 1)
    assert product.status is Status.CERTIFIED
    assert product.certificate["kind"] == "lipschitz-product"
    assert decide(net, sp.Rational(1, 2) * (1 - SIDE)).status is Status.REFUTED


def test_the_check_decides_every_instance_at_smoke_scale():
    v = registry.get_check("networks.lipschitz").run(seed=0, scale="smoke")
    assert v.status is Status.EVIDENCE, v.message       # the naive comparison is an observation
    counts = v.evidence["counts"]
    assert counts == {"proved": 10, "evidence": 1}
    digits = v.evidence["digits_mlp"]
    assert digits["sampled_lower"] <= digits["lipsdp"] <= digits["naive"]


# --------------------------------------------------------------------------------------------
# network files and claims files
# --------------------------------------------------------------------------------------------

def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_network_paths_are_relative_to_the_claims_file(tmp_path, monkeypatch):
    write(tmp_path / "claims" / "nets" / "abs.py", ABS_FILE)
    toml = write(tmp_path / "claims" / "c.toml", """
        [[claim]]
        id = "abs"
        kind = "network-lipschitz"
        network = "nets/abs.py"
        at_most = 1
        """)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = loaders.load(toml)
    assert not loaded.errors
    (claim,) = loaded.claims
    assert claim.params["network"] == str(tmp_path / "claims" / "nets" / "abs.py")
    v = claim.check()
    assert v.status is Status.CERTIFIED, v.message
    # the decider wrote the fingerprint into the claim; the kernel reads it from there
    net = M.load_network(claim.params["network"])
    assert v.claim["network_sha256"] == net.sha256 == claim.params["network_sha256"]


@pytest.mark.parametrize("body, words", [
    ("from torch import nn\nmodel = nn.Sequential(nn.Linear(2, 2), nn.GELU(), nn.Linear(2, 1))",
     "GELU is not supported"),
    ("from torch import nn\nmodel = nn.Sequential(nn.Conv2d(1, 1, 3))", "Conv2d is not supported"),
    ("model = lambda x: x", "expected a torch.nn.Sequential"),
    ("x = 1", "must define `model`"),
    ("raise RuntimeError('no data here')", "RuntimeError: no data here"),
    ("import os\nos._exit(3)", "exit code 3"),
])
def test_a_network_file_that_is_not_a_supported_sequential_is_a_clear_error(tmp_path, body,
                                                                            words):
    write(tmp_path / "net.py", body)
    claim = networks.network_lipschitz(str(tmp_path / "net.py"), 1, id="bad")
    v = claim.check()
    assert v.status is Status.ERROR and words in v.message, v.message


def test_missing_file_other_norms_and_a_changed_file_are_refused(tmp_path):
    v = networks.network_lipschitz(str(tmp_path / "none.py"), 1, id="m").check()
    assert v.status is Status.ERROR and "does not exist" in v.message
    path = write(tmp_path / "abs.py", ABS_FILE)
    with pytest.raises(InvalidClaim, match="2-norm Lipschitz constant only"):
        networks.network_lipschitz(str(path), 1, norm="inf", id="n")
    pinned = networks.network_lipschitz(str(path), 1, network_sha256="0" * 64, id="p").check()
    assert pinned.status is Status.ERROR and "the network file changed" in pinned.message


# --------------------------------------------------------------------------------------------
# lipschitz-stable with a network perturbation (Theorem 2)
# --------------------------------------------------------------------------------------------

def stable(tmp_path, f, **fields):
    from theorems import sharp

    path = write(tmp_path / "abs.py", ABS_FILE)
    return sharp.lipschitz_stable(f, (0,), variables=["x"], zeta_network=str(path), id="s",
                                  **fields)


def test_perturbation_below_the_modulus_keeps_the_unique_minimizer(tmp_path):
    v = stable(tmp_path, "3/2*Abs(x) + x**2").check()
    assert v.status is Status.PROVED, v.message
    cert = v.certificate
    assert cert["kind"] == "sharp-lipsdp"
    m = sp.Rational(cert["sharp"]["modulus"])
    assert 1 < m <= sp.Rational(3, 2)                   # above Lip(|x|) = 1, at most alpha*


def test_perturbation_above_the_modulus_is_inconclusive_never_refuted(tmp_path):
    # |x|/2 + x^2 + |x| still has argmin {0}: L >= m only means Theorem 2 does not apply
    v = stable(tmp_path, "Abs(x)/2 + x**2").check()
    assert v.status is Status.INCONCLUSIVE and "does not apply" in v.message


def test_radius_and_perturbation_together(tmp_path):
    both = stable(tmp_path, "3/2*Abs(x) + x**2", radius="5/4").check()
    assert both.status is Status.PROVED and both.certificate["kind"] == "sharp-lipsdp"
    assert sp.Rational(both.certificate["sharp"]["modulus"]) >= sp.Rational(5, 4)
    false = stable(tmp_path, "3/2*Abs(x) + x**2", radius=2).check()
    assert false.status is Status.REFUTED and false.certificate["kind"] == "tilt"


def test_inf_norm_modulus_is_divided_by_sqrt_d(tmp_path):
    from theorems import sharp

    # zeta(x, y) = |x| (Lip 1); f = 2 max(|x|, |y|) is sharp with modulus 2 in the inf-norm,
    # 2 / sqrt(2) = sqrt(2) > 1 in the 2-norm terms that LipSDP speaks
    path = write(tmp_path / "absx.py", """
        import torch
        from torch import nn
        model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double()
        with torch.no_grad():
            model[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64))
            model[0].bias.zero_()
            model[2].weight.copy_(torch.tensor([[1.0, 1.0]], dtype=torch.float64))
            model[2].bias.zero_()
        """)
    v = sharp.lipschitz_stable("2*Max(Abs(x), Abs(y))", (0, 0), variables=["x", "y"],
                               norm="inf", zeta_network=str(path), id="inf").check()
    assert v.status is Status.PROVED, v.message
    m = sp.Rational(v.certificate["sharp"]["modulus"])
    assert m ** 2 > 2 and m <= 2
    wrong = sharp.lipschitz_stable("2*Abs(x)", (0,), variables=["x"],
                                   zeta_network=str(path), id="dims")
    assert "needs R^1 -> R" in wrong.check().message
