"""Settings in one place: every MIDEX_* environment variable the platform reads.

| variable            | default                          | meaning                                  |
|---------------------|----------------------------------|------------------------------------------|
| MIDEX_HOME          | ./.midex                         | root of the embedded deployment          |
| MIDEX_LAKE          | $MIDEX_HOME/lake                 | lake zones raw/ harmonised/ quarantine/ … |
| MIDEX_LANDING       | $MIDEX_HOME/landing              | where submitted files are kept unchanged |
| MIDEX_CATALOG_URL   | sqlite:///$MIDEX_HOME/catalog.db | SQLAlchemy URL of the catalog            |
| MIDEX_SPARK_MASTER  | local[*]                         | Spark master URL                         |
| MIDEX_SPARK_LOCAL_IP (or SPARK_LOCAL_IP) | 127.0.0.1   | address the Spark driver binds and advertises |
| MIDEX_DEBUG         | false                            | the CLI prints a crash's traceback       |
| MIDEX_SPARK_DRIVER_MEMORY | 4g                         | driver heap (in local mode, also the executor's) |
| MIDEX_SPARK_CLASS_ARCHIVE | $VENV/share/midex/spark-classes.jsa | JVM class archive for a faster start ("" = off) |
| MIDEX_SCHEMAS       | the repository's schemas/ (installed: $PREFIX/share/midex/schemas) | folder of schema and codelist files      |
| MIDEX_EXPECTATIONS  | the repository's expectations/   | folder of validation suites              |
| MIDEX_JOBS          | the repository's jobs/           | spark-submit entry points (DAGs use them) |
| MIDEX_S3_ENDPOINT_URL | (AWS)                          | S3-compatible endpoint (MinIO …) when MIDEX_LANDING is s3:// |
| MIDEX_S3_REGION     | us-east-1                        | region of the landing bucket             |
| MIDEX_UPLOAD_MAX_BYTES | 209715200 (200 MB)            | largest file the service accepts (the whole multipart body: 72 KiB more) |
| MIDEX_ANONYMOUS_READ | false                           | service: published, non-embargoed data without a token |
| MIDEX_AIRFLOW_URL   | (none: embedded worker)          | service: trigger midex_intake through Airflow's REST API |
| MIDEX_AIRFLOW_USERNAME, MIDEX_AIRFLOW_PASSWORD | (none) | Airflow login for its /auth/token     |
| MIDEX_CLAIM_LEASE_S | 600                              | a processing claim's lease; renewed every third of it while its process works |
| MIDEX_MAX_ATTEMPTS  | 3                                | crashes after which a submission is not retried automatically (`midex run --submission ID` still retries it) |
| MIDEX_STAGE_BUDGET_S | 3600                            | wall time of a harmonise or validate stage (batch or one submission) before its Spark jobs are cancelled |
| MIDEX_PARSE_BUDGET_S | 600                             | wall time of reading one file (in a process of its own) before it is stopped (0: none) |
| MIDEX_PARSE_MEMORY_MB | 4096                           | address space of the process reading one file (0: no limit) |
| MIDEX_AUTH_FAILURES_PER_MINUTE | 20                    | service: failed authentications a client address may make per minute before 429 |
| MIDEX_XLSX_MAX_UNCOMPRESSED_BYTES | 524288000 (500 MB)      | largest unpacked .xlsx (all zip parts), or .xls file |
| MIDEX_XLSX_MAX_RATIO | 100                             | largest unpacked/packed ratio of an .xlsx part ≥ 1 MiB, or of the whole zip (zip bomb) |
| MIDEX_XLSX_MAX_SHARED_STRINGS_BYTES | 104857600 (100 MB)  | largest shared-strings part (read whole when the workbook opens) |
| MIDEX_XLSX_MAX_CELLS | 20000000                        | most cells in a sheet: declared (dimension) or read |
| MIDEX_XLSX_MAX_ROWS  | 1048576 (Excel's own maximum)   | most rows in a sheet; a bigger table comes as CSV |

MIDEX_LANDING may be an `s3://bucket/prefix`: files then land in the object store through boto3
(credentials from the usual AWS variables or instance profile) and `landing` is a local folder
for staging uploads only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _shipped(name: str) -> Path:
    """Where schemas/, expectations/ or jobs/ are when no setting names them: the repository
    checkout this package runs from (an editable install, the tests), else what an installed
    package ships under <prefix>/share/midex/ (pyproject's data-files)."""
    checkout = Path(__file__).resolve().parents[3] / name
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "midex" / name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIDEX_", extra="ignore", populate_by_name=True)

    home: Path = Path(".midex")
    lake: Path | None = None
    landing: Path | None = None
    catalog_url: str | None = None
    spark_master: str = "local[*]"
    # the address the Spark driver binds and advertises: loopback, or on a cluster the address its
    # executors reach this host by (Spark's own SPARK_LOCAL_IP is honoured, as infra/ sets it)
    spark_local_ip: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("MIDEX_SPARK_LOCAL_IP", "SPARK_LOCAL_IP"),
    )
    # the CLI shows a crash's traceback instead of one line
    debug: bool = False
    spark_shuffle_partitions: int = 4
    # Spark's own default (1g) is small once the driver is also the executor (local mode):
    # validating 1M rows spills its sorts with it (327 MB), not with 4g; batches go to 5M rows
    spark_driver_memory: str = "4g"
    # the JVM class archive (midex.runtime.class_archive): None = in the virtual environment, "" = off
    spark_class_archive: str | None = None
    # pending submissions are harmonised and validated together, in batches of at most this
    # many raw rows (one Spark plan per stage and batch; a bigger file goes alone)
    batch_rows: int = 5_000_000
    # a process claims the submissions it processes; another may take them over only when the
    # claim's lease runs out (renewed while the process works) or its process is gone
    claim_lease_s: float = 600.0
    # a submission whose processing crashed this many times is not retried automatically
    max_attempts: int = 3
    # wall time a harmonise or validate stage (a batch, or one submission) may take; past it
    # its Spark jobs are cancelled: a batch is retried one submission at a time, and a
    # submission still too slow alone ends failed
    stage_budget_s: float = 3600.0
    # reading one file runs in a child process (midex.formats.isolation): its wall time, and its
    # address space (RLIMIT_AS; a child that imported the readers uses ~0.3 GB of it, the
    # largest real file ~…); 0 = no limit
    parse_budget_s: float = 600.0
    parse_memory_mb: int = 4096
    schemas: Path = Field(default_factory=lambda: _shipped("schemas"))
    expectations: Path = Field(default_factory=lambda: _shipped("expectations"))
    jobs: Path = Field(default_factory=lambda: _shipped("jobs"))
    # object-store landing: set from an s3:// MIDEX_LANDING (see _split_landing)
    landing_s3: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # the HTTP service (`midex serve`)
    upload_max_bytes: int = 200 * 1024 * 1024
    anonymous_read: bool = False
    # failed authentications per client address and minute; past it: 429 with Retry-After
    auth_failures_per_minute: int = 20
    airflow_url: str | None = None
    airflow_username: str | None = None
    airflow_password: str | None = None
    # spreadsheets, checked before they are opened (midex.formats.sheets, docs/security.md);
    # the real workbooks are far below: 2 MB unpacked, ratio 12.6, 30 KB of shared strings,
    # 18,090 cells and 294 rows at most
    xlsx_max_uncompressed_bytes: int = 500 * 1024 * 1024
    xlsx_max_ratio: float = 100.0
    xlsx_max_shared_strings_bytes: int = 100 * 1024 * 1024
    xlsx_max_cells: int = 20_000_000
    xlsx_max_rows: int = 1_048_576

    @model_validator(mode="before")
    @classmethod
    def _split_landing(cls, data: Any) -> Any:
        if isinstance(data, dict):
            landing = data.get("landing")
            if isinstance(landing, str) and landing.startswith("s3://"):
                data = {**data, "landing_s3": landing.rstrip("/"), "landing": None}
        return data

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        self.home = self.home.expanduser().absolute()
        if self.lake is None:
            self.lake = self.home / "lake"
        if self.landing is None:
            self.landing = self.home / "landing"
        if self.catalog_url is None:
            self.catalog_url = f"sqlite:///{self.home / 'catalog.db'}"
        self.lake = self.lake.expanduser().absolute()
        self.landing = self.landing.expanduser().absolute()
        return self


_pinned: Settings | None = None


def get_settings() -> Settings:
    """Read the environment now (not cached: tests and the CLI may change it between calls),
    or the settings this process was given (`pin_settings`)."""
    return _pinned if _pinned is not None else Settings()


def pin_settings(settings: Settings | None) -> None:
    """Make `get_settings()` return `settings` in this process instead of reading the
    environment (None: read it again). For a process that works for another one, with that
    one's settings: a file reader's child (formats.isolation), whose environment is the one its
    server process started with, not its parent's deployment."""
    global _pinned
    _pinned = settings
