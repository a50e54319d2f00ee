import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from slow_tests import is_slow

from helpers import REAL, REAL_EMA


def pytest_configure(config):
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    if "PARAGONSR2_CACHE" not in os.environ:  # exported ONNX and engines stay out of the user's cache
        config._paragonsr2_cache = os.environ["PARAGONSR2_CACHE"] = tempfile.mkdtemp(prefix="paragonsr2-test-")


def pytest_collection_modifyitems(config, items):
    for item in items:  # tests/slow_tests.py: one list of the slow ones (-m "not slow" leaves them out)
        if is_slow(item.path.name, item.name):
            item.add_marker(pytest.mark.slow)


def pytest_unconfigure(config):
    cache = getattr(config, "_paragonsr2_cache", None)
    if cache:
        shutil.rmtree(cache, ignore_errors=True)
        os.environ.pop("PARAGONSR2_CACHE", None)


@pytest.fixture(autouse=True)
def seeded_rng():
    """Every test draws its random inputs from the same seed, on every machine and in every order."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


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


@pytest.fixture
def fake_trt(monkeypatch, tmp_path):
    """install(**kwargs) puts tests/fake_tensorrt.py's stand-in in place of tensorrt and a CUDA GPU;
    engines and ONNX files are cached under tmp_path, not the user's cache."""
    from types import SimpleNamespace

    import fake_tensorrt

    def install(**kwargs):
        trt = fake_tensorrt.make(**kwargs)
        monkeypatch.setenv("PARAGONSR2_CACHE", str(tmp_path / "paragonsr2-cache"))
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "get_device_properties",
                            lambda device=None: SimpleNamespace(name="Fake GPU", major=9, minor=0))
        return trt
    return install
