"""Tampering tests of the lambda-max certificates (kw-lambda-max, rayleigh-above): the kernel
derives lambda_max <= at_most from the claim (at_most, confidence, the parameter count) and
reads only witnesses from the certificate, so every edit of a genuine verdict fails, and a
certificate does not transplant onto another claim."""

import json

import pytest
import torch

import sharpflat
from kernel_edits import recheck
from verify import kernel


def every_edit_fails(verdict, edits):
    """Each edit alone (a path into the verdict's JSON and its new value) fails the kernel."""
    for path, value in edits.items():
        assert not recheck(verdict, **{path: value})[0], path


def genuine(model, at_most, status, kind):
    """The verdict on lambda_max <= at_most, with the status and certificate kind expected,
    accepted by the kernel as it is."""
    v = sharpflat.curvature_bound(*model, at_most=at_most, threads=1)
    assert v.status.value == status and v.certificate["kind"] == kind
    assert recheck(v) == (True, "")
    return v


@pytest.fixture(scope="module")
def model():
    """A 4-16-3 tanh MLP on random data: 131 parameters, so Lanczos stops on its residuals well
    before an invariant subspace and the bound is Kuczynski-Wozniakowski's formula."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 3)).double()
    X = torch.randn(40, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (40,))
    return net, torch.nn.CrossEntropyLoss(), (X, y)


@pytest.fixture(scope="module")
def bounds(model):
    v = sharpflat.curvature_bound(*model, at_most=1e6, threads=1)
    assert v.status.value == "certified" and not v.certificate["breakdown"]
    return v.bounds


def test_kw_lambda_max_fails_every_edit(model, bounds):
    rayleigh, upper = bounds
    v = genuine(model, upper * 1.001, "certified", "kw-lambda-max")
    cert = v.certificate
    edits = {  # the statement, in the claim
        "claim__at_most": upper * 0.999, "claim__confidence": 0.99,
        "claim__parameters": v.claim["parameters"] * 10, "claim__part": "top-eigenvalues",
        "claim__kind": "network-lipschitz",
        # the witnesses, one at a time
        "certificate__theta_max": cert["theta_max"] * (1 - 1e-6),
        "certificate__theta_min": cert["theta_min"] - 1.0,
        "certificate__steps": cert["steps"] + 1,
        "certificate__upper": cert["upper"] * (1 - 1e-9),
        "certificate__breakdown": True,
        "status": "proved"}
    every_edit_fails(v, edits)
    data = json.loads(v.to_json())
    del data["claim"]["confidence"]     # a probabilistic bound needs the claim's confidence
    assert kernel.recheck([data])


def test_rayleigh_above_fails_every_edit(model, bounds):
    rayleigh, _ = bounds
    v = genuine(model, rayleigh * 0.9, "refuted", "rayleigh-above")
    cert = v.certificate
    edits = {"claim__at_most": rayleigh, "claim__part": "filter", "claim__kind": "x",
             "certificate__value": rayleigh * 0.85,           # below at_most
             "certificate__recheck": cert["value"] * 1.01,    # the re-check disagrees
             "status": "certified"}
    every_edit_fails(v, edits)


def test_lambda_max_certificates_do_not_transplant(model, bounds):
    rayleigh, upper = bounds
    certified = sharpflat.curvature_bound(*model, at_most=upper * 1.001, threads=1)
    refuted = sharpflat.curvature_bound(*model, at_most=rayleigh * 0.9, threads=1)
    lower = sharpflat.curvature_bound(*model, at_most=upper * 0.999, threads=1)
    assert lower.status.value == "inconclusive"
    # the certified bound onto the claim of a smaller at_most, and onto the refuted claim
    assert not recheck(lower, certificate=certified.certificate, status="certified")[0]
    assert not recheck(refuted, certificate=certified.certificate, status="certified")[0]
    # the refutation onto the certified claim (its at_most is above the quotient)
    assert not recheck(certified, certificate=refuted.certificate, status="refuted",
                       counterexample=refuted.counterexample)[0]
