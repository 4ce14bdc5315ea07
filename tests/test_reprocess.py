"""`midex reprocess` after a mapping change: only affected submissions, scoped by provider or
indicator, acceptance times kept, old partitions archived, and idempotent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from midex.stages import Context, init, reprocess, run, submit
from midex.storage.catalog import ProviderKind, SubmissionStatus
from tests.conftest import REPO, write

pytestmark = pytest.mark.spark

# "Macondo" is no country midex knows yet: the row is an error and the file is rejected
NATIONAL = (
    "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nColombia,MIG_NET,2020,-5\nMacondo,MIG_NET,2021,7\n"
)
AGENCY = "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nCOL,GDP,2020,270e9\n"
OTHER = "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nPER,POP,2020,33e6\n"


def _observations(ctx: Context) -> list[tuple]:
    rows = pq.read_table(ctx.lake.observations_dir()).to_pylist()
    return sorted(
        (r["REF_AREA"], r["INDICATOR"], r["OBS_VALUE"], r["MAPPING_VERSION"]) for r in rows
    )


def test_reprocess_after_a_mapping_change(
    spark, midex_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", schemas)
    monkeypatch.setenv("MIDEX_SCHEMAS", str(schemas))
    ctx = Context.open()
    init(ctx)
    ctx.catalog.add_provider("CO", "DANE", ProviderKind.national, ["COL"])
    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    ctx.catalog.add_provider("UN", "UN DESA", ProviderKind.agency)
    national = submit(ctx, write(tmp_path / "co.csv", NATIONAL), "CO")
    agency = submit(ctx, write(tmp_path / "wb.csv", AGENCY), "WB")
    other = submit(ctx, write(tmp_path / "un.csv", OTHER), "UN")
    run(ctx, spark)
    assert ctx.catalog.submission(national.id).status == SubmissionStatus.rejected
    old_version = ctx.schema.mapping_version
    accepted_at = ctx.catalog.submission(agency.id).accepted_at
    assert reprocess(ctx, spark, all_=True) == []  # nothing changed yet

    # a reviewed override makes Macondo a known area (a data engineer's mapping change)
    overrides = schemas / "areas" / "overrides.yaml"
    overrides.write_text(
        overrides.read_text().replace("overrides:\n", "overrides:\n  MACONDO: COL\n", 1)
    )
    ctx = Context.open()
    assert ctx.schema.mapping_version != old_version

    assert reprocess(ctx, spark, indicator="SM.POP.NETM") == [national.id]  # WDI alias of MIG_NET
    sub = ctx.catalog.submission(national.id)
    assert (
        sub.status == SubmissionStatus.accepted
        and sub.mapping_version == ctx.schema.mapping_version
    )
    assert reprocess(ctx, spark, provider="WB") == [agency.id]
    assert ctx.catalog.submission(agency.id).accepted_at == accepted_at  # not a revision
    assert (ctx.lake.root / "archive" / "harmonised" / f"submission={agency.id}").is_dir()

    first = cli("reprocess", "--all", "--json")
    assert first.code == 0, first.err
    assert first.json()["reprocessed"] == [{"id": other.id, "status": "accepted"}]
    obs = _observations(ctx)
    assert ("COL", "MIG_NET", 7.0, ctx.schema.mapping_version) in obs  # Macondo's row, now COL
    assert {r[3] for r in obs} == {ctx.schema.mapping_version}

    # idempotent: the second run finds nothing and changes nothing
    harmonised = ctx.lake.submission_dir("harmonised", other.id)
    stamp = sorted(p.stat().st_mtime_ns for p in harmonised.iterdir())
    second = cli("reprocess", "--all")
    assert second.code == 0 and "nothing to reprocess" in second.out
    assert _observations(ctx) == obs
    assert sorted(p.stat().st_mtime_ns for p in harmonised.iterdir()) == stamp

    usage = cli("reprocess")
    assert usage.code == 2 and "--all" in usage.err
    assert cli("reprocess", "--provider", "XX").code == 1
