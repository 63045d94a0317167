import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis is derandomized by default: `make test` passes or fails the same way every time and
# on every machine. `make test-explore` (SHARPFLAT_EXPLORE=1) draws new random examples.
settings.register_profile("deterministic", derandomize=True, deadline=None, print_blob=True,
                          database=None)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile("explore" if os.environ.get("SHARPFLAT_EXPLORE") else "deterministic")

TESTS = Path(__file__).parent
ROOT = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    run_slow = config.getoption("--run-slow")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: run with --run-slow"))
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="gpu: no CUDA device"))


@pytest.fixture
def cli_env(tmp_path):
    """Environment for running `python -m verify` in a subprocess on the tiny registry."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")])
    return env
