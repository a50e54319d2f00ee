"""The tests marked ``slow`` (``python -m pytest -q -m "not slow"`` leaves them out; CI runs everything).

One list instead of decorators scattered over the files: each entry is ``file::test`` (every parametrization)
or a full node id (that one). Chosen from ``python -m pytest --durations=60`` on a shared 2-core AMD EPYC
(load average about 10): every test that took 9 s or more there (about three quarters of the suite's time), and the INT8
calibration tests;
tests/test_first_contact.py checks that every entry still names a test.
"""
SLOW = (
    "test_auto.py::test_missing_packages_are_skipped_with_a_reason",
    "test_checkpoint.py::test_fusions_equal_unfused",
    "test_cli.py::test_export_defaults_to_working_directory_and_prints_one_line",
    "test_cli.py::test_output_file_written_once_and_never_read_back",
    "test_cli.py::test_scale_above_trained_warns_and_names_the_bundled_model",
    "test_engine.py::test_measured_margin_for_deep_models",
    "test_engine.py::test_onnxruntime_backend_tiles_like_pytorch",
    "test_engine.py::test_progress_and_cancel",
    "test_engine.py::test_tiled_equals_untiled[reflect-32-size2]",
    "test_engine.py::test_tiled_equals_untiled[reflect-48-size2]",
    "test_engine.py::test_tiled_equals_untiled[replicate-32-size2]",
    "test_engine.py::test_tiled_equals_untiled[replicate-48-size2]",
    "test_engine.py::test_tiled_equals_untiled[zeros-32-size2]",
    "test_engine.py::test_tiled_equals_untiled[zeros-48-size2]",
    "test_engine.py::test_upscale_accepts_path_and_real_model",
    "test_export.py::test_cli_export",
    "test_export.py::test_fp16_and_fp16_io",
    "test_export.py::test_fp32_contract",
    "test_export.py::test_int8_quantized_and_verified",
    "test_export.py::test_int8_symmetric_for_tensorrt",
    "test_first_contact.py::test_onnx_then_ncnn_export_share_a_folder",
    "test_first_contact.py::test_upscale_heals_a_garbled_onnx_cache_entry",
    "test_first_contact.py::test_a_failed_write_names_the_output",
    "test_hostile_checkpoints.py::test_shape_bombs_refused_fast_without_memory",
    "test_ncnn.py::test_export_refuses_and_never_leaves_partial_files",
    "test_ncnn.py::test_export_writes_verified_files_that_tile_like_pytorch",
    "test_ncnn.py::test_portable_graph_matches_pytorch_in_onnxruntime",
    "test_nodes.py::test_backend_cache_never_serves_a_freed_model",
    "test_nodes.py::test_export_node",
    "test_nodes.py::test_loader_upscale_info",
    "test_nodes.py::test_tensorrt_build_progress_shows_on_the_node",
    "test_openvino.py::test_fp32_tiles_match_pytorch_with_the_same_margin",
    "test_openvino.py::test_int8_runs_our_qdq_graph_calibrated_on_the_bundled_photo",
    "test_reliability.py::test_cache_entry_published_only_after_verification",
    "test_reliability.py::test_export_refuses_an_existing_report",
    "test_scale_in_state_dict.py::test_bundled_models_load_at_their_scale_from_the_state_dict_alone"
    "[2x_ParagonSR2_tiny_real.safetensors]",
    "test_tensorrt.py::test_exported_engine_file_runs_from_its_sidecar",
    "test_trainer.py::test_resume_reproduces_uninterrupted_run",
    "test_trainer_faults.py::test_truncated_state_falls_back_then_says_how_to_start_over",
    "test_trainer_node.py::test_finetunes_bundled_model_and_keeps_run_state_apart",
    "test_trainer_node.py::test_from_scratch_and_name_prefix_not_doubled",
    "test_trainer_node.py::test_never_replaces_a_file_it_did_not_write",
    "test_trainer_node.py::test_stage2_runs_from_the_node",
    "test_workflows.py::test_export_text_says_when_the_name_was_cleaned_or_suffixed",
)


def is_slow(file_name: str, name: str) -> bool:
    """``name``: the test's name with its parametrization (``test_x[a-b]``)."""
    return f"{file_name}::{name}" in SLOW or f"{file_name}::{name.split('[')[0]}" in SLOW
