"""Reading the `nnfast` command's data files: CSV tables and .npz arrays, checked cell by cell.

Every problem a user's file can have becomes a CLIError naming the file, the line (as an
editor numbers it) and the column: undecodable bytes, a ragged row, duplicate column names,
non-numeric, missing, infinite or float32-overflowing values. Training data is float32, so a
value such as 1e39 (finite in float64) would silently become inf.

CSV is read with the standard `csv` module; the default encoding `utf-8-sig` is UTF-8 that
also drops a byte-order mark (Excel writes one), `--encoding` names any other.

What this is not: a general CSV loader (no type inference, no quoting options, no sniffing).
"""
import codecs
import csv
import io
import math

import numpy as np

DEFAULT_ENCODING = "utf-8-sig"
_F32_MAX = float(np.finfo(np.float32).max)


class CLIError(Exception):
    """A user error: printed as one line without a traceback, exit status 2."""


def check_encoding(encoding):
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise CLIError(f"unknown --encoding {encoding!r} (e.g. utf-8, latin-1, cp1252, "
                       "utf-16)") from None


# ============================================================================ CSV tables

class Table:
    """A CSV file's header and data rows; lines[i] is the file line where rows[i] starts."""

    def __init__(self, path, header, rows, lines):
        self.path, self.header, self.rows, self.lines = path, header, rows, lines

    def column(self, name):
        return self.header.index(name)

    def numeric(self, names, what="feature"):
        """The named columns as a float64 array (rows, len(names)), every cell a finite
        number that float32 can hold."""
        x = np.empty((len(self.rows), len(names)), np.float64)
        bad, missing = [], []
        for k, name in enumerate(names):
            j = self.column(name)
            cells = [r[j] for r in self.rows]
            try:
                x[:, k] = [float(v) if v.strip() else math.nan for v in cells]
            except ValueError:
                i = next(i for i, v in enumerate(cells) if v.strip() and not _is_number(v))
                bad.append(f"{name!r} (e.g. {cells[i]!r} at line {self.lines[i]})")
                continue
            holes = np.flatnonzero(np.isnan(x[:, k]))
            if len(holes):
                shown = ", ".join(str(self.lines[i]) for i in holes[:3])
                more = ", ..." if len(holes) > 3 else ""
                missing.append(f"{name!r} ({len(holes)} rows: line{'s' if len(holes) > 1 else ''} "
                               f"{shown}{more})")
        if bad:
            raise CLIError(f"{self.path}: non-numeric {what} column(s): {', '.join(bad)}; "
                           "encode them as numbers (e.g. one-hot) first")
        if missing:
            raise CLIError(f"{self.path}: missing or NaN values in column(s): "
                           f"{', '.join(missing)}; fill or drop those rows first")
        where = _first_unrepresentable(x)
        if where is not None:
            i, k = where
            cell = self.rows[i][self.column(names[k])].strip()
            raise CLIError(f"{self.path}: line {self.lines[i]}, column {names[k]!r}: "
                           f"{_why_unrepresentable(cell)}")
        return x


def read_csv(path, encoding=DEFAULT_ENCODING):
    """The file as a Table: header stripped, blank rows skipped, every row as wide as the
    header, no column name twice."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        # the line number: newlines in what decodes cleanly before the bad byte
        line = raw[:e.start].decode(encoding, errors="replace").count("\n") + 1
        utf16 = raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        hint = "--encoding utf-16" if utf16 else "e.g. --encoding latin-1 or --encoding cp1252"
        raise CLIError(f"{path}: line {line} is not valid {encoding} (byte "
                       f"0x{raw[e.start]:02x}); name the file's encoding with --encoding: "
                       f"{hint}") from None
    del raw
    reader = csv.reader(io.StringIO(text, newline=""))
    del text  # the StringIO holds its own copy
    rows, lines = [], []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise CLIError(f"{path}: line {reader.line_num}: {e}") from None
        if row and any(c.strip() for c in row):
            rows.append(row)
            lines.append(start)
    if len(rows) < 2:
        raise CLIError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    header[0] = header[0].lstrip("\ufeff")  # a BOM left by --encoding utf-8
    seen = {}
    for j, name in enumerate(header):
        if name in seen:
            raise CLIError(f"{path}: duplicate column name {name!r} (columns {seen[name] + 1} "
                           f"and {j + 1} of line {lines[0]}); rename one of them")
        seen[name] = j
    for r, line in zip(rows[1:], lines[1:]):
        if len(r) != len(header):
            raise CLIError(f"{path}: line {line} has {len(r)} fields, the header has "
                           f"{len(header)}")
    return Table(path, header, rows[1:], lines[1:])


def _is_number(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


# ============================================================================ float32 range

def _first_unrepresentable(x):
    """(row, column) of the first cell (in file order) that is NaN, infinite or beyond
    float32's range, else None."""
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(x) | (np.abs(x) > _F32_MAX)
    if not bad.any():
        return None
    i, k = np.argwhere(bad)[0]
    return int(i), int(k)


def _why_unrepresentable(value):
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = value
    if isinstance(v, float) and math.isnan(v):
        return f"{value!r} is NaN; fill or drop that row first"
    if isinstance(v, float) and math.isinf(v):
        return f"{value!r} is not a finite number; fill or drop that row first"
    return (f"{value!r} is too large for float32 (at most ±{_F32_MAX:.4g}); rescale the "
            "column or drop that row first")


def check_finite_f32(x, path, what="the features"):
    """Refuse NaN, inf or float32-overflowing cells of a 2-D float64 array (from .npz),
    naming the first by row and column (both from 0, as NumPy indexes)."""
    where = _first_unrepresentable(x)
    if where is not None:
        i, k = where
        raise CLIError(f"{path}: {what}, row {i}, column {k}: "
                       f"{_why_unrepresentable(repr(float(x[i, k])))}")


def float_array(a, path, key):
    """An .npz array as float64, or a CLIError naming it."""
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise CLIError(f"{path}: array {key!r} has dtype {a.dtype}, expected numbers")
    return a.astype(np.float64)
