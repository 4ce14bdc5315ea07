"""`layout:<name>`: a provider's own table described by a YAML file, schemas/layouts/<name>.yaml.

Adding a provider's layout needs no Python. The keys (all optional unless said):

    description: one line for people
    detect: {contains: [texts], sheet: name}   # --format auto picks this layout when every text
                                                # is a cell of the first rows (of that sheet)
    encoding: cp437          # text files; default: found (UTF-8 with/without BOM, else cp1252)
    delimiter: ","           # text files; default: found (comma, semicolon, tab)
    sheet: "Table 1"         # Excel: sheet name or 0-based index; default: the first
    header: 11               # the header row as a spreadsheet user sees it, or
    header: {contains: "Country code"}   # the first row with a cell equal to this text
    skip_rows: 0             # rows between the header and the data (units, notes)
    end: blank_row           # the data stops at the first blank row (footnotes below it), or
    footer_rows: 8           # ... this many rows at the end are not data
    shape: wide              # wide: values in several columns (years as columns); long: one
    dimensions:              # template column -> the source column (header text) giving it
      REF_AREA: "Country code"
    values:                  # the value column(s); a list of blocks for several
      columns: '^\\d{4}$'    # a regex over header texts, a list of headers, or a range "F:L"
                             # ("G:" = from G to the last column with a header)
      header_is: TIME_PERIOD # the dimension the header text gives (wide)
      header_pattern: '^(\\d{4})'  # the part of the header text to keep (first group)
      fixed: {SEX: F}        # dimension values for this block only
      missing: ["0.0"]       # extra missing markers for this block only
    fixed: {INDICATOR: REMIT_IN, UNIT_MULT: "6"}   # the same value on every observation
    codes: {COUNTERPART_AREA: {"-": ""}}           # source code -> template value, per column
    where: {Coverage: [Both]}                      # keep only rows with these values
    where_not_blank: ["Type of data"]              # keep only rows where these are filled in
    comment: [Criteria]      # columns copied into COMMENT ("Criteria: Residence")
    numbers: {decimal: ",", thousands: " "}        # the file's notation
    missing: ["..", "n.a."]  # markers of no value, besides the schema's
    zeros: missing           # the source writes 0 for "no data": a cell whose number is
                             # exactly 0 (0, 0.0, 0,00) is no value; also per block. Default:
                             # values (a 0 is a real zero)
    total_rows:              # rows that hold the source's own total over the row areas
      - where: {REF_AREA: [World]}       # the rows whose dimension has one of these labels
        fixed: {INDICATOR: EMIG_STOCK}   # what the total is
        swap: [REF_AREA, COUNTERPART_AREA]   # the column's partner becomes the area, the
                                             # partner _Z (all); read before `where` filters
    sum_parts:               # an area the source gives only as its parts (no ISO code of
      TZA: ["835", "836"]    # their own): their values are added into the area's, for each
                             # period where every part has one (else left out, noted); the
                             # parts' own rows are not kept
    tables: [...]            # several tables (sheets) in one file: each entry takes the keys
                             # above and inherits the top-level ones

Rows whose area is an aggregate or a former state (schemas/areas/overrides.yaml) are left out
and reported in the parse notes, as are empty cells and rows a `where` filter drops. A partner
(COUNTERPART_AREA) labelled as a total there ("World") is read as _Z, the partner-less total, so a
matrix's own total column is kept; residual partners ("Other North") keep their codes.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml

from midex.contract.areas import NOT_APPLICABLE, NOTE_WHAT, NonCountries, non_countries
from midex.contract.errors import MidexError
from midex.contract.schema import Schema
from midex.formats.base import FormatSpec, ParsedFile
from midex.formats.raw import RawRows, count_note, normalise_number
from midex.formats.sheets import (
    Sheet,
    blank,
    check_readable,
    detect_encoding,
    first_rows,
    head,
    kind,
    read_sheet,
    read_text,
    text_lines,
    text_rows,
)

AREA_COLUMNS = ("REF_AREA", "COUNTERPART_AREA")
_DETECT_ROWS = 30
_KNOWN_KEYS = {
    "description", "detect", "encoding", "delimiter", "sheet", "header", "skip_rows", "end",
    "footer_rows", "shape", "dimensions", "values", "fixed", "codes", "where",
    "where_not_blank", "comment", "numbers", "missing", "tables", "total_rows", "zeros",
    "sum_parts",
}  # fmt: skip


def layouts_dir(schema: Schema) -> Path:
    """The layouts of `schema`: its folder's layouts/."""
    return schema.root / "layouts"


def layout_names(schema: Schema) -> list[str]:
    folder = layouts_dir(schema)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


@cache
def _load(path: Path, mtime: float) -> dict[str, Any]:  # noqa: ARG001 - mtime: part of the cache key
    # The layout is named by its name only: the YAML parser's and the OS's messages hold the
    # file's full path on the server, so only their parts that say what is wrong are kept.
    name = path.stem
    try:
        with path.open(encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except yaml.MarkedYAMLError as exc:
        raise MidexError(f"layout {name}: {_yaml_problem(exc)}; fix the layout file") from None
    except yaml.YAMLError as exc:
        raise MidexError(f"layout {name}: not valid YAML; fix the layout file") from exc
    except UnicodeDecodeError as exc:
        raise MidexError(
            f"layout {name}: not UTF-8 text (byte {exc.start}); save the layout file as UTF-8"
        ) from None
    except OSError as exc:
        raise MidexError(
            f"layout {name}: cannot be read ({exc.strerror or type(exc).__name__}); fix the "
            "layout file's permissions"
        ) from None
    if not isinstance(doc, dict):
        raise MidexError(f"layout {name}: expected a mapping of keys (see midex.formats.layout)")
    return doc


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """`exc` without the file name its marks carry: where (line, column) and what."""
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = exc.problem or exc.context or "a syntax error"
    if exc.context and exc.problem and exc.context_mark is not None:
        what += (
            f" ({exc.context} from line {exc.context_mark.line + 1}, "
            f"column {exc.context_mark.column + 1})"
        )
    return f"not valid YAML{where}: {what}"


def load_layout(layout: str, schema: Schema) -> dict[str, Any]:
    names = layout_names(schema)
    if layout not in names:  # a closed list: a name, never a path
        raise MidexError(
            f"unknown layout {layout[:40]!r}; known layouts: {', '.join(names) or 'none'} "
            "(a layout is a YAML file in schemas/layouts/, given by its name)"
        )
    path = layouts_dir(schema) / f"{layout}.yaml"
    doc = _load(path, path.stat().st_mtime)
    for table in [doc, *(doc.get("tables") or [])]:
        unknown = sorted(set(table) - _KNOWN_KEYS)
        if unknown:
            raise MidexError(f"layout {layout}: unknown key(s) {', '.join(unknown)}")
    return doc


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters.strip().upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


# ---------------------------------------------------------------------------------- reading


def _open(path: Path, name: str, spec: dict[str, Any]) -> Sheet:
    found = check_readable(path, name)
    if found in ("xlsx", "xls"):
        return read_sheet(path, name, spec.get("sheet"))
    if found == "xml":
        raise MidexError(f"{name}: an XML file cannot be read with a layout; try --format sdmx-ml")
    text = read_text(path, name, spec.get("encoding")).lstrip("\ufeff")
    return Sheet(None, text_rows(text, spec.get("delimiter")))


def _header_row(sheet: Sheet, spec: dict[str, Any], name: str, layout: str) -> int:
    header = spec.get("header", 1)
    if isinstance(header, int):
        return header
    if isinstance(header, dict) and "contains" in header:
        wanted = _norm(header["contains"])
        for i, row in enumerate(sheet.rows):
            if any(_norm(c) == wanted for c in row):
                return i + 1
        raise MidexError(
            f"{name}: no header row with a cell {header['contains']!r}"
            f"{f' on sheet {sheet.name!r}' if sheet.name else ''}; this file does not have the "
            f"layout {layout!r}: check the file or choose another --format"
        )
    raise MidexError(f"layout {layout}: header must be a row number or {{contains: text}}")


@dataclass
class _Block:
    columns: list[int]
    header_is: str | None
    pattern: re.Pattern[str] | None
    fixed: dict[str, str]
    missing: frozenset[str]
    zeros_missing: bool


def _blocks(spec: dict[str, Any], header: list[str], name: str, layout: str) -> list[_Block]:
    raw = spec.get("values")
    if raw is None:
        raise MidexError(f"layout {layout}: `values` (the value column or columns) is required")
    entries = raw if isinstance(raw, list) else [raw]
    blocks = []
    for entry in entries:
        if isinstance(entry, str):
            entry = {"columns": [entry]}
        sel = entry.get("columns", entry.get("column"))
        if isinstance(sel, str) and re.fullmatch(r"[A-Za-z]{1,3}:[A-Za-z]{0,3}", sel):
            start, _, stop = sel.partition(":")  # "G:" runs to the header's last column
            last = _col_index(stop) if stop else len(header) - 1
            cols = [
                j
                for j in range(_col_index(start), last + 1)
                if j < len(header) and header[j].strip()
            ]
        elif isinstance(sel, list):
            wanted = [_norm(s) for s in sel]
            cols = [j for j, h in enumerate(header) if _norm(h) in wanted]
            missing = [s for s, w in zip(sel, wanted, strict=True) if w not in map(_norm, header)]
            if missing:
                raise MidexError(
                    f"{name}: value column(s) {', '.join(map(repr, missing))} not in the header "
                    f"(found: {', '.join(h for h in header if h)}); the file does not match "
                    f"layout {layout!r}"
                )
        elif isinstance(sel, str):
            rx = re.compile(sel)
            cols = [j for j, h in enumerate(header) if rx.search(" ".join(h.split()))]
        else:
            raise MidexError(f"layout {layout}: values.columns must be a regex, list or range")
        if not cols:
            raise MidexError(
                f"{name}: no value columns match {sel!r} in the header; the file does not "
                f"match layout {layout!r}"
            )
        pattern = entry.get("header_pattern")
        blocks.append(
            _Block(
                columns=cols,
                header_is=entry.get("header_is"),
                pattern=re.compile(pattern) if pattern else None,
                fixed={k: str(v) for k, v in (entry.get("fixed") or {}).items()},
                missing=frozenset(str(m).strip().lower() for m in entry.get("missing") or ()),
                zeros_missing=_zeros(entry.get("zeros", spec.get("zeros")), layout),
            )
        )
    return blocks


def _zeros(value: Any, layout: str) -> bool:
    if value in (None, "values"):
        return False
    if value == "missing":
        return True
    raise MidexError(f"layout {layout}: zeros must be 'missing' or 'values', not {value!r}")


@dataclass(frozen=True)
class _TotalRow:
    where: dict[int, frozenset[str]]  # dimension column index -> normalised labels
    fixed: dict[str, str]
    swap: tuple[str, str] | None


def _total_rows(spec: dict[str, Any], dims: dict[str, int], layout: str) -> list[_TotalRow]:
    out = []
    for entry in spec.get("total_rows") or ():
        where = {}
        for col, labels in (entry.get("where") or {}).items():
            if col not in dims:
                raise MidexError(
                    f"layout {layout}: total_rows: {col} is not one of the layout's dimensions"
                )
            labels = labels if isinstance(labels, list) else [labels]
            where[dims[col]] = frozenset(_norm(v) for v in labels)
        swap = entry.get("swap")
        if swap is not None and (len(swap) != 2 or not set(swap) <= set(AREA_COLUMNS)):
            raise MidexError(
                f"layout {layout}: total_rows: swap must be [REF_AREA, COUNTERPART_AREA]"
            )
        fixed = {k: str(v) for k, v in (entry.get("fixed") or {}).items()}
        out.append(_TotalRow(where, fixed, tuple(swap) if swap else None))
    return out


def _sum_parts(spec: dict[str, Any], layout: str) -> dict[str, list[str]]:
    """The layout's sum_parts: each area -> its parts' codes as the file writes them (two or
    more, each the part of one area only)."""
    found = spec.get("sum_parts") or {}
    wanted = (
        {str(k): [str(p).strip() for p in v] for k, v in found.items() if isinstance(v, list)}
        if isinstance(found, dict)
        else {}
    )
    codes = [_norm(p) for parts in wanted.values() for p in parts]
    if (
        len(wanted) != len(found)
        or any(len(p) < 2 for p in wanted.values())
        or len(codes) != len(set(codes))
    ):
        raise MidexError(
            f"layout {layout}: sum_parts must map each area to a list of two or more codes of "
            'its parts, each part in one list only, e.g. {TZA: ["835", "836"]}'
        )
    return wanted


def _is_zero(number: str) -> bool:
    try:
        return float(number) == 0.0
    except ValueError:
        return False


def _find(header: list[str], column: str, name: str, layout: str, row: int) -> int:
    wanted = _norm(column)
    for j, h in enumerate(header):
        if _norm(h) == wanted:
            return j
    raise MidexError(
        f"{name}: row {row}: no column {column!r} in the header (found: "
        f"{', '.join(h.strip() for h in header if h.strip())}); the file does not match layout "
        f"{layout!r}: check the file or choose another --format"
    )


def _cell(row: list[str], j: int) -> str:
    return row[j].strip() if j < len(row) else ""


@dataclass
class _LeftOut:
    """What reading a table left out, for the parse notes (and held back: sum_parts)."""

    rows: dict[str, list[str]] = field(default_factory=lambda: {"aggregate": [], "former": []})
    cells: dict[str, list[str]] = field(default_factory=lambda: {"aggregate": [], "former": []})
    filtered: list[str] = field(default_factory=list)
    empty: int = 0
    zeros: int = 0
    total_cells: int = 0
    partial_sums: list[str] = field(default_factory=list)  # area and period of each
    # the parts of sum_parts areas, held back until the table is read (_Held)
    held: dict[tuple[Any, ...], dict[str, tuple[str, int, str | None]]] = field(
        default_factory=dict
    )

    def notes(self, where_in: str) -> list[str]:
        """The parse notes, one per kind of thing left out."""
        notes = []
        for what, values in self.rows.items():
            if values:
                notes.append(count_note(f"{NOTE_WHAT[what]}{where_in}", values))
        for what, values in self.cells.items():
            if values:
                what_cells = NOTE_WHAT[what].replace("rows of", "values for")
                notes.append(count_note(f"{what_cells} (columns){where_in}", values))
        if self.filtered:
            counts = Counter(self.filtered)
            listed = ", ".join(f"{k} ({n})" for k, n in sorted(counts.items())[:8])
            notes.append(
                f"{len(self.filtered)} rows left out by the layout's filter{where_in}: {listed}"
            )
        if self.empty:
            notes.append(f"{self.empty} empty or missing cells (no value) left out{where_in}")
        if self.zeros:
            notes.append(
                f"{self.zeros} cells of exactly 0 read as no data: the layout says this source "
                f"writes 0 where it has no figure{where_in}"
            )
        if self.partial_sums:
            notes.append(
                count_note(
                    f"values left out because a part of the area had none for that period "
                    f"(the layout's sum_parts){where_in}",
                    self.partial_sums,
                )
            )
        if self.total_cells:
            notes.append(
                f"{self.total_cells} cells of the source's total rows left out: the grand total "
                f"or a residual category, which have no area of their own{where_in}"
            )
        return notes


@dataclass(frozen=True)
class _TableReader:
    """A layout's table matched to its file's header: which columns give what, and how to read
    a data row into observations."""

    header: list[str]
    dims: dict[str, int]
    blocks: list[_Block]
    where: dict[int, set[str]]
    not_blank: list[int]
    comment_cols: list[tuple[str, int]]
    fixed: dict[str, str]
    codes: dict[str, dict[str, str]]
    decimal: str
    thousands: str | None
    missing: set[str]
    others: NonCountries
    totals: list[_TotalRow]
    sums: dict[str, list[str]]  # sum_parts: an area -> its parts' codes, as the layout has them
    schema: Schema

    def code(self, col: str, value: str) -> str:
        mapping = self.codes.get(col)
        if mapping is None:
            return value
        return mapping.get(_norm(value), value)

    def partner(self, value: str) -> str:
        """A partner labelled as a total ("World") is the partner-less total, _Z."""
        key = value.strip().rstrip("*").strip().upper()
        return NOT_APPLICABLE if key in self.schema.partner_totals else value

    def residual(self, value: str) -> bool:
        code = self.schema.area_overrides.get(value.strip().rstrip("*").strip().upper())
        return code is not None and self.schema.area_extra.get(code, ("",))[0] == "residuals"

    @cached_property
    def parts(self) -> dict[str, str]:
        """A part's code (normalised) -> the area it is a part of."""
        return {_norm(part): whole for whole, parts in self.sums.items() for part in parts}

    @cached_property
    def header_values(self) -> list[dict[int, str]]:
        """Per block, the value of its `header_is` dimension each value column's header gives."""
        header_values: list[dict[int, str]] = []
        for block in self.blocks:
            texts = {}
            for j in block.columns:
                text = " ".join(self.header[j].split()) if j < len(self.header) else ""
                if block.pattern:
                    m = block.pattern.search(text)
                    text = (m.group(1) if m.groups() else m.group(0)) if m else text
                texts[j] = self.code(block.header_is, text) if block.header_is else text
                if block.header_is == "COUNTERPART_AREA":
                    texts[j] = self.partner(texts[j])
            header_values.append(texts)
        return header_values

    def read_row(
        self, row: list[str], number: int, sheet: str | None, out: RawRows, left: _LeftOut
    ) -> None:
        """Add a data row's observations to `out`; what it leaves out to `left`."""
        total = next(
            (
                t
                for t in self.totals
                if all(_norm(_cell(row, j)) in ok for j, ok in t.where.items())
            ),
            None,
        )
        dropped = [
            f"{self.header[j].strip()} = {_cell(row, j) or '(blank)'}"
            for j, allowed in self.where.items()
            if _norm(_cell(row, j)) not in allowed
        ] + [f"{self.header[j].strip()} blank" for j in self.not_blank if not _cell(row, j)]
        if dropped and total is None:
            left.filtered.append(dropped[0])
            return
        base = {
            **self.fixed,
            **{col: self.code(col, _cell(row, j)) for col, j in self.dims.items()},
        }
        if "COUNTERPART_AREA" in base:
            base["COUNTERPART_AREA"] = self.partner(base["COUNTERPART_AREA"])
        whole = self.parts.get(_norm(base.get("REF_AREA", "")))
        if whole is not None and total is None:  # held back, added up once the table is read
            held = _Held(_norm(base["REF_AREA"]), left.held)
            self.add_cells(row, number, sheet, {**base, "REF_AREA": whole}, None, held, left)
            return
        others = self.others
        skip = next(
            (others.kind(base.get(c)) for c in AREA_COLUMNS if others.kind(base.get(c))), None
        )
        if skip and total is None:
            left.rows[skip].append(next(base[c] for c in AREA_COLUMNS if others.kind(base.get(c))))
            return
        if total is not None:
            base.update(total.fixed)
        if self.comment_cols:
            comments = [f"{c}: {_cell(row, j)}" for c, j in self.comment_cols if _cell(row, j)]
            if comments:
                base["COMMENT"] = "; ".join(comments)
        self.add_cells(row, number, sheet, base, total, out, left)

    def add_cells(
        self,
        row: list[str],
        number: int,
        sheet: str | None,
        base: dict[str, str],
        total: _TotalRow | None,
        out: RawRows | _Held,
        left: _LeftOut,
    ) -> None:
        """Add an observation to `out` per value cell of the row (`base`: its dimensions)."""
        for block, texts in zip(self.blocks, self.header_values, strict=True):
            for j in block.columns:
                value = _cell(row, j)
                if value.lower() in self.missing or value.lower() in block.missing:
                    left.empty += 1
                    continue
                values = {**base, **block.fixed}
                if block.header_is:
                    values[block.header_is] = texts[j]
                    kind_ = self.others.kind(texts[j]) if block.header_is in AREA_COLUMNS else None
                    if kind_:
                        left.cells[kind_].append(texts[j])
                        continue
                if total is not None and total.swap:
                    # the partner becomes the area; the total over the row areas has no partner
                    a, b = total.swap
                    values[a], values[b] = values.get(b, ""), NOT_APPLICABLE
                    if values[a] == NOT_APPLICABLE or self.residual(values[a]):
                        left.total_cells += 1
                        continue
                parsed = normalise_number(value, self.decimal, self.thousands)
                if block.zeros_missing and _is_zero(parsed):
                    left.zeros += 1
                    continue
                values["OBS_VALUE"] = parsed
                out.add(values, row=number, sheet=sheet, column=" ".join(self.header[j].split()))


@dataclass
class _Held:
    """Collects the observations of one part of an area (`sum_parts`) into `into`: by the
    observation's key and source column, the part's value and where it was read."""

    part: str
    into: dict[tuple[Any, ...], dict[str, tuple[str, int, str | None]]]

    def add(
        self, values: dict[str, str], row: int, sheet: str | None = None, column: str | None = None
    ) -> None:
        key = (tuple(sorted((k, v) for k, v in values.items() if k != "OBS_VALUE")), column)
        self.into.setdefault(key, {})[self.part] = (values["OBS_VALUE"], row, sheet)


def _add_sums(
    wanted: dict[str, list[str]],
    held: dict[tuple[Any, ...], dict[str, tuple[str, int, str | None]]],
    name: str, out: RawRows, left: _LeftOut,
) -> None:  # fmt: skip
    """The areas of `sum_parts`, each value the exact sum of its parts' (Decimal), where every
    part has one; read at the first part's row, the parts and their rows said in COMMENT."""
    for (items, column), found in held.items():
        values = dict(items)
        parts = wanted[values["REF_AREA"]]
        found = {p: found[_norm(p)] for p in parts if _norm(p) in found}  # the layout's spelling
        if len(found) != len(parts):
            left.partial_sums.append(f"{values['REF_AREA']} {values.get('TIME_PERIOD', '')}")
            continue
        numbers = []
        for p in parts:
            value, row, _ = found[p]
            try:
                numbers.append(Decimal(value))
            except InvalidOperation:
                raise MidexError(
                    f"{name}: row {row}, column {column}: {value!r} is not a number, so "
                    f"{values['REF_AREA']} cannot be added up from its parts "
                    f"({', '.join(parts)}); write a number, or leave the cell empty"
                ) from None
        total = sum(numbers, Decimal(0))
        said = ", ".join(f"{p} (row {found[p][1]})" for p in parts)
        comment = "; ".join(c for c in (values.get("COMMENT"), f"sum of parts {said}") if c)
        _, row, sheet = found[parts[0]]
        out.add({**values, "OBS_VALUE": str(total), "COMMENT": comment}, row, sheet, column)


def _table_reader(
    header: list[str], h: int, spec: dict[str, Any], name: str, layout: str, schema: Schema
) -> _TableReader:
    """The table's columns found in `header` (row `h`); an error names what the file lacks."""
    if not header:
        raise MidexError(f"{name}: row {h} (the layout's header row) is empty")
    dims = {
        col: _find(header, src, name, layout, h)
        for col, src in (spec.get("dimensions") or {}).items()
    }
    blocks = _blocks(spec, header, name, layout)
    where = {
        _find(header, col, name, layout, h): {_norm(v) for v in allowed}
        for col, allowed in (spec.get("where") or {}).items()
    }
    not_blank = [_find(header, c, name, layout, h) for c in spec.get("where_not_blank") or ()]
    comment_cols = [(c, _find(header, c, name, layout, h)) for c in spec.get("comment") or ()]
    numbers = spec.get("numbers") or {}
    return _TableReader(
        header=header,
        dims=dims,
        blocks=blocks,
        where=where,
        not_blank=not_blank,
        comment_cols=comment_cols,
        fixed={k: str(v) for k, v in (spec.get("fixed") or {}).items()},
        codes={
            col: {_norm(k): ("" if v is None else str(v)) for k, v in mapping.items()}
            for col, mapping in (spec.get("codes") or {}).items()
        },
        decimal=str(numbers.get("decimal", ".")),
        thousands=numbers.get("thousands"),
        missing={m.lower() for m in schema.missing_markers}
        | {str(m).strip().lower() for m in spec.get("missing") or ()},
        others=non_countries(schema),
        totals=_total_rows(spec, dims, layout),
        sums=_sum_parts(spec, layout),
        schema=schema,
    )


def _read_table(
    path: Path, name: str, layout: str, spec: dict[str, Any], out: RawRows, notes: list[str]
) -> None:
    sheet = _open(path, name, spec)
    h = _header_row(sheet, spec, name, layout)
    reader = _table_reader(sheet.row(h), h, spec, name, layout, out.schema)
    first = h + 1 + int(spec.get("skip_rows", 0))
    last = len(sheet.rows) - int(spec.get("footer_rows", 0))
    stop_at_blank = spec.get("end") == "blank_row"
    left = _LeftOut()
    rows = 0
    for i in range(first - 1, last):
        row = sheet.rows[i]
        if blank(row):
            if stop_at_blank and rows:
                break
            continue
        rows += 1
        reader.read_row(row, i + 1, sheet.name, out, left)
    if left.held:
        _add_sums(reader.sums, left.held, name, out, left)
    where_in = f" (sheet {sheet.name})" if sheet.name and spec.get("_many") else ""
    notes.extend(left.notes(where_in))


def read_layout(path: Path, name: str, layout: str, schema: Schema) -> ParsedFile:
    doc = load_layout(layout, schema)
    tables = doc.get("tables")
    specs = (
        [{**{k: v for k, v in doc.items() if k != "tables"}, **t, "_many": True} for t in tables]
        if tables
        else [doc]
    )
    out = RawRows(schema)
    notes: list[str] = []
    for spec in specs:
        _read_table(path, name, layout, spec, out, notes)
    return ParsedFile(out.table(), f"layout:{layout}", notes)


# -------------------------------------------------------------------------------- detection


def _first_rows(path: Path, doc: dict[str, Any], sheet: str | int | None) -> list[list[str]] | None:
    found = kind(path)
    if found == "xlsx":  # through sheets: the workbook's limits are checked before it opens
        return first_rows(path, path.name, sheet, _DETECT_ROWS)
    if found == "xls":
        try:
            return read_sheet(path, path.name, sheet).rows[:_DETECT_ROWS]
        except MidexError:
            return None
    if found == "text":
        data = head(path)
        text = data.decode(doc.get("encoding") or detect_encoding(data), errors="replace")
        return text_rows("\n".join(text_lines(text.lstrip("\ufeff"))[:_DETECT_ROWS]),
                         doc.get("delimiter"))  # fmt: skip
    return None


def detect(path: Path, schema: Schema) -> str | None:
    """The first layout (by name) of `schema` whose `detect` texts all appear in the file's first
    rows."""
    cache: dict[Any, list[list[str]] | None] = {}
    for layout in layout_names(schema):
        try:
            doc = load_layout(layout, schema)
        except MidexError:
            continue
        rule = doc.get("detect")
        if not rule:
            continue
        sheet = rule.get("sheet", doc.get("sheet"))
        key = (sheet, doc.get("encoding"), doc.get("delimiter"))
        if key not in cache:
            try:
                cache[key] = _first_rows(path, doc, sheet)
            except (MidexError, OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile):
                cache[key] = None
        rows = cache[key]
        if not rows:
            continue
        cells = {_norm(c) for r in rows for c in r if c.strip()}
        if all(_norm(t) in cells for t in rule.get("contains") or ()):
            return f"layout:{layout}"
    return None


def _read_bare(path: Path, name: str, schema: Schema) -> ParsedFile:
    raise MidexError(
        f"{name}: name the layout: --format layout:<name> (known layouts: "
        f"{', '.join(layout_names(schema)) or 'none'})"
    )


FORMAT = FormatSpec(
    name="layout",
    read=_read_bare,
    detect=detect,  # returns the chosen layout's format name
    order=60,
    description="a provider's own table described by schemas/layouts/<name>.yaml",
)
