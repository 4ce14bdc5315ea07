"""`midex template [--format csv|xlsx] [--output PATH]`: an empty submission template.

The XLSX carries the codelists on extra sheets and drop-down lists (data validation) for
INDICATOR, SEX and UNIT_MEASURE; every code comes from schemas/ (load_schema), none is written
here.
"""

from __future__ import annotations

import csv
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from midex.cli_app import JsonOpt, emit_json
from midex.schema import Codelist, Schema, load_schema

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


class TemplateFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


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


def register(app: typer.Typer) -> None:
    @app.command()
    def template(
        fmt: Annotated[
            TemplateFormat, typer.Option("--format", help="csv or xlsx (with codelists).")
        ] = TemplateFormat.csv,
        output: Annotated[
            Path | None,
            typer.Option("--output", help="Where to write it (default: midex_template.<fmt>)."),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Write an empty submission template (the XLSX has drop-downs and the codelists)."""
        schema = load_schema()
        path = output or Path(f"midex_template.{fmt.value}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == TemplateFormat.xlsx:
            write_xlsx(path, schema)
        else:
            write_csv(path, schema)
        if as_json:
            emit_json({"path": str(path), "format": fmt.value})
        else:
            typer.echo(
                f"template written to {path}; fill one row per value and check it with "
                f"`midex check {path}`"
            )
