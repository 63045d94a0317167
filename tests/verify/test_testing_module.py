"""verify.testing: the README's complete test file passes on real implementations (a
hand-written USAM, sharpflat's USAM wrapper, torch's SGD and Adam) and fails on a wrong one; the
two properties, called directly, catch what they are for."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from verify import testing

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ('e = group["rho"] * p.grad', 'e = -group["rho"] * p.grad')
BUILTIN = ("from numerics.torch_optim import SAM\n\n\n"
           "def MyUSAM(params, lr, rho):\n"
           "    return SAM(params, alpha=lr, rho=rho, normalize=False)\n")
#: hypothesis in the runs below: the same few examples every time, a failure not shrunk
CONFTEST = ("from hypothesis import Phase, settings\n"
            "settings.register_profile('fixed', derandomize=True, max_examples=4, "
            "database=None, phases=[Phase.explicit, Phase.generate])\n"
            "settings.load_profile('fixed')\n")


def readme_files() -> dict[str, str]:
    """The test file and my_optimizer.py of the README's section on the testing module."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(# (test_my_optimizer|my_optimizer)\.py.*?)```", text,
                        flags=re.S)
    files = {f"{name}.py": body for body, name in blocks}
    assert set(files) == {"test_my_optimizer.py", "my_optimizer.py"}, list(files)
    return files


def run_readme_tests(tmp_path: Path, my_optimizer: str) -> subprocess.CompletedProcess:
    files = readme_files()
    (tmp_path / "test_my_optimizer.py").write_text(files["test_my_optimizer.py"])
    (tmp_path / "my_optimizer.py").write_text(my_optimizer)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    env = {"PYTHONPATH": f"{ROOT}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_my_optimizer.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_readme_test_file_passes_on_the_handwritten_usam_and_torch(tmp_path):
    res = run_readme_tests(tmp_path, readme_files()["my_optimizer.py"])
    assert res.returncode == 0, res.stdout[-3000:]
    assert re.search(r"\b7 passed\b", res.stdout), res.stdout[-2000:]


@pytest.mark.slow
def test_the_readme_test_file_passes_on_sharpflats_usam_wrapper(tmp_path):
    res = run_readme_tests(tmp_path, BUILTIN)
    assert res.returncode == 0, res.stdout[-3000:]


def test_the_readme_test_file_fails_on_a_wrong_usam(tmp_path):
    source = readme_files()["my_optimizer.py"]
    assert BROKEN[0] in source
    res = run_readme_tests(tmp_path, source.replace(*BROKEN))
    assert res.returncode == 1, res.stdout[-3000:]
    failed = set(re.findall(r"FAILED test_my_optimizer.py::(\S+)", res.stdout))
    assert "test_it_takes_the_steps_of_its_map[usam]" in failed, res.stdout[-3000:]
    assert all("usam" in name for name in failed), failed      # torch's SGD and Adam pass
    assert "the map 'usam'" in res.stdout


# --------------------------------------------------------------------------------------------
# the properties, called directly
# --------------------------------------------------------------------------------------------

def quadratic(eigenvalues):
    H = torch.diag(torch.tensor(eigenvalues, dtype=torch.float64))
    return testing.TestFunction(f"diag{eigenvalues}", len(eigenvalues),
                                lambda x: x @ (H @ x) / 2)


def test_same_steps_catches_a_different_step_size():
    f = quadratic([3.0, 1.0])
    x0 = torch.tensor([1.0, -0.5], dtype=torch.float64)
    testing.assert_same_steps(lambda ps: torch.optim.SGD(ps, lr=0.1), "gd", {"alpha": 0.1},
                              f, x0)
    with pytest.raises(AssertionError, match="step 1 on diag"):
        testing.assert_same_steps(lambda ps: torch.optim.SGD(ps, lr=0.1 + 1e-6), "gd",
                                  {"alpha": 0.1}, f, x0)


def test_the_filter_property_catches_a_run_that_converges_outside_the_filter():
    # the declared map is GD with alpha = 0.1 (filter [0, 20]); an implementation with a
    # smaller step converges at a minimum of curvature 30, which GD at alpha = 0.1 never does
    f = quadratic([30.0, 2.0])
    x0 = torch.tensor([0.3, -0.7], dtype=torch.float64)
    right = testing.assert_filter_respected(lambda ps: torch.optim.SGD(ps, lr=0.05), "gd",
                                            {"alpha": 0.05}, f, x0)
    assert right is not None and float(right.abs().max()) < 1e-9      # converged, in filter
    with pytest.raises(AssertionError, match="eigenvalue 30, outside the filter Interval"):
        testing.assert_filter_respected(lambda ps: torch.optim.SGD(ps, lr=0.05), "gd",
                                        {"alpha": 0.1}, f, x0)
    # a run that does not converge is not judged
    assert testing.assert_filter_respected(lambda ps: torch.optim.SGD(ps, lr=0.1), "gd",
                                           {"alpha": 0.1}, f, x0) is None


def test_torch_adam_takes_the_steps_of_the_declared_adam_and_has_no_filter():
    f = quadratic([3.0, 1.0, 0.5])
    x0 = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
    hyper = {"alpha": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    testing.assert_same_steps(lambda ps: torch.optim.Adam(ps, lr=0.01), "adam", hyper, f, x0,
                              steps=20)
    assert not testing.has_filter("adam")
