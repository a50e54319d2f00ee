import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import REAL, REAL_EMA  # noqa: E402


def pytest_configure(config):
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def real_path():
    if not REAL.is_file():
        pytest.skip("shared checkpoints not present")
    return REAL


@pytest.fixture(scope="session")
def real_ema_path():
    if not REAL_EMA.is_file():
        pytest.skip("shared checkpoints not present")
    return REAL_EMA
