"""Jobs of many inputs: the plan (inputs -> outputs), the job record that lets a batch resume, removal of a
killed run's temporaries, and running the files here or on a Ray cluster (``cluster``, needs ``ray[data]``).

Above ``engine`` and below the CLI: the CLI's ``upscale`` is a client of ``plan_upscale`` + ``run_job``.
Importing this package loads neither torch nor ray.
"""
from .plan import OUTPUT_SUFFIX, Plan, plan_upscale
from .record import RECORD_NAME, JobRecord
from .run import JobSummary, LocalRunner, run_job, upscale_batch
from .settings import DEFAULT_MODEL, JobSettings
from .step import FAILED, SKIPPED, WRITTEN, FileResult

__all__ = ["DEFAULT_MODEL", "FAILED", "OUTPUT_SUFFIX", "RECORD_NAME", "SKIPPED", "WRITTEN", "FileResult",
           "JobRecord", "JobSettings", "JobSummary", "LocalRunner", "Plan", "plan_upscale", "run_job",
           "upscale_batch"]
