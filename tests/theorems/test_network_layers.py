"""network-lipschitz on the layers people use: exactly known constants certified just above and
refuted just below, the slope bounds of GELU and SiLU proved, other norms, brackets on every
verdict, the time limit, and the kernel rejecting every edit of the new certificates.

Constants derived by hand:

* a 1-channel 3x3 convolution with circular padding 1 on 4 x 4 inputs is the circular
  cross-correlation on the 4 x 4 torus, a normal operator diagonalized by the 2-D DFT: its
  singular values are |K^(u, v)|, K^(u, v) = sum_ij k_ij w^(u i + v j), w = e^(2 pi i / 4) = i
  (cross-correlation conjugates K^, which keeps the modulus), so L_2 = max_uv |K^(u, v)|;
* a 1x1 convolution with kernel matrix K (C_out x C_in) on C_in x H x W inputs is K (x) I_HW:
  L_2 = ||K||_2;
* x + a Q x with Q a permutation matrix and a >= 0: ||I + a Q||_2 = 1 + a (Q is orthogonal so
  ||I + a Q|| <= 1 + a, and Q 1 = 1 gives equality);
* GELU(x) and SiLU(x) on R: L = sup phi' (GELU: (1 + erf 1) / 2 + 1 / (e sqrt(pi)), SiLU:
  SiLU'(x*), x* tanh(x* / 2) = 2; derivations in numerics.lipschitz), approached by pairs
  near sqrt 2 and x*;
* one Linear W in the inf-norm: L_inf = ||W||_inf = the largest absolute row sum, in the
  1-norm the largest column sum (the absolute product is exact for one layer).
"""

from __future__ import annotations

import json
import math

import flint
import mpmath
import numpy as np
import pytest
import sympy as sp
import torch
from torch import nn

from numerics import lipschitz as L
from numerics.models import Residual
from theorems.networks import mathematics as M
from theorems.networks.checks import KERNEL3, _circular_conv
from verify import kernel
from verify.kernel.networks import layers_sha256
from verify.verdict import Status

SIDE = sp.Rational(1, 10 ** 6)


def exact_module(module: nn.Module, weight, bias=None) -> nn.Module:
    with torch.no_grad():
        module.weight.copy_(torch.tensor(weight, dtype=torch.float64))
        if module.bias is not None:
            module.bias.copy_(torch.zeros_like(module.bias) if bias is None
                              else torch.tensor(bias, dtype=torch.float64))
    return module


def decide(net, at_most, norm="2", **kw):
    claim = M.claim_for(net, at_most, id=f"{net.source} <= {at_most}", norm=norm,
                        time_limit=kw.pop("time_limit", None))
    return M.decide_lipschitz(net, claim.params["at_most"], claim=claim.describe(), norm=norm,
                              time_limit=claim.params.get("time_limit"), **kw)


def data(verdict):
    return json.loads(verdict.to_json())


def assert_both_sides(net, constant, norm="2"):
    """Certified at constant (1 + 1e-6), refuted at constant (1 - 1e-6), brackets re-checked."""
    above = decide(net, constant * (1 + SIDE), norm=norm)
    assert above.status is Status.CERTIFIED, above.message
    below = decide(net, constant * (1 - SIDE), norm=norm)
    assert below.status is Status.REFUTED, below.message
    for v in (above, below):
        lo, hi = v.bounds
        assert lo <= float(constant) * (1 + 1e-9) and hi >= float(constant) * (1 - 1e-9)
        assert kernel.recheck([data(v)]) == []
    return above, below


# --------------------------------------------------------------------------------------------
# convolutions, pooling, residual blocks
# --------------------------------------------------------------------------------------------

def test_circular_convolution_norm_is_the_largest_dft_modulus():
    model, constant = _circular_conv()
    net = M.network_from_model(model, "circular", input_shape=(1, 4, 4))
    dense = net.layers[0].matrix_f64()                 # the structured map, as numbers
    assert abs(np.linalg.norm(dense, 2) - float(constant)) < 1e-12
    above, below = assert_both_sides(net, constant)
    for v in (above, below):                           # the claim's input shape is checked
        d = data(v)
        d["claim"]["input_shape"] = [1, 4, 4]
        assert kernel.check(d["claim"], d["status"], d["certificate"]) == (True, "")
        for shape in ([1, 2, 8], [16, 1, 1], [1, 4]):
            d["claim"]["input_shape"] = shape
            assert not kernel.check(d["claim"], d["status"], d["certificate"])[0], shape


def test_one_by_one_convolution_is_its_kernel_matrix():
    K = [[1.0, -2.0, 0.5], [0.25, 1.0, 3.0]]
    conv = exact_module(nn.Conv2d(3, 2, 1).double(), [[[[v]] for v in row] for row in K])
    net = M.network_from_model(nn.Sequential(conv), "1x1", input_shape=(3, 2, 2))
    G = sp.Matrix(K) * sp.Matrix(K).T
    constant = sp.sqrt(max(G.eigenvals(), key=lambda e: float(e)))
    assert_both_sides(net, constant)


@pytest.mark.parametrize("a", [sp.Rational(3, 4), sp.Integer(2)])
def test_residual_of_a_scaled_permutation_has_constant_one_plus_a(a):
    n = 4
    Q = [[float(a) if j == (i + 1) % n else 0.0 for j in range(n)] for i in range(n)]
    body = exact_module(nn.Linear(n, n).double(), Q)
    net = M.network_from_model(nn.Sequential(Residual(body)), "residual")
    assert_both_sides(net, 1 + a)
    exact = decide(net, 1 + a)                          # ||a Q||_1 = ||a Q||_inf = a exactly
    assert exact.status is Status.CERTIFIED, exact.message


@pytest.fixture(scope="module")
def small_cnn():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          Residual(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.GELU())),
                          nn.Flatten(), nn.Linear(64, 10))
    return model, M.network_from_model(model, "cnn", input_shape=(1, 8, 8))


def test_a_small_cnn_with_pooling_and_a_residual_block(small_cnn):
    model, net = small_cnn
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        ours = L._torch_forward(net.layers)(x.reshape(3, -1).double())
        assert torch.allclose(ours, model.double()(x.double()), atol=1e-12)
    v = decide(net, 1e-3, samples=64, steps=0)          # far below: a pair refutes it
    assert v.status is Status.REFUTED
    hi = decide(net, 1e6, samples=64, steps=0)          # far above: the first rung proves it
    assert hi.status is Status.CERTIFIED
    assert hi.certificate["upper"]["kind"] == "lipschitz-abs-product"
    assert kernel.recheck([data(v), data(hi)]) == []


@pytest.mark.slow
def test_the_ladder_climbs_on_a_small_cnn(small_cnn):
    _, net = small_cnn
    v = decide(net, 0.5)                                 # between the pair and the ladder
    names = [r["rung"] for r in v.evidence["rungs"]]
    assert names[:3] == ["abs-product", "product (exact norms)", "product (spectral norms)"]
    bounds = [r["bound"] for r in v.evidence["rungs"]]
    assert v.bounds[1] == min(bounds) and v.bounds[0] <= v.bounds[1]
    assert kernel.recheck([data(v)]) == []


# --------------------------------------------------------------------------------------------
# GELU and SiLU: the slope bounds, proved, and the constants of phi on R
# --------------------------------------------------------------------------------------------

x = sp.Symbol("x", real=True)
PHI = (1 + sp.erf(x / sp.sqrt(2))) / 2
GELU = x * PHI
SILU = x / (1 + sp.exp(-x))
GELU_SUP = (1 + sp.erf(1)) / 2 + 1 / (sp.E * sp.sqrt(sp.pi))


def test_gelu_slope_bound_is_proved():
    d1, d2 = sp.diff(GELU, x), sp.diff(GELU, x, 2)
    density = sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi)
    assert sp.simplify(d2 - density * (2 - x ** 2)) == 0        # rises on [-sqrt2, sqrt2] only
    assert sp.simplify(d1 + d1.subs(x, -x) - 1) == 0            # GELU'(x) + GELU'(-x) = 1
    assert sp.limit(d1, x, sp.oo) == 1 and sp.limit(d1, x, -sp.oo) == 0
    assert sp.simplify(d1.subs(x, sp.sqrt(2)) - GELU_SUP) == 0   # the largest slope
    flint.ctx.prec = 200
    try:
        sup = (1 + flint.arb(1).erf()) / 2 + 1 / (flint.arb(1).exp() * flint.arb.pi().sqrt())
        beta = flint.arb(L.GELU_SLOPE_MAX)
        assert bool(beta >= sup) and bool(beta - sup < flint.arb("1e-15"))
    finally:
        flint.ctx.prec = 53
    a, b = L.activation_slopes("gelu")
    assert (a, b) == (1 - L.GELU_SLOPE_MAX, L.GELU_SLOPE_MAX) and a < 0


def test_silu_slope_bound_is_proved():
    d1, d2 = sp.diff(SILU, x), sp.diff(SILU, x, 2)
    sig = 1 / (1 + sp.exp(-x))
    assert sp.simplify((d2 - sig * (1 - sig) * (2 - x * sp.tanh(x / 2))).rewrite(sp.exp)) == 0
    assert sp.simplify((d1 + d1.subs(x, -x) - 1).rewrite(sp.exp)) == 0
    assert sp.limit(d1, x, sp.oo) == 1 and sp.limit(d1, x, -sp.oo) == 0
    g = x * sp.tanh(x / 2)                                       # even, increasing on [0, oo)
    assert sp.simplify(sp.diff(g, x) - (sp.tanh(x / 2) + x * (1 - sp.tanh(x / 2) ** 2) / 2)) == 0
    flint.ctx.prec = 200
    try:
        lo, hi = flint.arb("2.3993572805154676"), flint.arb("2.3993572805154677")
        root = lambda t: t * (t / 2).tanh() - 2                  # noqa: E731
        assert bool(root(lo) < 0) and bool(root(hi) > 0)          # x* in [lo, hi]
        ball = lo.union(hi)
        s = 1 / (1 + (-ball).exp())
        slope = s * (1 + ball * (1 - s))                          # SiLU' over the ball
        assert bool(flint.arb(L.SILU_SLOPE_MAX) >= slope)
        assert bool(flint.arb(L.SILU_SLOPE_MAX) - slope < flint.arb("1e-14"))
    finally:
        flint.ctx.prec = 53


def test_kernel_and_numerics_share_the_slope_table():
    from verify.kernel import layers as KL

    for name in ("relu", "tanh", "sigmoid", "identity", "gelu", "silu"):
        assert KL.slopes(name, {}) == L.activation_slopes(name)


def scalar_net(act: nn.Module) -> M.Network:
    model = nn.Sequential(exact_module(nn.Linear(1, 1).double(), [[1.0]]), act,
                          exact_module(nn.Linear(1, 1).double(), [[1.0]]))
    return M.network_from_model(model, type(act).__name__)


def test_gelu_constant_is_certified_just_above_and_refuted_just_below():
    mpmath.mp.dps = 40
    beta = (1 + mpmath.erf(1)) / 2 + 1 / (mpmath.e * mpmath.sqrt(mpmath.pi))
    constant = sp.Rational(str(beta))                             # 40 digits of sup GELU'
    above, below = assert_both_sides(scalar_net(nn.GELU()), constant)
    assert abs(below.counterexample["x"][0] - math.sqrt(2)) < 0.05


def test_silu_constant_is_certified_just_above_and_refuted_just_below():
    mpmath.mp.dps = 40
    root = mpmath.findroot(lambda t: t * mpmath.tanh(t / 2) - 2, 2.4)
    s = 1 / (1 + mpmath.exp(-root))
    constant = sp.Rational(str(s * (1 + root * (1 - s))))
    above, below = assert_both_sides(scalar_net(nn.SiLU()), constant)
    assert abs(below.counterexample["x"][0] - float(root)) < 0.05


# --------------------------------------------------------------------------------------------
# the 1- and inf-norms
# --------------------------------------------------------------------------------------------

W = [[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]]


@pytest.mark.parametrize("norm, constant", [("inf", sp.Rational(17, 4)),
                                            ("1", sp.Rational(4))])
def test_inf_and_one_norm_constants_of_a_linear_layer(norm, constant):
    net = M.network_from_model(nn.Sequential(exact_module(nn.Linear(3, 2).double(), W)), "W")
    above, below = assert_both_sides(net, constant, norm)
    assert above.certificate["upper"]["kind"] == "lipschitz-abs-product"
    assert decide(net, constant, norm).status is Status.CERTIFIED      # exact: the row sum


def test_inf_norm_bound_is_stated_as_an_upper_bound_only():
    torch.manual_seed(1)
    net = M.network_from_model(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)),
                               "tanh")
    v = decide(net, sp.Rational(1, 1000), "inf", steps=0)
    assert v.status is Status.REFUTED
    lower, upper = v.bounds
    assert upper > lower * 1.01                          # the absolute product is not tight
    mid = decide(net, lower * 1.001, "inf", steps=0)     # the same pairs: not refuted
    assert mid.status is Status.INCONCLUSIVE
    assert "product of absolute weight matrices, an upper bound only" in mid.message


# --------------------------------------------------------------------------------------------
# brackets, the time limit, and tampering
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tanh_net():
    torch.manual_seed(0)
    return M.network_from_model(nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 12),
                                              nn.Tanh(), nn.Linear(12, 2)), "tanh-mlp")


def test_no_verdict_without_a_bracket(tanh_net):
    verdicts = [decide(tanh_net, 1e-4), decide(tanh_net, 100),
                decide(tanh_net, 0.3, steps=0), decide(tanh_net, 0.5, time_limit=1e-9)]
    statuses = {v.status for v in verdicts}
    assert {Status.REFUTED, Status.CERTIFIED} <= statuses
    for v in verdicts:
        lo, hi = v.bounds
        assert hi is not None and 0 <= lo <= hi, v.message
        assert v.certificate["kind"] == "lipschitz-bracket"
        assert kernel.recheck([data(v)]) == [], v.message
    limited = verdicts[-1]
    assert limited.status is Status.INCONCLUSIVE and "time limit" in limited.message
    assert len(limited.evidence["rungs"]) == 1              # the first rung always runs


def test_bracket_tampering_fails_recheck(tanh_net):
    v = decide(tanh_net, 0.3, steps=0)
    base = data(v)
    assert kernel.recheck([base]) == []
    lo, hi = v.bounds
    edits = {
        "upper end lowered": lambda d: d.update(bounds=[lo, hi / 2]),
        "lower end raised": lambda d: d.update(bounds=[hi, hi]),
        "lower end without a pair": lambda d: d["certificate"].update(lower=None),
        "no upper": lambda d: d["certificate"].update(upper=None),
        "no bounds": lambda d: d.update(bounds=None),
        "at_most edited": lambda d: d["claim"].update(network_sha256="1" * 64),
        "norm edited": lambda d: d["claim"].update(norm="1"),
    }
    if lo == 0:
        edits.pop("lower end without a pair")
    for name, edit in edits.items():
        d = data(v)
        edit(d)
        assert kernel.recheck([d]) != [], name


def _halve(text: str) -> str:
    return str(L.to_fmpq(text) / 2)


def test_stage_certificates_reject_every_edit():
    from theorems.networks.ladder import Ladder

    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(),
                          Residual(nn.Sequential(nn.Linear(4, 4), nn.SiLU(), nn.Linear(4, 4))),
                          Residual(nn.Linear(4, 4)), nn.Linear(4, 2))
    net = M.network_from_model(model, "stages")
    ladder = Ladder(net.layers)
    methods = set()
    for name in ladder.names()[1:]:
        rung = ladder.rung(name)
        claim = M.claim_for(net, sp.Rational(int(rung.bound.p), int(rung.bound.q)),
                            id=name).describe()
        good = {"kind": "lipschitz-bracket", "layers": net.data, "upper": rung.certificate,
                "lower": None}
        assert kernel.check(claim, "certified", good) == (True, ""), name
        stages = rung.certificate["stages"]
        methods |= {s["method"] for s in stages}
        edits = {
            "at_most halved": lambda c, u: c.update(at_most=_halve(c["at_most"])),
            "kind edited": lambda c, u: c.update(kind="lipschitz-stable"),
            "norm edited": lambda c, u: c.update(norm="inf"),
            "fingerprint edited": lambda c, u: c.update(network_sha256="0" * 64),
            "a stage dropped": lambda c, u: u["stages"].pop(),
            "stages reordered": lambda c, u: u["stages"].reverse(),
        }
        for i, st in enumerate(stages):
            edits[f"stage {i} bound halved"] = \
                lambda c, u, i=i: u["stages"][i].update(bound=_halve(u["stages"][i]["bound"]))
            if st["method"] == "product":
                edits[f"stage {i} norm halved"] = lambda c, u, i=i: u["stages"][i][
                    "norms"].__setitem__(0, _halve(u["stages"][i]["norms"][0]))
            if st["method"] == "lipsdp" and st["multipliers"]:
                edits[f"stage {i} multiplier negative"] = lambda c, u, i=i: u["stages"][i][
                    "multipliers"][0].__setitem__(0, "-1")
                edits[f"stage {i} rho halved"] = lambda c, u, i=i: u["stages"][i].update(
                    rho=_halve(u["stages"][i]["rho"]))
            if st["method"] == "residual":
                edits[f"stage {i} body dropped"] = \
                    lambda c, u, i=i: u["stages"][i].update(body=[])
            if st["method"] == "residual-linear":
                edits[f"stage {i} norm halved"] = lambda c, u, i=i: u["stages"][i].update(
                    norm=_halve(u["stages"][i]["norm"]))
        for label, edit in edits.items():
            c, cert = json.loads(json.dumps(claim)), json.loads(json.dumps(good))
            edit(c, cert["upper"])
            ok, reason = kernel.check(c, "certified", cert)
            assert not ok and reason, (name, label)
        # transplanted: the upper certificate alone, onto another claim kind, or as a refutation
        assert not kernel.check(dict(claim, kind="lipschitz-stable"), "proved", good)[0]
        assert not kernel.check(claim, "refuted", good)[0]
    assert {"product", "lipsdp", "residual"} <= methods


def test_product_and_abs_product_witnesses_are_exact():
    from verify.kernel import networks as K
    from verify.kernel.layers import parse_layers

    conv = exact_module(nn.Conv2d(1, 2, 3, padding=1).double(),
                        [[list(map(list, KERNEL3))], [[[1.0, 0, 0], [0, -1.0, 0], [0, 0, 0.5]]]])
    net = M.network_from_model(nn.Sequential(conv, nn.ReLU(), nn.Flatten(),
                                             nn.Linear(32, 1)), "conv", input_shape=(1, 4, 4))
    layers = parse_layers(net.data)
    dense = layers[0].matrix_f64()
    sigma = np.linalg.norm(dense, 2)
    c = L._dyadic(sigma * (1 + 1e-6), 40, up=True)
    assert K.layer_norm_at_most(layers[0], c)
    assert not K.layer_norm_at_most(layers[0], L._dyadic(sigma * (1 - 1e-6), 40, up=False))
    # the im2col bound: sqrt(factor) ||K||_2 >= ||conv||_2, and it is accepted as such
    K_mat = np.array([KERNEL3, [[1.0, 0, 0], [0, -1.0, 0], [0, 0, 0.5]]]).reshape(2, 9)
    factor = layers[0].im2col_factor()
    assert factor == 9 == net.layers[0].im2col_factor()
    im2col = math.sqrt(factor) * np.linalg.norm(K_mat, 2)
    assert im2col >= sigma
    assert K.layer_norm_at_most(layers[0], L._dyadic(im2col * (1 + 1e-9), 40, up=True))
    # the absolute product equals the numerics' exact one
    assert K.abs_product(layers) == tuple(__import__(
        "numerics.lipschitz_ladder", fromlist=["x"]).abs_product_bounds(net.layers))
    # an edited kernel entry, re-pinned: the hash follows, the bound changes with it
    d = json.loads(json.dumps(net.data))
    d[0]["kernel"][0][0][0][0] = "100"
    assert layers_sha256(d) != net.sha256
    assert K.abs_product(parse_layers(d))[0] > K.abs_product(layers)[0]


def test_conv_json_is_validated_by_the_kernel():
    from verify.kernel.layers import parse_layers

    conv = nn.Conv2d(1, 1, 3, padding=1)
    net = M.network_from_model(nn.Sequential(conv), "conv", input_shape=(1, 4, 4))
    for edit in (lambda d: d[0].update(stride=[0, 1]), lambda d: d[0].update(in_shape=[2, 4, 4]),
                 lambda d: d[0].update(padding_mode="mirror"),
                 lambda d: d[0]["kernel"][0][0][0].pop(), lambda d: d[0].update(type="conv3d")):
        d = json.loads(json.dumps(net.data))
        edit(d)
        with pytest.raises((ValueError, KeyError, IndexError)):
            parse_layers(d)


def test_the_readme_example_runs_and_its_bracket_rechecks(capsys):
    from pathlib import Path
    import re

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Lipschitz constants of networks", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)            # noqa: S102
    verdict = namespace["verdict"]
    assert verdict.status in (Status.CERTIFIED, Status.INCONCLUSIVE, Status.REFUTED)
    assert verdict.bounds[1] is not None and kernel.recheck([data(verdict)]) == []
    assert verdict.status.value in capsys.readouterr().out


def test_recheck_on_the_command_line_checks_an_inconclusive_bracket(cli_env, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "residual_gelu.py"
    (tmp_path / "c.toml").write_text(f"""
[[claim]]
id = "too-tight"
kind = "network-lipschitz"
network = "{example}"
at_most = 0.5
time_limit = 0.001
""")

    def sharpflat(*args):
        return subprocess.run([sys.executable, "-m", "verify", *args, "--db",
                               str(tmp_path / "r.db")], env=cli_env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)

    res = sharpflat("check", "c.toml", "--json", "v.json")
    assert res.returncode == 0 and "inconclusive" in res.stdout, res.stdout + res.stderr
    res = sharpflat("recheck", "v.json")
    assert res.returncode == 0 and "1 undecided with certified bounds" in res.stdout
    verdicts = json.loads((tmp_path / "v.json").read_text())
    verdicts[0]["bounds"][1] /= 10                                  # an upper end too low
    (tmp_path / "e.json").write_text(json.dumps(verdicts))
    res = sharpflat("recheck", "e.json")
    assert res.returncode == 3 and "FAIL too-tight" in res.stdout


def test_abs_product_certificate_rejects_every_edit():
    net = M.network_from_model(nn.Sequential(exact_module(nn.Linear(3, 2).double(), W)), "W")
    v = decide(net, sp.Rational(4), "1")                       # the largest column sum
    assert v.status is Status.CERTIFIED
    assert v.certificate["upper"]["kind"] == "lipschitz-abs-product"
    assert check(data(v)) == (True, "")
    edits = {
        "at_most lowered": lambda d: d["claim"].update(at_most="39/10"),
        "norm edited to inf": lambda d: d["claim"].update(norm="inf"),    # 17/4 > 4
        "norm edited to 2": lambda d: d["claim"].update(norm="2"),        # sqrt(17) > 4
        "kind edited": lambda d: d["claim"].update(kind="lipschitz-stable"),
        "status flipped": lambda d: d.update(status="refuted"),
        "fingerprint edited": lambda d: d["claim"].update(network_sha256="0" * 64),
        "weight edited": lambda d: d["certificate"]["layers"][0]["weight"][0].__setitem__(
            0, "2"),
        "witness added": lambda d: d["certificate"]["upper"].update(layers=[]),
    }
    for name, edit in edits.items():
        d = data(v)
        edit(d)
        ok, reason = check(d)
        assert not ok and reason, name
    d = data(v)                                                 # a steeper column, re-pinned
    d["certificate"]["layers"][0]["weight"][1][2] = "4"        # column 3 sums to 9/2 now
    d["claim"]["network_sha256"] = layers_sha256(d["certificate"]["layers"])
    ok, reason = check(d)
    assert not ok and "absolute product" in reason


def check(d):
    return kernel.check(d["claim"], d["status"], d["certificate"])
