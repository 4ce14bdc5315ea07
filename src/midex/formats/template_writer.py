"""The empty submission template, written for providers: a CSV header, or an XLSX with the
codelists on extra sheets and drop-down lists (data validation) for INDICATOR, SEX and
UNIT_MEASURE. Every code comes from the schema passed in; none is written here. Used by
`midex template` and the service's /template download."""

from __future__ import annotations

import csv
from pathlib import Path

from midex.contract.schema import Codelist, Schema

DATA_SHEET = "data"
MAX_ROWS = 100_000  # rows the drop-downs cover
DROPDOWNS = {"INDICATOR": "indicators", "SEX": "sex", "UNIT_MEASURE": "units"}
CODELIST_SHEETS = {  # sheet name -> Schema attribute
    "INDICATOR": "indicators",
    "SEX": "sex",
    "AGE": "age",
    "UNIT_MEASURE": "units",
    "OBS_STATUS": "obs_status",
}


def write_csv(path: Path, schema: Schema) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow([c.name for c in schema.template_columns])


def _codelist_rows(codelist: Codelist) -> tuple[list[str], list[list[str]]]:
    extra = sorted({k for c in codelist.codes for k in c.attrs if k in ("unit", "definition")})
    header = ["code", "name", *extra, "also accepted"]
    rows = [
        [c.code, c.name, *[str(c.attrs.get(k, "")) for k in extra], ", ".join(c.aliases)]
        for c in codelist.codes
    ]
    return header, rows


def write_xlsx(path: Path, schema: Schema) -> None:
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    data = wb.active
    assert data is not None  # a new workbook has its one worksheet
    data.title = DATA_SHEET
    columns = list(schema.template_columns)
    for j, col in enumerate(columns, start=1):
        cell = data.cell(row=1, column=j, value=col.name)
        cell.font = Font(bold=col.required)
        note = f"{'Required. ' if col.required else ''}{col.description}"
        if col.default:
            note += f" Default: {col.default}."
        cell.comment = Comment(note, "midex")
        data.column_dimensions[get_column_letter(j)].width = max(14, len(col.name) + 4)
    data.freeze_panes = "A2"

    ranges: dict[str, str] = {}
    for sheet_name, attr in CODELIST_SHEETS.items():
        header, rows = _codelist_rows(getattr(schema, attr))
        ws = wb.create_sheet(sheet_name)
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append(row)
        ws.column_dimensions["A"].width = 22
        ws.column_dimensions["B"].width = 50
        ranges[attr] = f"'{sheet_name}'!$A$2:$A${len(rows) + 1}"

    for column, attr in DROPDOWNS.items():
        j = next(i for i, c in enumerate(columns, start=1) if c.name == column)
        letter = get_column_letter(j)
        validation = DataValidation(
            type="list",
            formula1=f"={ranges[attr]}",
            allow_blank=True,
            showErrorMessage=True,
            errorTitle=f"Unknown {column}",
            error=f"Choose a {column} code from the list (sheet {column}).",
        )
        validation.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
        data.add_data_validation(validation)
    wb.save(path)
