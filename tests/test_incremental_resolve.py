"""Incremental resolution through the real pipeline: after each run, resolved/ holds exactly what
a resolution of every accepted submission gives, while only the areas a new submission touches
are written again (the other areas' files stay the same files)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from midex.stages import publish, resolution, run, submit
from midex.storage.catalog import ProviderKind, SubmissionStatus
from midex.storage.lake import area_of_file
from midex.transforms.resolve import RESOLVED_TABLES
from tests.conftest import write

pytestmark = pytest.mark.spark

HEADER = "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT\n"
AREAS = ("MEX", "GTM", "SLV", "HND", "NIC", "CRI")
# The agency reports every area; a later agency file in replace mode holds MEX REMIT_IN and
# GTM GDP for 2020, so its scope is {REMIT_IN, GDP} x {MEX, GTM} x {2020}: the agency's MEX GDP
# 2020 is withdrawn although no MEX GDP row of that file exists. Resolving MEX alone must take
# the scope from the whole file.
AGENCY = HEADER + "".join(
    f"{a},{i},{y},{n * 10 + k},9\n"
    for n, a in enumerate(AREAS, 1)
    for k, (i, y) in enumerate([("REMIT_IN", 2019), ("REMIT_IN", 2020), ("GDP", 2020)])
)
AGENCY_REPLACE = HEADER + "MEX,REMIT_IN,2020,99,9\nGTM,GDP,2020,77,9\n"
# the national office revises MEX: it wins over the agency; 2019 differs by far more than the
# tolerance, so MEX appears in source_disagreements
NATIONAL = HEADER + "MEX,REMIT_IN,2019,15,9\nMEX,GDP,2021,1200,9\n"
NATIONAL_REVISION = HEADER + "Mexico,REMIT_IN,2019,16,9\n"


def _on_disk(ctx) -> dict[str, list[tuple]]:
    return {
        n: sorted(
            tuple(sorted(r.items())) for r in pq.read_table(ctx.lake.resolved_dir(n)).to_pylist()
        )
        for n in RESOLVED_TABLES
    }


def _full(ctx, spark) -> dict[str, list[tuple]]:
    res = resolution(ctx, spark)
    return {
        n: sorted(tuple(sorted(r.asDict().items())) for r in df.collect())
        for n, df in res.tables().items()
    }


def _files(ctx) -> dict[str, tuple[str, int]]:
    """observations' files: name -> (area, inode)."""
    folder = ctx.lake.observations_dir()
    return {f.name: (area_of_file(f), f.stat().st_ino) for f in folder.glob("*.parquet")}


def test_incremental_resolution_equals_full_and_rewrites_only_touched_areas(
    spark, ctx, tmp_path: Path
) -> None:
    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency, [])
    ctx.catalog.add_provider("MX", "INEGI", ProviderKind.national, ["MEX"])
    steps = [
        ("agency.csv", AGENCY, "WB", "merge", set(AREAS)),
        ("replace.csv", AGENCY_REPLACE, "WB", "replace", {"MEX", "GTM"}),
        ("national.csv", NATIONAL, "MX", "merge", {"MEX"}),
        ("revision.csv", NATIONAL_REVISION, "MX", "merge", {"MEX"}),
    ]
    for n, (name, text, provider, mode, touched) in enumerate(steps):
        before = _files(ctx) if n else {}
        submit(ctx, write(tmp_path / name, text), provider, mode=mode)
        results, failures = run(ctx, spark)
        assert not failures and all(s.status == SubmissionStatus.accepted for s in results)
        assert _on_disk(ctx) == _full(ctx, spark), f"after {name}"
        after = _files(ctx)
        assert {area for area, _ in after.values()} == set(AREAS)
        if n:  # the files of untouched areas are the very same files
            kept = {f: v for f, v in before.items() if v[0] not in touched}
            assert kept and all(after.get(f) == v for f, v in kept.items()), name
            rewritten = {f for f, v in before.items() if v[0] in touched}
            assert all(after.get(f) != before[f] for f in rewritten), name
    state = ctx.lake.resolved_state()
    accepted = ctx.catalog.submissions((SubmissionStatus.accepted,))
    assert state is not None and set(state) == {s.id for s in accepted}
    assert state[accepted[0].id] == set(AREAS)

    observations = {
        (r["REF_AREA"], r["INDICATOR"], r["TIME_PERIOD"]): (r["OBS_VALUE"], r["PROVIDER"])
        for r in pq.read_table(ctx.lake.observations_dir()).to_pylist()
    }
    assert observations[("MEX", "REMIT_IN", "2019")] == (16e9, "MX")  # national revision wins
    assert observations[("MEX", "REMIT_IN", "2020")] == (99e9, "WB")  # replaced by the agency
    assert ("MEX", "GDP", "2020") not in observations  # withdrawn by the replace file's scope
    assert observations[("GTM", "GDP", "2020")] == (77e9, "WB")
    assert observations[("SLV", "GDP", "2020")] == (32e9, "WB")  # untouched all along
    disagreements = pq.read_table(ctx.lake.resolved_dir("source_disagreements")).to_pylist()
    assert [(d["REF_AREA"], d["TIME_PERIOD"]) for d in disagreements] == [("MEX", "2019")]

    # the release concatenates the areas' files: sorted by the series key, and Spark reads the
    # acceptance times as it wrote them
    release = publish(ctx, spark)
    folder = ctx.lake.published_dir() / str(release.number)
    published = pq.read_table(folder / "observations.parquet")
    keys = [tuple(r[k] for k in ctx.schema.series_key) for r in published.to_pylist()]
    assert keys == sorted(keys) and len(keys) == len(observations)
    assert published.to_pylist() == pq.read_table(ctx.lake.observations_dir()).to_pylist()
    read_back = spark.read.parquet(str(folder / "observations.parquet"))
    assert dict(read_back.dtypes)["ACCEPTED_AT"] == "timestamp"
    assert read_back.where("ACCEPTED_AT IS NULL").count() == 0


def test_a_lake_without_state_is_resolved_in_full(spark, ctx, tmp_path: Path) -> None:
    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency, [])
    submit(ctx, write(tmp_path / "agency.csv", AGENCY), "WB")
    run(ctx, spark)
    (ctx.lake.root / "resolved" / "_state.json").unlink()
    # an old-layout file in the folder (one file, every area) must not survive a full resolve
    stray = ctx.lake.observations_dir() / "part-00000-old.snappy.parquet"
    stray.write_bytes(next(ctx.lake.observations_dir().glob("MEX-*.parquet")).read_bytes())
    submit(ctx, write(tmp_path / "national.csv", NATIONAL), "WB")
    run(ctx, spark)
    assert not stray.exists()
    assert _on_disk(ctx) == _full(ctx, spark)
    assert ctx.lake.resolved_state() is not None
