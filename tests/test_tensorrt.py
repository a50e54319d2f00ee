"""TensorRT: pure planning and cache keys on CPU; engine tests only with CUDA + tensorrt."""
import pytest
import torch

from paragonsr2.export.tensorrt import Profile, cache_key, max_core_for, plan_profile


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
    from paragonsr2.errors import MissingDependencyError
    from paragonsr2.export.tensorrt import require_tensorrt

    with pytest.raises(MissingDependencyError, match="pip install tensorrt"):
        require_tensorrt()


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
