"""Hostile input from a provider (issue 20): a format is a name from a closed list, never a path,
and no message shows a server path or the content of a file that is not a layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from midex.contract.errors import MidexError
from midex.contract.schema import load_schema
from midex.formats import check_format, read_submission
from tests.conftest import REPO, write

pytestmark = pytest.mark.fault  # the fault and abuse suite: pytest -m fault

PATH = "a format is a name, not a path: use one of auto, "
# names that reach files outside schemas/layouts/ if joined as a path, or name no format; each
# with the start of the one message it gets
TRAVERSALS = {
    "layout:../areas/overrides": PATH,  # a YAML file of the schema: its content is not echoed
    "layout:../../expectations/harmonised": PATH,
    "layout:/etc/passwd": PATH,
    "layout:..%2f..%2fareas%2foverrides": PATH,
    "layout:knomad_remittance_inflows/../../areas/overrides": PATH,
    "../schemas/layouts/knomad_remittance_inflows": PATH,
    "layout:": "unknown layout ''; known layouts: ",
    "layout": "name the layout: layout:<name> (known layouts: ",  # refused before parsing
    "nope": "unknown format 'nope'; use one of auto, ",
}


@pytest.mark.parametrize(("fmt", "says"), TRAVERSALS.items())
def test_a_format_outside_the_closed_list_is_refused_before_anything_is_opened(
    fmt: str, says: str, tmp_path: Path
) -> None:
    path = write(tmp_path / "x.csv", "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nMEX,GDP,2020,1\n")
    schema = load_schema()
    for call in (lambda: check_format(fmt, schema), lambda: read_submission(path, fmt, schema)):
        with pytest.raises(MidexError) as info:
            call()
        message = str(info.value)
        assert message.startswith(says), message
        assert "knomad_remittance_inflows" in message  # the names a provider may use
        assert str(REPO) not in message and "/schemas" not in message and "/etc" not in message
        assert "reporting_areas" not in message and "EL: GRC" not in message  # no file content
    known = "layout:knomad_remittance_inflows"
    assert check_format(known, schema) == known


def test_submit_refuses_a_path_as_format(midex_home: Path, tmp_path: Path, cli) -> None:
    assert cli("init").code == 0
    assert cli("provider", "add", "WB", "--name", "World Bank", "--kind", "agency").code == 0
    path = write(tmp_path / "x.csv", "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nMEX,GDP,2020,1\n")
    out = cli("submit", str(path), "--provider", "WB", "--format", "layout:../areas/overrides")
    assert out.code != 0
    assert "a format is a name, not a path" in out.err and str(REPO) not in out.err
    assert not any((midex_home / "landing").rglob("x.csv"))  # refused before it was landed


HEADER = b"REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,COMMENT\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # a NUL byte past the first 64 KB (which told text from binary)
        (HEADER + b"MEX,GDP,2020,1,a\n" * 5000 + b"MEX,GDP,2021,2,b\x00c\n",
         "line 5002: a NUL byte"),
        # the file starts in Windows-1252 (C\xf4te) and goes on in UTF-8 (S\xc3\xa9n\xc3\xa9gal)
        (HEADER + b"CIV,GDP,2020,1,C\xf4te\nMEX,GDP,2021,2,x\nSEN,GDP,2022,3,S\xc3\xa9n\xc3\xa9gal\n",
         "line 4: 'é' is written in UTF-8, but the file starts in another encoding"),
        # 100 KB of UTF-8 (beyond the detection window), then a Windows-1252 byte
        (HEADER + "MEX,GDP,2020,1,São Tomé\n".encode() * 4000 + b"MEX,GDP,2021,2,C\xf4te\n",
         "line 4002: byte 0xf4 is not UTF-8, but the file starts as UTF-8"),
    ],
)  # fmt: skip
def test_nul_bytes_and_mixed_encodings_are_refused_with_the_line(
    body: bytes, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(body)
    for fmt in ("template", "auto"):
        with pytest.raises(MidexError, match=message):
            read_submission(path, fmt, load_schema())


def test_a_clean_file_in_either_encoding_is_read(tmp_path: Path) -> None:
    for encoding in ("utf-8", "cp1252"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(HEADER + "CIV,GDP,2020,1,Côte d'Ivoire\n".encode(encoding))
        parsed = read_submission(path, "template", load_schema())
        assert parsed.table.column("COMMENT").to_pylist() == ["Côte d'Ivoire"]


def test_the_same_file_twice_is_one_submission_unless_asked(
    midex_home: Path, tmp_path: Path, cli
) -> None:
    assert cli("init").code == 0
    assert cli("provider", "add", "WB", "--name", "World Bank", "--kind", "agency").code == 0
    a = write(tmp_path / "a.csv", "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nMEX,GDP,2020,1\n")
    b = write(tmp_path / "b.csv", "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nMEX,GDP,2020,2\n")
    first = cli("submit", str(a), "--provider", "WB", "--json").json()
    again = cli("submit", str(a), "--provider", "WB", "--json").json()
    assert (again["id"], again["repeated"]) == (first["id"], True)
    text = cli("submit", str(a), "--provider", "WB").out
    assert (
        f"not queued again: a.csv is the same bytes as WB's latest submission {first['id']}" in text
    )
    forced = cli("submit", str(a), "--provider", "WB", "--new", "--json").json()
    assert forced["id"] != first["id"] and not forced["repeated"]
    # the same bytes after another file are a deliberate revision: a new submission
    cli("submit", str(b), "--provider", "WB")
    back = cli("submit", str(a), "--provider", "WB", "--json").json()
    assert back["id"] > forced["id"] and not back["repeated"]
    # the same bytes with another explicit format: the provider corrects how to read it
    other = cli("submit", str(a), "--provider", "WB", "--format", "sdmx-csv", "--json").json()
    assert other["id"] > back["id"] and not other["repeated"] and other["format"] == "sdmx-csv"
    same = cli("submit", str(a), "--provider", "WB", "--format", "sdmx-csv", "--json").json()
    assert (same["id"], same["repeated"]) == (other["id"], True)
    found = cli("submit", str(a), "--provider", "WB", "--json").json()  # auto: as it was found
    assert (found["id"], found["repeated"]) == (other["id"], True)


def test_detection_can_wait_for_the_parse_stage(ctx, tmp_path: Path) -> None:
    """The service registers an upload as `auto` and parsing finds and records the format."""
    from midex.stages import parse_stage, receive
    from midex.storage.catalog import ProviderKind

    ctx.catalog.add_provider("WB", "World Bank", ProviderKind.agency)
    path = REPO / "src" / "midex" / "demo" / "wb_kmd_remittances_gdp_2018_2022.csv"
    sub = receive(ctx, path, "WB", detect=False).submission
    assert sub.format == "auto"
    parsed = parse_stage(ctx, sub.id)
    assert (str(parsed.status), parsed.format) == ("parsed", "template")
