"""A stand-in for the ``tensorrt`` module with the TensorRT 10/11 Python API names our code calls.

It records what the builder was asked to do, so the engine build, cache and rebuild logic can be tested
on CPU. Attribute names were checked against the tensorrt 11.4 bindings' symbol table.
"""
from __future__ import annotations

import types

ENGINE_BYTES = b"FAKE-ENGINE"


def make(parse_ok: bool = True, build_ok: bool = True) -> types.ModuleType:  # noqa: C901 - one stand-in per API
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "11.4.0.106"
    trt.calls = []  # (what, args) in call order
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=2: None})
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=1)
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE=0)
    trt.DataType = types.SimpleNamespace(FLOAT=0, HALF=1)

    class IProgressMonitor:
        def __init__(self) -> None:
            pass

    class Profile:
        def set_shape(self, name, mn, opt, mx):
            trt.calls.append(("set_shape", (name, mn, opt, mx)))

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self) -> bytes:
            return b"TIMING"

    class Config:
        progress_monitor = None

        def set_memory_pool_limit(self, pool, size):
            trt.calls.append(("set_memory_pool_limit", (pool, size)))

        def add_optimization_profile(self, profile):
            trt.calls.append(("add_optimization_profile", ()))

        def create_timing_cache(self, data):
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache, ignore_mismatch):
            trt.calls.append(("set_timing_cache", (cache.data, ignore_mismatch)))

        def set_flag(self, flag):  # gone in TensorRT 11: our code must not call it there
            raise AttributeError("BuilderFlag.FP16/INT8 do not exist in TensorRT 11")

    class Network:
        def get_input(self, i):
            return types.SimpleNamespace(name="input")

    class Builder:
        def __init__(self, logger) -> None:
            pass

        def create_network(self, flags):
            trt.calls.append(("create_network", (flags,)))
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            trt.calls.append(("build", (config.progress_monitor is not None,)))
            if config.progress_monitor is not None:
                config.progress_monitor.phase_start("Building", None, 2)
                config.progress_monitor.step_complete("Building", 0)
                config.progress_monitor.phase_finish("Building")
            return memoryview(ENGINE_BYTES) if build_ok else None

    class OnnxParser:
        def __init__(self, network, logger) -> None:
            self.num_errors = 0 if parse_ok else 1

        def parse_from_file(self, path):
            trt.calls.append(("parse_from_file", (path,)))
            return parse_ok

        def get_error(self, i):
            return "Unsupported op: Foo"

    class Context:
        def set_input_shape(self, name, shape):
            trt.calls.append(("set_input_shape", (name, shape)))

    class Engine:
        def create_execution_context(self):
            return Context()

        def get_tensor_name(self, i):
            return ("input", "output")[i]

        def get_tensor_dtype(self, name):
            return trt.DataType.FLOAT

    class Runtime:
        def __init__(self, logger) -> None:
            pass

        def deserialize_cuda_engine(self, data):
            trt.calls.append(("deserialize", (bytes(data) == ENGINE_BYTES,)))
            return Engine() if bytes(data) == ENGINE_BYTES else None

    trt.IProgressMonitor, trt.Builder, trt.OnnxParser, trt.Runtime = IProgressMonitor, Builder, OnnxParser, Runtime
    return trt
