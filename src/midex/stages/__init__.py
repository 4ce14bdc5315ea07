"""The stages, wired: submit -> parse -> harmonise -> validate -> resolve -> publish.

The CLI's `midex run`, the jobs in jobs/ and the Airflow DAG all call these functions. Each stage
reads its input, rewrites only its own output folder for its own submission, then commits by
changing the submission's status in the catalog.

One module per stage (land, parse, harmonise, validate, resolve, publish), each reading its
input, calling its transform and committing; `record` is a stage's audit record, `claims` who
works on what, `batch` the lake partitions of a batch, `runner` what takes pending submissions
through the stages. This package's names are the pipeline's public entry points.
"""

from midex.stages.claims import claimed
from midex.stages.context import Context, init
from midex.stages.harmonise import harmonise, harmonise_batch
from midex.stages.land import Received, receive, register, register_landed, submit
from midex.stages.parse import parse, parse_stage
from midex.stages.publish import publish
from midex.stages.resolve import needs_resolve, resolution, resolve
from midex.stages.runner import (
    pending,
    process,
    process_batch,
    reprocess,
    run,
    suspects_last,
)
from midex.stages.validate import validate, validate_batch

__all__ = [
    "Context",
    "Received",
    "claimed",
    "harmonise",
    "harmonise_batch",
    "init",
    "needs_resolve",
    "parse",
    "parse_stage",
    "pending",
    "process",
    "process_batch",
    "publish",
    "receive",
    "register",
    "register_landed",
    "reprocess",
    "resolution",
    "resolve",
    "run",
    "submit",
    "suspects_last",
    "validate",
    "validate_batch",
]
