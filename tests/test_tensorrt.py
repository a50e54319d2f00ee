"""TensorRT: pure planning and cache keys on CPU; engine tests only with CUDA + tensorrt."""
import pytest
import torch

from paragonsr2.compile.tensorrt import Profile, cache_key, max_core_for, plan_profile


def test_profile_fits_tiles():
    prof = plan_profile(margin=28, channels=3, opt_core=256, max_core=1024)
    assert prof.min_hw == 1 and prof.opt_hw == 312 and prof.max_hw == 1080
    assert max_core_for(prof, 28) == 1024
    mn, opt, mx = prof.shapes()
    assert mn == (1, 3, 1, 1) and mx == (1, 3, 1080, 1080)


def test_cache_key_changes_with_every_input():
    base = dict(onnx_sha256="a" * 64, precision="fp16", profile=Profile(3, 1, 300, 1000), trt_version="10.9.0",
                gpu_name="NVIDIA H100", compute_capability=(9, 0), flags=("strongly_typed",))
    key = cache_key(**base)
    assert key == cache_key(**base) and len(key) == 24
    variants = [dict(onnx_sha256="b" * 64), dict(precision="int8"), dict(profile=Profile(3, 1, 300, 1200)),
                dict(trt_version="11.0.0"), dict(gpu_name="RTX 4090"), dict(compute_capability=(8, 9)),
                dict(flags=())]
    assert len({cache_key(**{**base, **v}) for v in variants} | {key}) == len(variants) + 1


def test_missing_tensorrt_is_a_clear_error():
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("tensorrt is installed")
    except ImportError:
        pass
    from paragonsr2.compile.tensorrt import require_tensorrt
    from paragonsr2.errors import MissingDependencyError

    with pytest.raises(MissingDependencyError, match="pip install tensorrt"):
        require_tensorrt()
    from paragonsr2.engine import make_backend
    from paragonsr2.errors import ParagonError

    with pytest.raises(MissingDependencyError, match="tensorrt"):  # an exported engine file, without tensorrt
        make_backend("model_2x_fp16.engine", "tensorrt")
    with pytest.raises(ParagonError, match="use backend 'tensorrt'"):
        make_backend("model_2x_fp16.engine", "onnxruntime")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_engine_matches_pytorch(real_path, tmp_path):
    pytest.importorskip("tensorrt")
    import paragonsr2 as p
    from paragonsr2.engine import make_backend, upscale

    model = p.load_model(real_path, fuse=True)
    backend = make_backend(model, "tensorrt", "fp16", "cuda", cache_root=tmp_path)
    x = torch.rand(1, 3, 300, 200)
    with torch.no_grad():
        ref = model.float().cpu()(x).clamp(0, 1)
    out = upscale(backend, x, layout="BCHW")
    assert (out - ref).abs().max() < 0.05


# The engine build, cache and rebuild logic against a stand-in tensorrt module (tests/fake_tensorrt.py).

def test_engine_build_cache_hit_and_rebuild(fake_trt, tmp_path):
    import json

    from fake_tensorrt import ENGINE_BYTES

    from paragonsr2.engine.tensorrt import TensorRTBackend

    trt = fake_trt()
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"an onnx file")
    prof = plan_profile(margin=10)
    progress = []

    def backend():
        return TensorRTBackend.for_onnx(onnx_path, (2.0, 2.0), prof, 10, "fp16", "cuda", tmp_path / "cache",
                                        progress.append)

    be = backend()
    (engine,) = (tmp_path / "cache").glob("*.engine")
    assert engine.read_bytes() == ENGINE_BYTES and (tmp_path / "cache" / "timing.cache").is_file()
    meta = json.loads(engine.with_suffix(".json").read_text())
    assert meta["tensorrt"] == "11.4.0.106" and meta["gpu"] == "Fake GPU" and meta["compute_capability"] == [9, 0]
    assert meta["flags"] == ["strongly_typed"] and engine.stem == meta["key"]
    assert ("create_network", (1 << 1,)) in trt.calls  # strongly typed: precision comes from the ONNX
    assert ("set_shape", ("input", (1, 3, 1, 1), (1, 3, 276, 276), (1, 3, 1044, 1044))) in trt.calls
    assert progress[0] == "Building (0/2)" and progress[-1] == "Building done"
    assert be.max_input == 1044 and be.margin == 10 and be.input_dtype == torch.float32
    builds = [c for c in trt.calls if c[0] == "build"]
    backend()
    assert [c for c in trt.calls if c[0] == "build"] == builds  # cache hit: nothing rebuilt
    engine.write_bytes(b"truncated or from another TensorRT")
    backend()
    assert len([c for c in trt.calls if c[0] == "build"]) == len(builds) + 1 and engine.read_bytes() == ENGINE_BYTES


def test_engine_build_failures_are_clear(fake_trt, tmp_path):
    from paragonsr2.compile.tensorrt import build_engine
    from paragonsr2.errors import ParagonError

    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"x")
    fake_trt(parse_ok=False)
    with pytest.raises(ParagonError, match="could not parse .*Unsupported op: Foo"):
        build_engine(onnx_path, tmp_path / "a.engine", plan_profile(4), "fp16")
    fake_trt(build_ok=False)
    with pytest.raises(ParagonError, match="failed to build"):
        build_engine(onnx_path, tmp_path / "b.engine", plan_profile(4), "fp16")
    assert sorted(q.name for q in tmp_path.iterdir()) == ["m.onnx"]  # no engine, no partial file


def test_exported_engine_file_runs_from_its_sidecar(fake_trt, tmp_path):
    pytest.importorskip("onnxruntime")
    import json

    import paragonsr2 as p
    from paragonsr2.arch import variant_config
    from paragonsr2.engine import make_backend
    from paragonsr2.errors import ParagonError
    from paragonsr2.export import export_model

    from helpers import random_state_dict

    fake_trt()
    model = p.load_model(random_state_dict(variant_config("nano"), seed=5))
    engine = tmp_path / "m.engine"
    report = export_model(model, engine, fmt="tensorrt", precision="fp16")
    meta = json.loads(engine.with_suffix(".json").read_text())
    assert report["path"] == str(engine) and meta["scale"] == [2.0, 2.0] and meta["num_feat"] == 24
    assert meta["onnx_report"]["passed"] and meta["tensorrt"] == "11.4.0.106"
    be = make_backend(engine, "tensorrt")
    assert be.margin == meta["margin"] and be.max_input == meta["profile"]["max_hw"] and be.num_feat == 24
    engine.write_bytes(b"built elsewhere")
    with pytest.raises(ParagonError, match="built with TensorRT 11.4.0.106 for Fake GPU"):
        make_backend(engine, "tensorrt")
    engine.with_suffix(".json").unlink()
    with pytest.raises(ParagonError, match="sidecar"):
        make_backend(engine, "tensorrt")
