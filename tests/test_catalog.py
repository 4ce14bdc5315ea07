"""The catalog on SQLite and on PostgreSQL: same models, same behaviour."""

from __future__ import annotations

import pytest
from sqlmodel import SQLModel

from midex.contract.clock import utcnow
from midex.contract.errors import MidexError
from midex.storage.catalog import Catalog, ProviderKind, Release, Submission, SubmissionStatus


@pytest.fixture
def catalog(catalog_url: str) -> Catalog:
    cat = Catalog(catalog_url)
    SQLModel.metadata.drop_all(cat.engine)
    cat.init()
    return cat


def _submission(code: str = "MX", sha: str = "ab" * 32) -> Submission:
    return Submission(
        provider_code=code,
        file_name="f.csv",
        format="template",
        sha256=sha,
        size_bytes=10,
        landing_uri="/landing/f.csv",
    )


def test_init_is_idempotent(catalog: Catalog) -> None:
    catalog.init()
    catalog.init()
    assert catalog.providers() == []


def test_provider_roundtrip_keeps_kind_and_areas(catalog: Catalog) -> None:
    catalog.add_provider("MX", "INEGI", ProviderKind.national, ["MEX"])
    catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    mx = catalog.provider("MX")
    assert (mx.kind, mx.areas) == (ProviderKind.national, ["MEX"])
    assert [p.code for p in catalog.providers()] == ["MX", "WB"]


def test_duplicate_and_unknown_provider_are_clear_errors(catalog: Catalog) -> None:
    catalog.add_provider("MX", "INEGI", ProviderKind.national, ["MEX"])
    with pytest.raises(MidexError, match="already exists"):
        catalog.add_provider("MX", "other", ProviderKind.agency)
    with pytest.raises(MidexError, match="midex provider add XX"):
        catalog.provider("XX")


def test_submission_lifecycle_and_stage_runs(catalog: Catalog) -> None:
    catalog.add_provider("MX", "INEGI", ProviderKind.national, ["MEX"])
    sub = catalog.add_submission(_submission())
    assert sub.id is not None and sub.status == SubmissionStatus.received
    run = catalog.start_stage(sub.id, "parse")
    catalog.finish_stage(run, True)
    catalog.update_submission(
        sub.id, status=SubmissionStatus.parsed, rows_raw=3, parsed_at=utcnow()
    )
    catalog.update_submission(
        sub.id,
        status=SubmissionStatus.rejected,
        validation={"errors": 1, "warnings": 0, "rules": []},
    )
    again = catalog.submission(sub.id)
    assert again.status == SubmissionStatus.rejected
    assert again.rows_raw == 3 and again.validation["errors"] == 1
    runs = catalog.stage_runs(sub.id)
    assert [(r.stage, r.ok) for r in runs] == [("parse", True)]
    assert runs[0].finished_at >= runs[0].started_at
    assert [s.id for s in catalog.submissions(SubmissionStatus.pending())] == []


def test_submission_needs_a_registered_provider(catalog: Catalog) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the foreign key refuses it on both engines
        catalog.add_submission(_submission(code="NOPE"))


def test_release_numbers_increase_and_are_unique(catalog: Catalog) -> None:
    assert catalog.next_release_number() == 1
    catalog.add_release(Release(number=1, path="/p/1", manifest_sha256="x", tables={"t": 1}))
    assert catalog.next_release_number() == 2
    with pytest.raises(Exception):  # noqa: B017 - unique constraint
        catalog.add_release(Release(number=1, path="/p/1b", manifest_sha256="y"))
    assert catalog.release().number == 1
    with pytest.raises(MidexError, match="no release 7"):
        catalog.release(7)
