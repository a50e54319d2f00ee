"""Exceptions with messages meant for users (they name the file or value and what to do).

ComfyUI imports the pack under a module name made of its folder path and shows a failed node's exception as
``type.__module__ + "." + type.__qualname__``; every ParagonError class therefore carries its module name
relative to the pack (``paragonsr2.errors.CheckpointError``), wherever the pack was imported from.
"""

_LIBRARY_MODULE = "paragonsr2.errors"
# what ComfyUI puts before the library's own name (e.g. "/…/custom_nodes/ParagonSR2."); "" as a plain library
_PACK_PREFIX = __name__[: -len(_LIBRARY_MODULE)] if __name__.endswith(_LIBRARY_MODULE) else ""


def public_module(name: str) -> str:
    """A module name of this pack without the import prefix ComfyUI gave it (``paragonsr2.checkpoint.load``)."""
    return name[len(_PACK_PREFIX):] if _PACK_PREFIX and name.startswith(_PACK_PREFIX) else name


class ParagonError(Exception):
    """Base class for expected failures; the CLI prints the message without a traceback."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.__module__ = public_module(cls.__module__)


ParagonError.__module__ = public_module(ParagonError.__module__)


class CheckpointError(ParagonError, ValueError):
    """A file or state dict could not be used as a ParagonSR2 checkpoint."""


class NotParagonError(CheckpointError):
    """The state dict is not a loadable ParagonSR2 (V2 lineage) network. ``architecture``: what it looks like,
    when known; ``spandrel_loads``: spandrel recognises it (so spandrel-based loaders such as ComfyUI's core
    'Load Upscale Model' and chaiNNer load it)."""

    def __init__(self, message: str, architecture: str | None = None, spandrel_loads: bool = False) -> None:
        super().__init__(message)
        self.architecture, self.spandrel_loads = architecture, spandrel_loads


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
