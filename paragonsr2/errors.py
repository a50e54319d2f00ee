"""Exceptions with messages meant for users (they name the file or value and what to do)."""


class ParagonError(Exception):
    """Base class for expected failures; the CLI prints the message without a traceback."""


class CheckpointError(ParagonError, ValueError):
    """A file or state dict could not be used as a ParagonSR2 checkpoint."""


class NotParagonError(CheckpointError):
    """The state dict is not a loadable ParagonSR2 (V2 lineage) network."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that needs arbitrary Python globals; it is never unpickled."""


class UpscaleCancelled(ParagonError):
    """Raised by the upscale engine when its cancel callback asks to stop (checked per tile)."""


class MissingDependencyError(ParagonError, ImportError):
    """An optional package (onnxruntime, tensorrt, ...) is needed for the chosen feature."""

    def __init__(self, package: str, feature: str, pip_name: str | None = None) -> None:
        super().__init__(f"{feature} needs the Python package '{package}', which is not installed. "
                         f"Install it with: pip install {pip_name or package}")
        self.package = package
