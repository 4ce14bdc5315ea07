"""The lake: zones and the commit protocol for their folders.

Paths carry identity: `<zone>/submission=<id>/`, `published/<release>/`. A stage writes into a
temporary sibling folder and swaps it into place, so readers see the old folder or the new one,
never half of each; a rerun removes leftovers first and rewrites only its own folder.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ZONES = ("raw", "harmonised", "quarantine", "reports", "resolved", "published")


class Lake:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def init(self) -> None:
        for zone in ZONES:
            (self.root / zone).mkdir(parents=True, exist_ok=True)

    def submission_dir(self, zone: str, submission_id: int) -> Path:
        return self.root / zone / f"submission={submission_id}"

    def findings_file(self, submission_id: int) -> Path:
        return self.submission_dir("reports", submission_id) / "findings.json"

    def observations_dir(self) -> Path:
        return self.root / "resolved" / "observations"

    def published_dir(self) -> Path:
        return self.root / "published"

    def replace_dir(self, target: Path, write: Callable[[Path], None]) -> None:
        """Run `write(tmp)` into a fresh temporary folder, then swap it in place of `target`."""
        target.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".tmp-{target.name}-"
        for leftover in target.parent.glob(f"{prefix}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = target.parent / f"{prefix}{uuid.uuid4().hex[:8]}"
        try:
            write(tmp)
            if not tmp.exists():
                tmp.mkdir()
            old = target.parent / f"{prefix}old-{uuid.uuid4().hex[:8]}"
            if target.exists():
                os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def write_arrow(self, table: pa.Table, target: Path) -> None:
        def write(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            pq.write_table(table, tmp / "part-00000.parquet")

        self.replace_dir(target, write)

    def write_spark(self, df: DataFrame, target: Path, partitions: int | None = None) -> None:
        def write(tmp: Path) -> None:
            out = df.coalesce(partitions) if partitions else df
            out.write.mode("overwrite").parquet(str(tmp))

        self.replace_dir(target, write)
        # Cached plans that read the old files of `target` would fail with FILE_NOT_EXIST.
        df.sparkSession.catalog.refreshByPath(str(target))

    @staticmethod
    def parquet_rows(folder: Path) -> int:
        """Rows of a Parquet folder, from the files' footers: no Spark job, no data read."""
        return sum(pq.read_metadata(f).num_rows for f in sorted(Path(folder).glob("*.parquet")))

    def remove_submission(self, submission_id: int, zones: tuple[str, ...] = ZONES) -> None:
        for zone in zones:
            shutil.rmtree(self.submission_dir(zone, submission_id), ignore_errors=True)
