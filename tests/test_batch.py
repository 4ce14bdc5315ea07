"""Pending submissions are harmonised and validated together (one Spark plan per stage and
batch): the outcome of each is what it would be alone, rules never mix submissions, and a batch
that breaks falls back to one at a time so only the broken submission fails."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from midex.contract.findings import read_findings
from midex.contract.settings import Settings
from midex.stages import Context, init, parse, process, run, submit
from midex.storage.catalog import ProviderKind
from tests.conftest import write

pytestmark = pytest.mark.spark

HEADER = "REF_AREA,COUNTERPART_AREA,INDICATOR,SEX,TIME_PERIOD,OBS_VALUE\n"
# the same series key as B's first row: a duplicate only if rules mixed submissions
A = HEADER + "MEX,,POP,_T,2020,100\nMEX,,POP,M,2020,49\nMEX,,POP,F,2020,51\n"
# B alone: M + F != T for 2021 is a warning at line 5 (and B is accepted). Its 2020 total has no breakdown in B:
# checked against A's M and F (49 + 51) it would fail too, and A's key would be a duplicate.
B = HEADER + "MEX,,POP,_T,2020,300\nMEX,,POP,M,2021,10\nMEX,,POP,F,2021,10\nMEX,,POP,_T,2021,250\n"
# C: a national provider's area out of its scope, reported with C's own provider and areas
C = HEADER + "PHL,,REMIT_IN,_T,2020,5\nMEX,,REMIT_IN,_T,2020,6\n"


def _setup(tmp_path: Path) -> tuple[Context, list[int]]:
    ctx = Context.open()
    init(ctx)
    ctx.catalog.add_provider("UN", "UN DESA", ProviderKind.agency)
    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    ctx.catalog.add_provider("PH", "PSA", ProviderKind.national, ["PHL"])
    ids = []
    for name, text, provider in (("a.csv", A, "UN"), ("b.csv", B, "WB"), ("c.csv", C, "PH")):
        ids.append(submit(ctx, write(tmp_path / name, text), provider).id)
    return ctx, ids


def _outcome(ctx: Context, sid: int) -> tuple:
    sub = ctx.catalog.submission(sid)
    findings = read_findings(ctx.lake.findings_file(sid))
    rows = pq.read_table(ctx.lake.submission_dir("harmonised", sid)).to_pylist()
    return (
        str(sub.status),
        sorted((f.rule, f.row, f.severity, f.message) for f in findings),
        sorted(
            (r["SUBMISSION_ID"], r["PROVIDER"], r["REF_AREA"], r["SEX"], r["OBS_VALUE"])
            for r in rows
        ),
    )


def test_a_batch_gives_each_submission_its_own_outcome(
    spark, midex_home: Path, tmp_path: Path
) -> None:
    ctx, ids = _setup(tmp_path)
    run(ctx, spark)  # the three pending submissions in one batch
    batched = {i: _outcome(ctx, i) for i in ids}

    a, b, c = (batched[i] for i in ids)
    assert a[0] == "accepted" and a[1] == []
    assert b[0] == "accepted"
    assert [(rule, row, sev) for rule, row, sev, _ in b[1]] == [("sex_breakdown", 5, "warning")]
    assert c[0] == "rejected"
    assert [(rule, row) for rule, row, _, _ in c[1]] == [("area_out_of_scope", 3)]
    assert "PH" in c[1][0][3] and "PHL" in c[1][0][3]
    assert {r[1] for r in a[2]} == {"UN"} and {r[0] for r in b[2]} == {ids[1]}
    # A and B (the agencies' batch) quarantined nothing: their quarantine folders were written
    # without a Spark pass, yet Spark reads them beside C's with the same columns and types
    folders = {i: ctx.lake.submission_dir("quarantine", i) for i in ids}
    assert [pq.read_table(folders[i]).num_rows for i in ids] == [0, 0, 1]
    alone = spark.read.parquet(str(folders[ids[2]]))
    together = spark.read.parquet(*[str(f) for f in folders.values()])
    assert together.schema == alone.schema and together.count() == 1
    assert spark.read.parquet(str(folders[ids[0]])).schema == alone.schema

    # the same files, one at a time, in a fresh home: the same outcome for each
    ctx2 = Context.open(Settings(home=tmp_path / "alone"))
    init(ctx2)
    for p in ctx.catalog.providers():
        ctx2.catalog.add_provider(p.code, p.name, ProviderKind(p.kind), p.areas)
    for name, provider in (("a.csv", "UN"), ("b.csv", "WB"), ("c.csv", "PH")):
        process(ctx2, spark, submit(ctx2, tmp_path / name, provider))
    assert {i: _outcome(ctx2, i) for i in ids} == batched


def test_a_broken_batch_falls_back_to_one_at_a_time(
    spark, midex_home: Path, tmp_path: Path
) -> None:
    ctx, ids = _setup(tmp_path)
    for sid in ids:
        parse(ctx, ctx.catalog.submission(sid))
    # B's raw partition is damaged on disk: the batch read fails
    part = next(ctx.lake.submission_dir("raw", ids[1]).glob("*.parquet"))
    part.write_bytes(b"not parquet at all")
    results, failures = run(ctx, spark)
    statuses = {s.id: str(s.status) for s in ctx.catalog.submissions()}
    assert statuses == {ids[0]: "accepted", ids[1]: "failed", ids[2]: "rejected"}
    assert len(failures) == 1 and f"submission {ids[1]}" in failures[0]
    assert {s.id: str(s.status) for s in results} == statuses
    runs = ctx.catalog.stage_runs(ids[0])
    harmonise_runs = [r.ok for r in runs if r.stage == "harmonise"]
    assert harmonise_runs == [False, True]  # the batch attempt, then alone
