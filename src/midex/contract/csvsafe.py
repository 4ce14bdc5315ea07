"""Spreadsheet safety of the CSV files midex writes for people (OWASP's CSV-injection rule).

A spreadsheet that opens a CSV reads a cell beginning with `=`, `+`, `-` or `@` as a formula,
and a tab or a carriage return in front can hide one: a submitted COMMENT such as
`=HYPERLINK("http://…")` would become a live link, or worse, on the reader's machine. So every
text cell of such a CSV that begins with one of these six characters is prefixed with a single
quote `'`, which spreadsheets take as "this is text". Only text cells: a number is written as a
number (a numeric column's -3.5 stays -3.5), and so is a text cell that is nothing but a
negative decimal number (a SOURCE_VALUE of `-3.5`, `-0.25` or `-1E3`): a spreadsheet reads it as
the number it is, no formula can hide in it, and a `'` in front would show as a stray quote.
Parquet and JSON keep the exact text.

The CSVs: the release's tables and bundle, `midex export` (csv, sdmx-csv), the service's
downloads and findings reports (`midex report`, `midex check`). Each writer calls this module.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PREFIX = "'"
_STARTS = np.zeros(256, dtype=bool)
_STARTS[[ord(c) for c in FORMULA_STARTS]] = True

# a negative decimal number and nothing else: not a formula, so written as it is
NEGATIVE_NUMBER = r"^-(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"  # RE2: $ is the end
_NEGATIVE_NUMBER = re.compile(NEGATIVE_NUMBER)

ArrowData = TypeVar("ArrowData", pa.Array, pa.ChunkedArray)


def safe_text(value: str) -> str:
    """`value` as a spreadsheet must see it: prefixed with ' if it begins like a formula."""
    if not value.startswith(FORMULA_STARTS) or _NEGATIVE_NUMBER.fullmatch(value):
        return value
    return PREFIX + value


def safe_cell(value: Any) -> Any:
    """A cell for `csv.writer`: text made safe, anything else (numbers, None) as it is."""
    return safe_text(value) if isinstance(value, str) else value


def _formula_mask(array: pa.Array) -> np.ndarray | None:
    """Which values of the string array begin with one of FORMULA_STARTS (None: none), read
    from the Arrow buffers: the byte at each value's start offset, where the value is not
    empty. One gather, no new strings: a tenth of the time of a regex over the values. A null
    slot may be marked too; it stays null (`_safe_chunk` prefixes a null to null)."""
    _, offsets, data = array.buffers()
    if data is None or data.size == 0 or len(array) == 0:
        return None
    width: type[np.signedinteger[Any]] = (
        np.int64 if pa.types.is_large_string(array.type) else np.int32
    )
    bounds: np.ndarray[Any, np.dtype[np.signedinteger[Any]]] = np.frombuffer(
        offsets, width, len(array) + 1, array.offset * width().itemsize
    )
    # an empty value's offset may be the end of the data: clipped, and masked out below
    first = np.take(np.frombuffer(data, np.uint8), bounds[:-1], mode="clip")
    mask = _STARTS[first]
    if not mask.any():
        return None
    mask &= bounds[1:] > bounds[:-1]
    if mask.any() and (first[mask] == ord("-")).any():  # a negative number is no formula
        number = pc.match_substring_regex(array, NEGATIVE_NUMBER).fill_null(False)
        mask &= ~number.to_numpy(zero_copy_only=False)
    return mask if mask.any() else None


def _safe_chunk(array: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        dictionary = _safe_chunk(array.dictionary)
        if dictionary is array.dictionary:
            return array
        return pa.DictionaryArray.from_arrays(array.indices, dictionary)
    if pa.types.is_string_view(array.type):  # no offsets to read the first bytes from
        array = array.cast(pa.large_string())
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return array
    formula = _formula_mask(array)
    if formula is None:
        return array  # the common case: no copy, no new strings
    return pc.if_else(pa.array(formula), pc.utf8_replace_slice(array, 0, 0, PREFIX), array)


def safe_array(array: ArrowData) -> ArrowData:
    """A column made safe: every string value that begins like a formula prefixed with ',
    nulls and other values unchanged; a column of another type (numbers, dates) as it is.
    Unchanged data is returned as the same object (nothing is copied when nothing matches)."""
    if isinstance(array, pa.ChunkedArray):
        chunks = [_safe_chunk(c) for c in array.chunks]
        if all(new is old for new, old in zip(chunks, array.chunks, strict=True)):
            return array
        return pa.chunked_array(chunks)
    return _safe_chunk(array)


def safe_table(table: pa.Table) -> pa.Table:
    """`table` with every string column made safe (`safe_array`); the column names as they
    are (they come from the schemas, not from submissions)."""
    columns = [safe_array(c) for c in table.columns]
    if all(new is old for new, old in zip(columns, table.columns, strict=True)):
        return table
    return pa.table(columns, names=table.column_names)
