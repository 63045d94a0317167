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
  spectral norm sqrt(1024) / 32 = 1 (the product bound is 1); 1025 LipSDP rows. With one
  multiplier t per neuron, -M = [[rho, -t W0^T], [-t W0, 2t I - W1^T W1]]; W0 is orthogonal to
  W1^T, so rho(t) = t ||W0||^2 / 2 = t / 2 for t > 1/2: LipSDP-Neuron gives 1/2 in the limit.
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
    assert below.certificate["kind"] == "lipschitz-bracket"
    assert below.certificate["lower"] is not None
    assert below.counterexample["quotient_lower"] > float(constant) * (1 - SIDE)
    for v in (above, below):                    # both ends of both brackets re-checked
        assert recheck([as_data(v)]) == []
        lo, hi = v.bounds
        assert lo <= float(constant) * (1 + 1e-12) and hi >= float(constant) * (1 - 1e-12)


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


def test_a_network_of_1025_lipsdp_rows_is_certified_by_the_ladder():
    n = 1024
    W1 = [[1 / 32] if i % 2 == 0 else [-1 / 32] for i in range(n)]
    net = net_of([W1, [[1 / 32] * n]], nn.ReLU, name="wide")
    assert net.rows == n + 1
    v = decide(net, sp.Rational(3, 4))                 # 1/2 < 3/4 < 1 = the product
    assert v.status is Status.CERTIFIED, v.message
    assert v.certificate["upper"]["stages"][0]["method"] == "lipsdp"
    assert 0.5 <= v.bounds[1] <= 0.75
    product = decide(net, 1)                           # the first rung that proves it
    assert product.status is Status.CERTIFIED
    assert product.certificate["upper"]["kind"] == "lipschitz-abs-product"
    assert decide(net, sp.Rational(1, 2) * (1 - SIDE)).status is Status.REFUTED


def test_the_check_decides_every_instance_at_smoke_scale():
    v = registry.get_check("networks.lipschitz").run(seed=0, scale="smoke")
    assert v.status is Status.CERTIFIED, v.message
    counts = v.evidence["counts"]
    # the closed-form constants certified just above (the claims' own verdicts) and refuted
    # just below (expected refutations: proved), the naive comparison an exact inequality
    assert counts == {"certified": 8, "proved": 9}
    assert v.trust == "exact"
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
    ("from torch import nn\nmodel = nn.Sequential(nn.Linear(2, 2), nn.GELU('tanh'), "
     "nn.Linear(2, 1))", "only the exact (erf) GELU"),
    ("from torch import nn\nmodel = nn.Sequential(nn.Conv2d(1, 1, 3))",
     "Conv2d needs inputs of shape (C, H, W)"),
    ("from torch import nn\nmodel = nn.Sequential(nn.Linear(2, 2), nn.Softmax(-1))",
     "Softmax is not supported"),
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


def test_missing_file_unknown_norms_and_a_changed_file_are_refused(tmp_path):
    v = networks.network_lipschitz(str(tmp_path / "none.py"), 1, id="m").check()
    assert v.status is Status.ERROR and "does not exist" in v.message
    path = write(tmp_path / "abs.py", ABS_FILE)
    with pytest.raises(InvalidClaim, match="norm must be one of"):
        networks.network_lipschitz(str(path), 1, norm="3", id="n")
    with pytest.raises(InvalidClaim, match="input_shape"):
        networks.network_lipschitz(str(path), 1, input_shape=[1, 8], id="s")
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


# --------------------------------------------------------------------------------------------
# certificates: the kernel (verify.kernel.networks) re-checks them and rejects tampering
# --------------------------------------------------------------------------------------------

def kernel_check(data):
    from verify import kernel

    return kernel.check(data["claim"], data["status"], data["certificate"])


def recheck(datas):
    from verify import kernel

    return kernel.recheck(datas)


def as_data(verdict):
    import json

    return json.loads(verdict.to_json())


def rehash(data, cert, key="network_sha256"):
    """Re-pin the claim to the (edited) layers of ``cert``, as a forger would."""
    from verify.kernel.networks import layers_sha256

    data["claim"][key] = layers_sha256(cert["layers"])


@pytest.fixture(scope="module")
def abs_verdicts():
    net = net_of(*ABS[:2], name="abs")
    return {"certified": decide(net, 1), "refuted": decide(net, sp.Rational(999, 1000)),
            "net": net}


def test_lipsdp_stage_is_rechecked_and_tampering_fails(abs_verdicts):
    v = abs_verdicts["certified"]
    assert v.certificate["kind"] == "lipschitz-bracket"
    upper = v.certificate["upper"]
    assert upper["kind"] == "lipschitz-upper" and upper["stages"][0]["method"] == "lipsdp"
    assert kernel_check(as_data(v)) == (True, "")
    stage = lambda d: d["certificate"]["upper"]["stages"][0]            # noqa: E731
    edits = {
        "at_most lowered": lambda d: d["claim"].update(at_most="999/1000"),
        "status flipped": lambda d: d.update(status="refuted"),
        "norm edited": lambda d: d["claim"].update(norm="inf"),
        "kind edited": lambda d: d["claim"].update(kind="lipschitz-stable"),
        "fingerprint edited": lambda d: d["claim"].update(network_sha256="0" * 64),
        "weight edited": lambda d: d["certificate"]["layers"][1]["weight"][0].__setitem__(
            0, "2"),
        "rho lowered": lambda d: stage(d).update(rho="999/1000"),
        "bound lowered": lambda d: stage(d).update(bound="1/2"),
        "negative multiplier": lambda d: stage(d)["multipliers"][0].__setitem__(0, "-1"),
        "multiplier dropped": lambda d: stage(d)["multipliers"][0].pop(),
        "float multiplier": lambda d: stage(d)["multipliers"][0].__setitem__(0, 1.0),
        "method edited": lambda d: stage(d).update(method="product"),
        "stage dropped": lambda d: d["certificate"]["upper"]["stages"].pop(),
        "upper dropped": lambda d: d["certificate"].update(upper=None),
        "layers inside upper": lambda d: d["certificate"]["upper"].update(
            layers=d["certificate"]["layers"]),
    }
    for name, edit in edits.items():
        data = as_data(v)
        edit(data)
        ok, reason = kernel_check(data)
        assert not ok and reason, name
    # a forger who edits a weight and re-pins the claim to the edited layers: the LipSDP
    # matrix of the steeper network (2 relu(x) + relu(-x), constant 2) is not <= 0 at rho = 1
    data = as_data(v)
    data["certificate"]["layers"][1]["weight"][0][0] = "2"
    rehash(data, data["certificate"])
    ok, reason = kernel_check(data)
    assert not ok and "negative semidefinite" in reason
    # transplanted onto a claim of another kind: refused
    from verify import kernel

    data = as_data(v)
    assert not kernel.check(dict(data["claim"], kind="lipschitz-stable"), "proved",
                            data["certificate"])[0]


def test_pair_certificate_is_evaluated_exactly_and_tampering_fails(abs_verdicts):
    v = abs_verdicts["refuted"]
    cert = v.certificate
    assert cert["kind"] == "lipschitz-bracket" and kernel_check(as_data(v)) == (True, "")
    from verify.kernel import layers as KL
    from verify.kernel import networks as K

    pair = cert["lower"]
    q2 = K.squared_quotient(KL.parse_layers(cert["layers"]), pair["x"], pair["y"])
    assert q2 == 1                          # |x| between two inputs of one sign, exactly
    edits = {
        "at_most raised to the constant": lambda d: d["claim"].update(at_most="1"),
        "status flipped": lambda d: d.update(status="certified"),
        "y = x": lambda d: d["certificate"]["lower"].update(y=d["certificate"]["lower"]["x"]),
        "x of the wrong length": lambda d: d["certificate"]["lower"]["x"].append("0"),
        "inputs of opposite signs": lambda d: d["certificate"]["lower"].update(x=["1"],
                                                                              y=["-1"]),
        "pair dropped": lambda d: d["certificate"].update(lower=None),
        "weight edited": lambda d: d["certificate"]["layers"][1]["weight"][0].__setitem__(
            0, "1/2"),
    }
    for name, edit in edits.items():
        data = as_data(v)
        edit(data)
        ok, reason = kernel_check(data)
        assert not ok and reason, name
    # re-pinned to a flatter network (relu(x)/2 + relu(-x)/2, constant 1/2): no longer > 0.999
    data = as_data(v)
    for i in (0, 1):
        data["certificate"]["layers"][1]["weight"][0][i] = "1/2"
    rehash(data, data["certificate"])
    assert kernel_check(data)[0] is False


def test_product_certificate_needs_exact_norm_bounds():
    from verify import kernel

    net = net_of(*LINEAR[:2], name="linear")
    claim = M.claim_for(net, "5.5", id="linear <= 5.5").describe()   # ||W||_2 ~ 5.465
    good = {"kind": "lipschitz-product", "layers": net.data, "norms": ["11/2"]}
    assert kernel.check(claim, "certified", good) == (True, "")
    ok, reason = kernel.check(claim, "certified", dict(good, norms=["27/5"]))  # 5.4 < ||W||
    assert not ok and "spectral norm" in reason
    ok, reason = kernel.check(dict(claim, at_most="5"), "certified", good)
    assert not ok and "exceeds at_most" in reason
    assert not kernel.check(claim, "refuted", good)[0]
    assert not kernel.check(claim, "certified", dict(good, norms=["11/2", "1"]))[0]


def test_composition_certificate_is_rechecked_and_tampering_fails(tmp_path):
    v = stable(tmp_path, "3/2*Abs(x) + x**2").check()
    assert v.status is Status.PROVED and kernel_check(as_data(v)) == (True, "")
    edits = {
        "f edited": lambda d: d["claim"].update(f="Abs(x)/2 + x**2"),
        "modulus lowered": lambda d: d["certificate"]["sharp"].update(modulus="1"),
        "zeta fingerprint dropped": lambda d: d["claim"].pop("zeta_network_sha256"),
        "zeta rho lowered": lambda d: d["certificate"]["lipschitz"].update(rho="1/4"),
        "status flipped": lambda d: d.update(status="refuted"),
        "kind edited": lambda d: d["claim"].update(kind="tilt-stable", radius="1"),
    }
    for name, edit in edits.items():
        data = as_data(v)
        edit(data)
        ok, reason = kernel_check(data)
        assert not ok and reason, name
    # zeta scaled to 2|x| (Lip 2 > 3/2 >= m) and re-pinned: the LipSDP check fails
    data = as_data(v)
    lip = data["certificate"]["lipschitz"]
    lip["layers"][1]["weight"][0] = ["2", "2"]
    rehash(data, lip, "zeta_network_sha256")
    assert kernel_check(data)[0] is False
    # the plain sharp-smt proof of the same f does not prove the claim with a network zeta
    data = as_data(v)
    ok, reason = kernel_check(dict(data, certificate=data["certificate"]["sharp"]))
    assert not ok and "sharp-lipsdp" in reason


def test_power_trace_lower_bounds_of_the_spectral_norm():
    """tr(G^(p+1)) / tr(G^p), rounded down, lies below ||W||_2^2 and rises to it with p."""
    import flint
    import numpy as np

    from theorems.networks.checks import _gram_lower

    rng = np.random.default_rng(0)
    for shape in ((5, 3), (3, 7)):
        A = rng.integers(-9, 10, size=shape)
        W = flint.fmpq_mat(*shape, [int(v) for v in A.ravel()])
        top = float(np.linalg.norm(A.astype(float), 2)) ** 2
        lows = [float(_gram_lower(W, p)) for p in (1, 4, 16, 64)]
        assert all(low <= top * (1 + 1e-12) for low in lows)
        assert lows == sorted(lows) and lows[-1] == pytest.approx(top, rel=1e-9)
