"""Running a job's files on Ray (Ray Data ``map_batches`` over an actor pool): one loaded model and backend
per actor, one GPU per actor where the cluster has GPUs.

The driver lists the inputs and ships the model files' bytes (the ones whose hashes are in the job record),
so workers need the package installed but not the model file; they read the inputs and write the outputs
through the same paths, so those must be on a filesystem every node sees. Each file runs through
``step.upscale_file``, as in the local runner, so results and messages are the same.
"""
from __future__ import annotations

import inspect
import logging
import shutil
import socket
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from ..errors import MissingDependencyError, ParagonError
from .record import job_models, mtime_ns
from .settings import JobSettings
from .step import FAILED, WRITTEN, Backends, FileResult, load, upscale_file

COLUMNS = ("src", "dst", "status", "message", "notes", "warnings")
CONNECT_TIMEOUT_S = 5.0
TASK_RETRIES = 3  # a file whose worker dies this many more times fails the job (named as not done)
CONNECT_HINT = "check the address (ray status on the head node prints it) or start one with ray start --head"


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingDependencyError("ray", "--ray", "'paragonsr2[ray]' (or: pip install 'ray[data]')") from None
    return ray


class RayRunner:
    """address: None starts a local Ray instance (or joins RAY_ADDRESS); else ``ray.init(address)``.
    Connects in ``setup`` (an unreachable address is a ParagonError); shuts down only an instance it began."""

    def __init__(self, settings: JobSettings, address: str | None = None, workers: int = 1,
                 progress: bool = False, step: Callable = upscale_file, num_cpus: int | None = None,
                 task_retries: int = TASK_RETRIES) -> None:
        self.settings, self.address, self.workers, self.progress, self.step = settings, address, workers, \
            progress, step
        self.num_cpus = num_cpus  # of a local instance started here (None: all of this machine's)
        self.task_retries = task_retries
        self.started = False
        self.models: dict[str, bytes] = {}

    def setup(self) -> None:
        ray = _import_ray()
        self.models = {p.name: _read(p) for p in job_models(self.settings).values()}
        first = self.settings.first_model()  # checked here on the driver: a bad model stops before any work
        if first.suffix.lower() != ".engine":
            load(first, self.settings)
        if (problem := unreachable(self.address)) is not None:  # ray.init would retry for minutes
            raise ParagonError(f"cannot reach the Ray cluster at {self.address} ({problem}); {CONNECT_HINT}")
        if not ray.is_initialized():
            self._connect(ray)

    def _connect(self, ray) -> None:
        where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
        kwargs = {"num_cpus": self.num_cpus} if self.address in (None, "local") and self.num_cpus else {}
        try:
            ray.init(address=self.address, include_dashboard=False, logging_level=logging.ERROR,
                     log_to_driver=False, configure_logging=True, **kwargs)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as e:
            raise ParagonError(f"cannot reach {where} ({type(e).__name__}: {str(e).splitlines()[0]}); "
                               f"{CONNECT_HINT}") from None
        self.started = True

    def run(self, pairs: list[tuple[Path, Path]], report: Callable[[FileResult], None]) -> None:
        ray = _import_ray()
        self._reported: set[str] = set()
        before = {dst: mtime_ns(dst) for _, dst in pairs}
        try:
            self._run(ray, pairs, report)
        except ParagonError:
            raise
        except Exception as e:  # noqa: BLE001 (the job stopped: each file not reported is written or left)
            lines = str(e).strip().splitlines()
            reason = f"{type(e).__name__}: {lines[-1] if lines else ''}"
            for src, dst in pairs:
                if str(src) in self._reported:
                    continue
                if mtime_ns(dst) not in (None, before[dst]):  # written; its result was lost with the job
                    report(FileResult(str(src), str(dst), WRITTEN, f"{src} -> {dst}"))
                else:
                    report(FileResult(str(src), str(dst), FAILED, f"error: {src}: not done, the Ray job stopped "
                                      f"({reason}); run the same command again to finish it"))
        finally:
            if self.started:
                ray.shutdown()
                self.started = False

    def _run(self, ray, pairs, report):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's deprecation notices about its own settings and arguments
            seen_notes: set[str] = set()
            for row in self._dataset(ray, pairs).iter_rows():
                result = FileResult(*(str(row[c]) for c in COLUMNS[:4]),
                                    notes=tuple(n for n in _lines(row["notes"]) if n not in seen_notes),
                                    warnings=tuple(w for w in _lines(row["warnings"]) if w not in seen_notes))
                seen_notes.update(result.notes + result.warnings)  # each actor says what it made: show once
                self._reported.add(result.src)
                report(result)

    def _dataset(self, ray, pairs):
        """The job as a Ray Dataset: one row per file, ``map_batches`` over a pool of ``_Worker`` actors."""
        from ray.data import ActorPoolStrategy, DataContext

        ctx = DataContext.get_current()
        ctx.enable_progress_bars = self.progress
        ctx.print_on_execution_start = False
        ctx.enable_auto_log_stats = False
        ctx.execution_options.preserve_order = True  # results (and messages) in input order, as locally
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        gpus = 1 if self.settings.device != "cpu" and ray.cluster_resources().get("GPU", 0) >= 1 else 0
        ds = ray.data.from_items([{"src": str(s), "dst": str(d)} for s, d in pairs],
                                 override_num_blocks=max(1, len(pairs)))
        models = ray.put(self.models)  # passed inside a dict: fetched by each actor, not inlined in its arguments
        return ds.map_batches(_Worker, batch_size=1, compute=ActorPoolStrategy(size=self.workers),
                              fn_constructor_kwargs={"settings": self.settings, "models": {"ref": models},
                                                     "first": self.settings.first_model().name, "step": self.step},
                              num_cpus=1, num_gpus=gpus, **_retries(ds.map_batches, self.task_retries))


def unreachable(address: str | None, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why nothing answers at a ``HOST:PORT`` or ``SCHEME://HOST:PORT`` address (a TCP connect), else None
    (also for None, ``auto`` and ``local``, which ray.init resolves itself)."""
    if not address or address in ("auto", "local"):
        return None
    host, _, port = address.split("://", 1)[-1].rstrip("/").rpartition(":")
    if not port.isdigit():
        return None
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        return f"{type(e).__name__}: {e.strerror or e}"
    return None


def _retries(map_batches, retries: int) -> dict:
    """Bounded task retries where this Ray accepts them: a file that kills its worker every time fails the
    job after ``retries`` restarts instead of looping (Ray Data's default is to retry forever)."""
    params = inspect.signature(map_batches).parameters.values()
    takes = any(p.name == "max_task_retries" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return {"max_task_retries": retries} if takes else {}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ParagonError(f"model {path}: cannot be read ({e.strerror or e})") from None


def _lines(value) -> list[str]:
    return [line for line in str(value).split("\n") if line]


class _Worker:
    """A Ray Data actor: writes the shipped model files to a private folder, makes the backends once, then
    runs ``step`` on each row and returns its result (warnings logged meanwhile travel with it)."""

    def __init__(self, settings: JobSettings, models: dict, first: str, step: Callable) -> None:
        import ray
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None  # max_pixels (from headers) decides, as in the local runner
        self.folder = Path(tempfile.mkdtemp(prefix="paragonsr2-worker-"))
        for name, data in ray.get(models["ref"]).items():
            (self.folder / name).write_bytes(data)
        self.captured: list[str] = []
        handler = _Capture(self.captured)
        logger = logging.getLogger("paragonsr2")
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        warnings.showwarning = lambda message, *args, **kwargs: self.captured.append(str(message))
        self.settings, self.step = settings, step
        self.backends = Backends(settings, first=self.folder / first)
        self.standing = self.backends.take_notes()  # sent with every result; the driver shows each once
        self.standing_warnings, self.captured[:] = tuple(self.captured), []  # e.g. the model's scale warning

    def __call__(self, batch: dict) -> dict:
        out = {c: [] for c in COLUMNS}
        for src, dst in zip(batch["src"], batch["dst"]):
            result = self.step(self.backends, Path(str(src)), Path(str(dst)), self.settings, None)
            captured, self.captured[:] = list(self.captured), []
            notes = self.standing + result.notes + self.backends.take_notes()
            values = (result.src, result.dst, result.status, result.message, "\n".join(notes),
                      "\n".join((*self.standing_warnings, *result.warnings, *captured)))
            for column, value in zip(COLUMNS, values):
                out[column].append(value)
        return out

    def __del__(self) -> None:
        if hasattr(self, "folder"):
            shutil.rmtree(self.folder, ignore_errors=True)


class _Capture(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())

