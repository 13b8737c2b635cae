"""Shared fixtures: one small digits model trained and exported once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread: on a busy machine OpenMP's spinning threads make tiny ops 100x slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """A trained + exported digits run folder (HD-LIF MLP 64-128-10, ternary, T=4)."""
    from training.export import export
    from training.train import train

    run = tmp_path_factory.mktemp("runs") / "digits"
    metrics = train(run, epochs=8, progress=False)
    report = export(run)
    return {"dir": run, "metrics": metrics, "export": report}


@pytest.fixture(scope="session")
def digits_bundle(digits_run):
    from golden import load_bundle

    return load_bundle(digits_run["dir"] / "model")


def pytest_configure(config):
    """The randomized cases' seed (``tests/test_fuzz.py``): ``HDLIF_FUZZ_SEED`` or a new one."""
    import os
    import random

    os.environ.setdefault("HDLIF_FUZZ_SEED", str(random.SystemRandom().randrange(100000)))


def pytest_report_header(config):
    import os

    return (f"fuzz: seed {os.environ['HDLIF_FUZZ_SEED']}, {os.environ.get('HDLIF_FUZZ_CASES', '8')} cases "
            f"(HDLIF_FUZZ_SEED=... HDLIF_FUZZ_CASES=... to choose)")
