"""Streams of frames above the engine: video files (PyAV), animated images; one pipeline for both.

``av`` (PyAV) is imported when a video is read or written, never at import.
"""
from .animation import is_animated, upscale_animation
from .probe import VideoError, VideoInfo, probe_video
from .video import Trim, VideoIncompleteError, VideoResult, VideoSettings, incomplete_path, upscale_video

__all__ = ["Trim", "VideoError", "VideoIncompleteError", "VideoInfo", "VideoResult", "VideoSettings",
           "incomplete_path", "is_animated", "probe_video", "upscale_animation", "upscale_video"]
