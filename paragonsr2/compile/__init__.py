"""Compile (model -> artifact): ONNX graphs, INT8 quantization, TensorRT engine builds, and the artifact cache.

No tiling and no user-facing files here: `engine` runs the artifacts, `export` writes them for users."""
