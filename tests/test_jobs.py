"""Jobs run here (no Ray): resume from the output folder's record, refusal of other settings, removal of a
killed run's temporaries, the folder lock, and setup errors before any work. Uses the bundled models."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paragonsr2.cli import main
from paragonsr2.cli.commands import DEFAULT_MODEL
from paragonsr2.errors import ParagonError
from paragonsr2.jobs import RECORD_NAME, JobSettings, plan_upscale, upscale_batch
from paragonsr2.jobs.record import JobRecord, locked_folders
from paragonsr2.jobs.settings import check_ray_address

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--backend", "pytorch", "--precision", "fp32", "--no-progress"]


def _images(folder: Path, count: int, size=(24, 16)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        arr = (np.random.default_rng(i).random((size[1], size[0], 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{i}.png")
        paths.append(folder / f"{i}.png")
    return paths


def _stamps(folder: Path) -> dict[str, int]:
    """Output name -> modification time in ns (a file written again gets a new one)."""
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def test_resume_skips_finished_outputs_and_removes_temporaries(tmp_path, capsys):
    _images(tmp_path / "in", 3)
    out = tmp_path / "out"
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out), *FAST]) == 0
    assert capsys.readouterr().err.endswith("3 written, 0 skipped, 0 failed\n")
    record = json.loads((out / RECORD_NAME).read_text())
    assert record["models"]["model"]["name"] == DEFAULT_MODEL.name and record["settings"]["precision"] == "fp32"
    # a run killed mid-write: one output missing, its temporary and an older one of another name left behind
    (out / "1.png").unlink()
    part = out / ".1.png.0123abcd.part"
    part.write_bytes(b"half")
    stale = out / ".gone.png.89abcdef.part"
    stale.write_bytes(b"old")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    stamps = _stamps(out)
    time.sleep(0.01)
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out), *FAST]) == 0
    captured = capsys.readouterr()
    assert captured.err.endswith("1 written, 2 skipped, 0 failed\n") and "1.png ->" in captured.out
    assert "0.png ->" not in captured.out and "running" in captured.out  # skips are counted, not printed
    after = _stamps(out)
    assert after["0.png"] == stamps["0.png"] and after["2.png"] == stamps["2.png"] and "1.png" in after
    assert not part.exists() and not stale.exists()
    # nothing left to do: no model is loaded, exit 0
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out), *FAST]) == 0
    captured = capsys.readouterr()
    assert captured.err == "0 written, 3 skipped, 0 failed\n" and "running" not in captured.out


def test_other_settings_refused_before_any_work_unless_overwrite(tmp_path, capsys):
    _images(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert main(["upscale", str(tmp_path / "in" / "0.png"), "-o", str(out), *FAST]) == 0
    stamps = _stamps(out)
    capsys.readouterr()
    x4 = DEFAULT_MODEL.with_name("4x_ParagonSR2_nano_default.safetensors")
    for extra, names in ((["--alpha", "0.5"], "alpha: None -> 0.5"), (["--model", str(x4)], "model: 2x_"),
                         (["--precision", "fp16"], "precision: 'fp32' -> 'fp16'")):
        args = ["upscale", str(tmp_path / "in"), "-o", str(out), *FAST]
        assert main(args + extra) == 2
        err = capsys.readouterr().err
        assert f"{out} holds results of a job with other settings" in err and names in err and "--overwrite" in err
        assert _stamps(out) == stamps  # nothing written, 1.png not started
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out), *FAST, "--alpha", "0.5", "--overwrite"]) == 0
    assert capsys.readouterr().err.endswith("2 written, 0 skipped, 0 failed\n")
    assert json.loads((out / RECORD_NAME).read_text())["settings"]["alpha"] == 0.5
    # tile size and device are not part of the record: a resume may use others
    (out / "1.png").unlink()
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out), *FAST, "--alpha", "0.5", "--tile", "32",
                 "--device", "cpu"]) == 0
    assert capsys.readouterr().err.endswith("1 written, 1 skipped, 0 failed\n")


def test_outputs_there_before_the_job_are_never_counted_as_its_results(tmp_path, capsys):
    _images(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "0.png").write_bytes(b"someone else's file")
    for expected in ("1 written, 0 skipped, 1 failed", "0 written, 1 skipped, 1 failed"):
        assert main(["upscale", str(tmp_path / "in"), "-o", str(out), *FAST]) == 1
        err = capsys.readouterr().err
        assert f"skip {tmp_path / 'in' / '0.png'}: {out / '0.png'} exists; pass --overwrite" in err
        assert err.endswith(expected + "\n")
    assert (out / "0.png").read_bytes() == b"someone else's file"
    assert json.loads((out / RECORD_NAME).read_text())["kept"] == ["0.png"]


def test_setup_errors_stop_the_job_before_any_work(tmp_path, capsys):
    _images(tmp_path / "in", 2)
    out = tmp_path / "out"
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out), *FAST, "--model", str(junk)]) == 2
    assert str(junk) in capsys.readouterr().err and not out.exists()
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out), *FAST, "--model", str(tmp_path / "no.pth")]) == 2
    assert "no.pth: no such file" in capsys.readouterr().err and not out.exists()
    out.mkdir()
    (out / RECORD_NAME).write_text("{broken")
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out), *FAST]) == 2
    assert f"{out / RECORD_NAME}: cannot be read as a job record" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [RECORD_NAME]
    # another job writing into the folder (its lock held): refused, nothing written
    (out / RECORD_NAME).unlink()
    with locked_folders([out]):
        assert main(["upscale", str(tmp_path / "in"), "-o", str(out), *FAST]) == 2
    assert f"another paragonsr2 job is writing into {out}" in capsys.readouterr().err and not any(out.iterdir())


def test_library_function_reports_each_file_and_resumes(tmp_path):
    _images(tmp_path / "in", 2)
    (tmp_path / "in" / "bad.png").write_bytes(b"junk")
    settings = JobSettings(backend="pytorch", precision="fp32")
    results = []
    summary = upscale_batch([tmp_path / "in"], tmp_path / "out", settings, report=results.append)
    assert summary.line() == "2 written, 0 skipped, 1 failed"
    assert [(Path(r.src).name, r.status) for r in results] == [("0.png", "written"), ("1.png", "written"),
                                                               ("bad.png", "failed")]
    assert results[0].notes == ("running pytorch fp32 on cpu",) and results[1].notes == ()
    assert upscale_batch([tmp_path / "in"], tmp_path / "out", settings).line() == "0 written, 2 skipped, 1 failed"


def test_record_hashes_content_and_names_differences(tmp_path):
    copy = tmp_path / DEFAULT_MODEL.name
    copy.write_bytes(DEFAULT_MODEL.read_bytes())
    a = JobRecord.for_settings(JobSettings(model=str(DEFAULT_MODEL)))
    assert a.differences(JobRecord.for_settings(JobSettings(model=str(copy)))) == []  # same bytes, same job
    copy.write_bytes(DEFAULT_MODEL.read_bytes()[:-1] + b" ")
    changed = a.differences(JobRecord.for_settings(JobSettings(model=str(copy))))
    assert len(changed) == 1 and changed[0].startswith("model: 2x_ParagonSR2_nano_default.safetensors (sha256 ")
    assert set(JobRecord.for_settings(JobSettings()).models) == {"model", "jpeg_model"}  # the bundled pair
    with pytest.raises(ParagonError, match="no.safetensors: no such file"):
        JobRecord.for_settings(JobSettings(model=str(tmp_path / "no.safetensors")))


def test_plan_puts_existing_outputs_aside_for_the_job_to_decide(tmp_path):
    _images(tmp_path / "in", 2)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "1.png").write_bytes(b"x")
    plan = plan_upscale([str(tmp_path / "in")], str(tmp_path / "out"))
    assert plan.folder == tmp_path / "out" and plan.problems == []
    assert plan.pairs == [(tmp_path / "in" / "0.png", tmp_path / "out" / "0.png")]
    assert plan.existing == [(tmp_path / "in" / "1.png", tmp_path / "out" / "1.png")]
    assert plan_upscale([str(tmp_path / "in" / "0.png")], str(tmp_path / "one.png")).folder is None


def test_ray_options_are_checked_while_parsing(capsys, monkeypatch):
    for good in ("auto", "local", "10.0.0.5:6379", "ray://head:10001", "[::1]:6379"):
        assert check_ray_address(good) == good
    assert main(["upscale", "--ray", "photos/", "-o", "out"]) == 2
    assert "put --ray after the inputs" in capsys.readouterr().err
    assert main(["upscale", "a.png", "-o", "out", "--workers", "2"]) == 2
    assert "--workers needs --ray" in capsys.readouterr().err
    assert main(["upscale", "a.png", "-o", "out", "--ray", "--workers", "0"]) == 2


def test_ray_missing_says_what_to_install(tmp_path, capsys, monkeypatch):
    _images(tmp_path / "in", 1)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as where it is not installed
    assert main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *FAST, "--ray"]) == 3
    assert "pip install 'paragonsr2[ray]'" in capsys.readouterr().err and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sigkilled_run_resumes_without_redoing_finished_files(tmp_path):
    """A real CLI process killed with SIGKILL after its first output; the same command finishes the rest."""
    _images(tmp_path / "in", 8, size=(64, 48))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "paragonsr2", "upscale", str(tmp_path / "in"), "-o", str(out), *FAST]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "0.png").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in out.glob("*.png"))
    assert 0 < len(done) < 8, "the run was not killed mid-job; make the images larger"
    stamps = _stamps(out)
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith(f"{8 - len(done)} written, {len(done)} skipped, 0 failed\n")
    assert all(_stamps(out)[name] == stamps[name] for name in done)  # finished files are not redone
    assert sorted(p.name for p in out.iterdir()) == [RECORD_NAME] + [f"{i}.png" for i in range(8)]  # no .part


def test_stopped_overwrite_run_redoes_the_old_results_it_had_not_replaced(tmp_path):
    """--overwrite with new settings, interrupted after one file: continuing (without --overwrite) redoes the
    files that still hold the old settings' results and skips the one already replaced."""
    from paragonsr2.jobs import LocalRunner, run_job
    from paragonsr2.jobs.step import upscale_file

    _images(tmp_path / "in", 3)
    out = tmp_path / "out"
    old, new = JobSettings(backend="pytorch", precision="fp32"), JobSettings(backend="pytorch", precision="fp32",
                                                                           alpha=0.5)
    assert upscale_batch([tmp_path / "in"], out, old).line() == "3 written, 0 skipped, 0 failed"
    first = _stamps(out)

    def interrupted_after_one(backends, src, dst, settings, progress):
        if src.name != "0.png":
            raise KeyboardInterrupt
        return upscale_file(backends, src, dst, settings, progress)

    plan = plan_upscale([str(tmp_path / "in")], str(out), overwrite=True)
    with pytest.raises(KeyboardInterrupt):
        run_job(plan, new, overwrite=True, runner=LocalRunner(new, step=interrupted_after_one))
    replaced = _stamps(out)
    assert replaced["0.png"] != first["0.png"] and replaced["1.png"] == first["1.png"]
    results = []
    assert upscale_batch([tmp_path / "in"], out, new, report=results.append).line() == \
        "2 written, 1 skipped, 0 failed"
    assert {Path(r.src).name: r.status for r in results} == {"0.png": "skipped", "1.png": "written",
                                                             "2.png": "written"}
    assert upscale_batch([tmp_path / "in"], out, new).line() == "0 written, 3 skipped, 0 failed"


def test_interrupted_cli_prints_the_summary_so_far(tmp_path, capsys, monkeypatch):
    from paragonsr2.jobs import LocalRunner

    def run_one_then_interrupt(self, pairs, report):
        report(self.step(self.backends, *pairs[0], self.settings, None))
        raise KeyboardInterrupt

    _images(tmp_path / "in", 2)
    monkeypatch.setattr(LocalRunner, "run", run_one_then_interrupt)
    assert main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *FAST]) == 130
    err = capsys.readouterr().err
    assert "1 written, 0 skipped, 0 failed (run the same command again to continue)\ninterrupted\n" in err
