"""The template as XLSX (`midex template`), decimal commas, and bad files: one clear line each,
the landed file kept, the submission rejected with the reason."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from midex.contract.errors import MidexError
from midex.contract.schema import load_schema
from midex.formats import read_submission
from tests.conftest import write


def test_template_command_csv_and_xlsx_with_dropdowns(tmp_path: Path, cli) -> None:
    from openpyxl import load_workbook

    schema = load_schema()
    columns = [c.name for c in schema.template_columns]
    out = cli("template", "--output", str(tmp_path / "t.csv"))
    assert out.code == 0, out.err
    assert (tmp_path / "t.csv").read_text(encoding="utf-8").strip() == ",".join(columns)

    out = cli("template", "--format", "xlsx", "--output", str(tmp_path / "t.xlsx"), "--json")
    assert out.code == 0, out.err
    assert out.json() == {"path": str(tmp_path / "t.xlsx"), "format": "xlsx"}
    wb = load_workbook(tmp_path / "t.xlsx")
    data = wb["data"]
    assert [c.value for c in data[1]] == columns
    for sheet, codelist in (("INDICATOR", schema.indicators), ("SEX", schema.sex)):
        codes = [r[0] for r in wb[sheet].iter_rows(min_row=2, values_only=True)]
        assert codes == [c.code for c in codelist.codes]
    lists = {str(v.sqref): v.formula1 for v in data.data_validations.dataValidation}
    letter = {name: chr(ord("A") + i) for i, name in enumerate(columns)}
    n_ind, n_units = len(schema.indicators.codes), len(schema.units.codes)
    assert lists[f"{letter['INDICATOR']}2:{letter['INDICATOR']}100001"] == (
        f"='INDICATOR'!$A$2:$A${n_ind + 1}"
    )
    assert lists[f"{letter['UNIT_MEASURE']}2:{letter['UNIT_MEASURE']}100001"] == (
        f"='UNIT_MEASURE'!$A$2:$A${n_units + 1}"
    )
    assert f"{letter['SEX']}2:{letter['SEX']}100001" in lists

    # a provider fills it in Excel: the workbook reads back as the template
    data.append(["PHL", None, "REMIT_IN", None, None, 2022, 38050000000.5])
    data.append([])
    data.append(["MEX", None, "REMIT_IN", "_T", None, "2022", 61.1, None, 9])
    wb.save(tmp_path / "filled.xlsx")
    parsed = read_submission(tmp_path / "filled.xlsx", "auto", load_schema())
    assert parsed.format == "template"
    got = list(
        zip(
            *(
                parsed.table.column(c).to_pylist()
                for c in ("REF_AREA", "TIME_PERIOD", "OBS_VALUE", "UNIT_MULT", "SOURCE_ROW")
            ),
            strict=True,
        )
    )
    assert got == [("PHL", "2022", "38050000000.5", "", 2), ("MEX", "2022", "61.1", "9", 4)]
    assert set(parsed.table.column("SOURCE_SHEET").to_pylist()) == {"data"}


HEADER = "REF_AREA;INDICATOR;TIME_PERIOD;OBS_VALUE\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("AUT;MIG_NET;2020;41,14\nAUT;MIG_NET;2021;..\n", ["41.14", ".."]),
        ("AUT;MIG_NET;2020;1,234\nAUT;MIG_NET;2021;2,5\n", ["1.234", "2.5"]),
        # every comma followed by three digits could be a thousands separator: left as written
        ("AUT;MIG_NET;2020;1,234\nAUT;MIG_NET;2021;2\n", ["1,234", "2"]),
        # a point somewhere: not a decimal-comma file
        ("AUT;MIG_NET;2020;1,5\nAUT;MIG_NET;2021;2.5\n", ["1,5", "2.5"]),
    ],
)
def test_decimal_comma_only_when_unambiguous(tmp_path: Path, body: str, expected: list) -> None:
    parsed = read_submission(write(tmp_path / "x.csv", HEADER + body), "template", load_schema())
    assert parsed.table.column("OBS_VALUE").to_pylist() == expected


def test_comma_separated_file_keeps_its_values(tmp_path: Path) -> None:
    text = 'REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nAUT,MIG_NET,2020,"41,14"\n'
    parsed = read_submission(write(tmp_path / "x.csv", text), "template", load_schema())
    assert parsed.table.column("OBS_VALUE").to_pylist() == ["41,14"]


def _truncated_xlsx(tmp_path: Path) -> Path:
    from openpyxl import Workbook

    full = tmp_path / "full.xlsx"
    wb = Workbook()
    wb.active.append(["REF_AREA", "INDICATOR", "TIME_PERIOD", "OBS_VALUE"])
    wb.save(full)
    data = full.read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(cut)
    return cut


BAD_FILES = {
    "empty.csv": (lambda p: write(p, ""), "the file is empty"),
    "binary.csv": (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\rIHDR"), "not a text file"),
    "ragged.csv": (
        lambda p: write(p, "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nPHL,POP,2020,1,2\n"),
        "row 2 has 5 fields, expected 4",
    ),
    "encoding.csv": (
        lambda p: p.write_bytes(b"REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nC\x81te,POP,2020,1\n"),
        "encoding is neither UTF-8 nor Windows-1252",
    ),
    "nothing.csv": (
        lambda p: write(p, "Jahr;Saldo\n2020;5\n"),
        "matches no format midex reads",
    ),
}


@pytest.mark.parametrize("file_name", [*BAD_FILES, "cut.xlsx"])
def test_bad_files_are_rejected_with_one_clear_line(ctx, tmp_path: Path, file_name: str) -> None:
    from midex.stages import parse_stage, submit
    from midex.storage.catalog import ProviderKind, SubmissionStatus

    if file_name == "cut.xlsx":
        path, expected = _truncated_xlsx(tmp_path), "cannot be opened .* save it again"
    else:
        make, expected = BAD_FILES[file_name]
        path = tmp_path / file_name
        make(path)
    ctx.catalog.add_provider("AG", "Agency", ProviderKind.agency, [])
    sub = submit(ctx, path, "AG", "auto")
    after = parse_stage(ctx, sub.id)
    assert after.status == SubmissionStatus.rejected
    assert after.error.startswith(f"{path.name}: ")
    assert "\n" not in after.error
    assert pytest.importorskip("re").search(expected, after.error), after.error
    assert Path(after.landing_uri).read_bytes() == path.read_bytes()  # the landed file is kept
    with pytest.raises(MidexError):
        read_submission(path, "auto", load_schema())


def test_submit_says_which_format_auto_detection_chose(midex_home, tmp_path: Path, cli) -> None:
    assert cli("provider", "add", "AG", "--name", "Agency", "--kind", "agency").code == 0
    eurostat = write(tmp_path / "e.tsv", "indic_de,geo\\time\t2019 \nCNMIGRAT,AT\t5 \n")
    out = cli("submit", str(eurostat), "--provider", "AG")
    assert out.code == 0, out.err
    assert "format detected: eurostat-tsv" in out.out
    plain = write(tmp_path / "t.csv", "REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE\nAT,POP,2020,1\n")
    out = cli("submit", str(plain), "--provider", "AG")
    assert "format detected: template (no other format recognised the file)" in out.out
    out = cli("submit", str(plain), "--provider", "AG", "--format", "template", "--new")
    assert "format template)" in out.out
