"""Exceptions with messages meant for users (they name the file or value and what to do)."""


class ParagonError(Exception):
    """Base class for expected failures; the CLI prints the message without a traceback."""


class CheckpointError(ParagonError, ValueError):
    """A file or state dict could not be used as a ParagonSR2 checkpoint."""


class NotParagonError(CheckpointError):
    """The state dict is not a loadable ParagonSR2 (V2 lineage) network."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that needs arbitrary Python globals; it is never unpickled."""


def exists_message(paths, how: str = "overwrite=True") -> str:
    """The one wording for files that would be replaced: "A, B exist; pass HOW to replace them"."""
    names = [str(p) for p in paths]
    many = len(names) > 1
    return f"{', '.join(names)} {'exist' if many else 'exists'}; pass {how} to replace {'them' if many else 'it'}"


class OutputExistsError(ParagonError, FileExistsError):
    """Output files are there and replacing them was not allowed. ``paths``: those files (the CLI rewords the
    message for its ``--overwrite`` option)."""

    def __init__(self, paths) -> None:
        self.paths = [str(p) for p in paths]
        super().__init__(exists_message(self.paths))

    def __str__(self) -> str:
        return self.args[0]


class WriteError(ParagonError, OSError):
    """A file could not be written (disk full, file too large, permissions, a file where a folder should be).
    The message names the file being written, never an input."""

    def __init__(self, path, error: OSError) -> None:
        reason = error.strerror or str(error) or type(error).__name__
        super().__init__(f"cannot write {path}: {reason}")
        self.path, self.errno, self.strerror = str(path), error.errno, reason

    def __str__(self) -> str:
        return self.args[0]


class UpscaleCancelled(ParagonError):
    """Raised by the upscale engine when its cancel callback asks to stop (checked per tile)."""


class MissingDependencyError(ParagonError, ImportError):
    """An optional package (onnxruntime, tensorrt, ...) is needed for the chosen feature."""

    def __init__(self, package: str, feature: str, pip_name: str | None = None) -> None:
        super().__init__(f"{feature} needs the Python package '{package}', which is not installed. "
                         f"Install it with: pip install {pip_name or package}")
        self.package = package
