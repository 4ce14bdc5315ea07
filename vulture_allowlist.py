"""What vulture (`make check`) cannot see used, each with who uses it. Decorated registrations
(Typer commands, FastAPI routes and handlers, pydantic validators, SQLAlchemy listeners) are
ignored by [tool.vulture] ignore_decorators; Alembic revisions are excluded there."""

# ruff: noqa: B018, F821 - names listed for vulture, never run

# pydantic-settings reads it off the class
model_config  # midex.contract.settings.Settings
# SQLModel / dataclass fields: columns and attributes read by name
nullable  # midex.contract.schema.Column: the observation schema's YAML attribute
claimed_at  # catalog Claim: when a claim was taken, for operators reading the catalog
consumer  # service.tokens.Role.consumer: a role given by `midex token add --role consumer`
source_disagreements  # transforms.resolve.Resolved: written by name (RESOLVED_TABLES)
# attributes set on library objects (openpyxl cells and sheets, zipfile entries, GX contexts)
font
freeze_panes
compress_type
_compresslevel
progress_bars
status_code  # fastapi Response.status_code, set on the injected response
# the single-submission form of run_suite_by_submission: the validation benchmark
# (bench/bench_validation.py) and the suite's tests call it
run_suite
# the specification of periods.PREVIOUS_PERIOD_SQL: a Spark test holds the SQL to it
previous_period
# part of the cache key of formats.layout._load (a layout file edited in place is reloaded)
mtime
