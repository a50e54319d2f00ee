"""Jobs on a local Ray instance (2 CPUs, started once for the module): the same results, messages and files
as the local runner, bit for bit; a worker killed mid-job; a file that kills its worker every time."""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paragonsr2.cli import main
from paragonsr2.jobs import RECORD_NAME, JobSettings, plan_upscale, run_job, upscale_batch
from paragonsr2.jobs.cluster import RayRunner
from paragonsr2.jobs.step import upscale_file

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
pytestmark = pytest.mark.slow
FAST = ["--backend", "pytorch", "--precision", "fp32", "--no-progress"]
SETTINGS = JobSettings(backend="pytorch", precision="fp32")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local instance for the module (the runner uses it and leaves it running)."""
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _inputs(folder: Path, count: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        arr = (np.random.default_rng(i).random((16, 24, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{i}.png")
    Image.fromarray(arr).save(folder / "web.jpg", quality=60)  # the bundled _real model runs on this one
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != RECORD_NAME}


def test_ray_cli_equals_local_cli_bit_for_bit(tmp_path, capsys):
    src = _inputs(tmp_path / "in")
    x3 = [*FAST, "--scale", "3"]  # above the bundled models' trained x2: each one warns, once per job
    assert main(["upscale", str(src), "-o", str(tmp_path / "local"), *x3]) == 1
    local = capsys.readouterr()
    assert main(["upscale", str(src), "-o", str(tmp_path / "ray"), *x3, "--ray", "--workers", "2"]) == 1
    remote = capsys.readouterr()
    assert _files(tmp_path / "ray") == _files(tmp_path / "local") and len(_files(tmp_path / "local")) == 5
    assert remote.out.replace(str(tmp_path / "ray"), "OUT") == local.out.replace(str(tmp_path / "local"), "OUT")
    assert remote.err == local.err and local.err.endswith("5 written, 0 skipped, 1 failed\n")
    assert "using the bundled 2x_ParagonSR2_nano_real.safetensors" in local.out and "broken.png" in local.err
    assert local.err.count("warning: 2x_ParagonSR2_nano_default.safetensors was trained for 2x") == 1
    # resume on Ray: finished files skipped, the broken one tried again
    assert main(["upscale", str(src), "-o", str(tmp_path / "ray"), *x3, "--ray"]) == 1
    assert capsys.readouterr().err.endswith("0 written, 5 skipped, 1 failed\n")


def _dying_step(marker: Path, victim: str, times: int):
    """upscale_file, except that the worker process dies (os._exit, as SIGKILL would leave it) on ``victim``
    the first ``times`` times it is given (counted in ``marker``, shared by all workers)."""
    def step(backends, src, dst, settings, progress):
        died = int(marker.read_text()) if marker.exists() else 0
        if src.name == victim and died < times:
            marker.write_text(str(died + 1))
            part = dst.with_name(f".{dst.name}.0badf00d.part")  # as a write cut short would leave
            part.write_bytes(b"half")
            os._exit(1)
        return upscale_file(backends, src, dst, settings, progress)
    return step


def test_worker_killed_mid_job_is_replaced_and_the_job_completes(tmp_path):
    src = _inputs(tmp_path / "in")
    (src / "broken.png").unlink()
    marker = tmp_path / "deaths"
    runner = RayRunner(SETTINGS, workers=2, step=_dying_step(marker, "2.png", 1))
    summary = run_job(plan_upscale([str(src)], str(tmp_path / "out")), SETTINGS, runner=runner)
    assert marker.read_text() == "1" and summary.line() == "5 written, 0 skipped, 0 failed"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([RECORD_NAME, "0.png", "1.png", "2.png",
                                                                          "3.png", "web.jpg"])  # no .part left
    assert upscale_batch([src], tmp_path / "out", SETTINGS, ray=True).line() == "0 written, 5 skipped, 0 failed"


def test_file_that_kills_every_worker_is_named_with_the_files_left_and_resume_finishes(tmp_path):
    src = _inputs(tmp_path / "in", count=3)
    (src / "broken.png").unlink()
    (src / "web.jpg").unlink()
    marker = tmp_path / "deaths"
    results = []
    runner = RayRunner(SETTINGS, workers=1, step=_dying_step(marker, "1.png", 2), task_retries=1)
    summary = run_job(plan_upscale([str(src)], str(tmp_path / "out")), SETTINGS, runner=runner,
                      report=results.append)
    assert marker.read_text() == "2"  # the first try and one retry
    written = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    left = [r for r in results if r.status == "failed"]
    assert sorted(Path(r.src).name for r in left) == sorted({"0.png", "1.png", "2.png"} - set(written))
    assert "1.png" not in written and all("not done, the Ray job stopped" in r.message for r in left)
    assert summary.failed == len(left) and summary.written == len(written)
    again = upscale_batch([src], tmp_path / "out", SETTINGS, ray=True)  # the ordinary step: it finishes
    assert again.line() == f"{len(left)} written, {len(written)} skipped, 0 failed"
    assert not list((tmp_path / "out").glob(".*.part"))


def test_unreachable_address_is_a_clear_error(tmp_path, capsys):
    src = _inputs(tmp_path / "in", count=1)
    assert main(["upscale", str(src / "0.png"), "-o", str(tmp_path / "out"), *FAST, "--ray", "127.0.0.1:1"]) == 2
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
