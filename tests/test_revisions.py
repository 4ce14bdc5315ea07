"""Revisions, replace mode and time travel through the real pipeline: a provider's later accepted
submission supersedes its earlier values, `--mode replace` withdraws what the file no longer
has within its scope, `publish --as-of` gives exactly what was current then, and `history` shows
every version."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from midex.stages import resolution, run, submit
from midex.storage.catalog import ProviderKind, SubmissionStatus
from tests.conftest import write

pytestmark = pytest.mark.spark

HEADER = "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MULT\n"
FIRST = HEADER + "MEX,REMIT_IN,2019,10,9\nMEX,REMIT_IN,2020,20,9\nMEX,GDP,2021,1000,9\n"
REVISION = HEADER + "Mexico,REMIT_IN,2020,21,9\n"  # merge: revises 2020 only
# replace: scope = {REMIT_IN, GDP} x {MEX} x {2019, 2020}; it no longer has REMIT_IN 2020, so
# that value is withdrawn; GDP 2021 lies outside the scope (2021) and stays.
REPLACEMENT = HEADER + "MEX,REMIT_IN,2019,11,9\nMEX,GDP,2020,900,9\n"

DAY = [datetime(2026, 1, d, 12, tzinfo=UTC) for d in (1, 2, 3)]


def _values(rows) -> dict[tuple[str, str], float | None]:
    return {(r["INDICATOR"], r["TIME_PERIOD"]): r["OBS_VALUE"] for r in rows}


def test_revisions_replace_as_of_and_history(spark, ctx, tmp_path: Path, cli) -> None:
    ctx.catalog.add_provider("MX", "INEGI", ProviderKind.national, ["MEX"])
    subs = [
        submit(ctx, write(tmp_path / "first.csv", FIRST), "MX"),
        submit(ctx, write(tmp_path / "revision.csv", REVISION), "MX"),
        submit(ctx, write(tmp_path / "replace.csv", REPLACEMENT), "MX", mode="replace"),
    ]
    results, failures = run(ctx, spark)
    assert not failures and [s.status for s in results] == [SubmissionStatus.accepted] * 3
    assert [str(s.mode) for s in results] == ["merge", "merge", "replace"]
    # pin the acceptance times to three days, so as-of instants are easy to name
    for sub, day in zip(subs, DAY, strict=True):
        ctx.catalog.update_submission(sub.id, accepted_at=day)
    ids = [s.id for s in subs]

    def current(as_of: datetime | None):
        res = resolution(ctx, spark, as_of)
        return {
            k: v
            for k, v in _values(r.asDict() for r in res.observations.collect()).items()
            if v is not None
        }

    assert resolution(ctx, spark, datetime(2025, 12, 31, tzinfo=UTC)) is None
    assert current(DAY[0]) == {("REMIT_IN", "2019"): 10e9, ("REMIT_IN", "2020"): 20e9,
                               ("GDP", "2021"): 1000e9}  # fmt: skip
    assert current(datetime(2026, 1, 2, 23, 59)) == {  # naive = UTC
        ("REMIT_IN", "2019"): 10e9,
        ("REMIT_IN", "2020"): 21e9,
        ("GDP", "2021"): 1000e9,
    }
    assert current(None) == {("REMIT_IN", "2019"): 11e9, ("GDP", "2020"): 900e9,
                             ("GDP", "2021"): 1000e9}  # fmt: skip

    # nothing overwritten: every submission's harmonised partition keeps its own values
    for sub_id, text in zip(ids, (FIRST, REVISION, REPLACEMENT), strict=True):
        part = pq.read_table(ctx.lake.submission_dir("harmonised", sub_id)).to_pylist()
        assert len(part) == text.count("\n") - 1

    # publish --as-of through the CLI: the release holds what was current on day 2
    published = cli("publish", "--as-of", "2026-01-02T18:00:00", "--json")
    assert published.code == 0, published.err
    release = published.json()
    manifest = json.loads((Path(release["path"]) / "manifest.json").read_text())
    assert manifest["as_of"].startswith("2026-01-02T18:00:00")
    observations = pq.read_table(Path(release["path"]) / "observations.parquet").to_pylist()
    assert _values(observations) == {("REMIT_IN", "2019"): 10e9, ("REMIT_IN", "2020"): 21e9,
                                     ("GDP", "2021"): 1000e9}  # fmt: skip
    assert sorted(release["submissions"]) == ids[:2]
    latest = cli("publish", "--json").json()
    latest_obs = pq.read_table(Path(latest["path"]) / "observations.parquet").to_pylist()
    assert _values(latest_obs)[("REMIT_IN", "2019")] == 11e9
    assert ("REMIT_IN", "2020") not in _values(latest_obs)  # withdrawn by the replacement

    # history: every version, oldest first, with its submission, time and fate
    hist = cli("history", "Mexico", "BX.TRF.PWKR.CD.DT", "--period", "2020", "--json")
    assert hist.code == 0, hist.err
    assert [(v["OBS_VALUE"], v["SUBMISSION_ID"], v["RESOLUTION"]) for v in hist.json()] == [
        (20e9, ids[0], "superseded"),
        (21e9, ids[1], "withdrawn"),
    ]
    assert hist.json()[0]["ACCEPTED_AT"].startswith("2026-01-01 12:00:00")
    whole = cli("history", "MEX", "REMIT_IN", "--json").json()
    assert [(v["TIME_PERIOD"], v["OBS_VALUE"], v["RESOLUTION"]) for v in whole] == [
        ("2019", 10e9, "superseded"),
        ("2019", 11e9, "won"),
        ("2020", 20e9, "superseded"),
        ("2020", 21e9, "withdrawn"),
    ]
    text = cli("history", "MEX", "REMIT_IN")
    assert text.code == 0 and "replace.csv" in text.out and "withdrawn" in text.out
    bad = cli("history", "Narnia", "REMIT_IN")
    assert bad.code == 1 and "unknown country 'Narnia'" in bad.err
    assert cli("history", "MEX", "REMIT_IN", "--period", "20x0").code == 1
