"""Settings in one place: every MIDEX_* environment variable the platform reads.

| variable            | default                          | meaning                                  |
|---------------------|----------------------------------|------------------------------------------|
| MIDEX_HOME          | ./.midex                         | root of the embedded deployment          |
| MIDEX_LAKE          | $MIDEX_HOME/lake                 | lake zones raw/ harmonised/ quarantine/ … |
| MIDEX_LANDING       | $MIDEX_HOME/landing              | where submitted files are kept unchanged |
| MIDEX_CATALOG_URL   | sqlite:///$MIDEX_HOME/catalog.db | SQLAlchemy URL of the catalog            |
| MIDEX_SPARK_MASTER  | local[*]                         | Spark master URL                         |
| MIDEX_SCHEMAS       | the repository's schemas/        | folder of schema and codelist files      |
| MIDEX_EXPECTATIONS  | the repository's expectations/   | folder of validation suites              |
| MIDEX_JOBS          | the repository's jobs/           | spark-submit entry points (DAGs use them) |
"""

from __future__ import annotations

from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# schemas/ and expectations/ sit at the repository root, two levels above src/midex/.
_REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIDEX_", extra="ignore")

    home: Path = Path(".midex")
    lake: Path | None = None
    landing: Path | None = None
    catalog_url: str | None = None
    spark_master: str = "local[*]"
    spark_shuffle_partitions: int = 4
    schemas: Path = _REPO_ROOT / "schemas"
    expectations: Path = _REPO_ROOT / "expectations"
    jobs: Path = _REPO_ROOT / "jobs"

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


def get_settings() -> Settings:
    """Read the environment now (not cached: tests and the CLI may change it between calls)."""
    return Settings()
