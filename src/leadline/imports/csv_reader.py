"""The streaming front of `leadline import FILE`: open a CSV exported by a CRM or by Excel, work out its
encoding, delimiter and columns, and yield its rows one at a time.

* Encoding, from the first 64 KiB only: a BOM (UTF-8, UTF-32, UTF-16 LE/BE) decides; else UTF-16 without BOM
  is recognised by its zero bytes; else UTF-8 when the sample decodes as UTF-8; else Windows-1252 (Excel's
  French "CSV (séparateur: point-virgule)" export). A stray non-UTF-8 byte later in a UTF-8 file is read as
  Windows-1252 instead of failing the whole import.
* Delimiter: `,` `;` tab `|`, whichever splits the header row into the most known column names (ties: the
  most columns, then that order).
* Rows are numbered as a spreadsheet shows them: the header is row 1 (or the row it is on, if blank rows come
  first), the first data row is row 2; blank rows are skipped but counted. A row with fewer cells than the
  header is padded with empty cells; extra cells are tolerated when empty (a trailing delimiter) and an error
  otherwise.
* Nothing is read ahead: `rows()` streams through the file, so a million-row export costs one row of memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from leadline.core.import_mapping import HeaderError, HeaderMapping, count_known, map_headers

SAMPLE_SIZE = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_FALLBACK_ERRORS = "leadline-cp1252-fallback"
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


class CsvFormatError(ValueError):
    """The file cannot be read as a lead CSV. The message is written for the person importing it."""


def _decode_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are not valid in the detected encoding are read as Windows-1252."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    chunk = exc.object[exc.start:exc.end]
    try:
        text = chunk.decode("cp1252")
    except UnicodeDecodeError:
        text = chunk.decode("latin-1")  # the five bytes cp1252 leaves undefined
    return text, exc.end


codecs.register_error(_FALLBACK_ERRORS, _decode_as_cp1252)


@dataclass(frozen=True, slots=True)
class CsvSource:
    """An opened CSV: how to decode and split it, its header, and what its columns mean.

    It holds no open file between calls: `rows()` opens the file and closes it when the iteration ends (or the
    generator is closed). It is also a context manager, for `with open_csv(path) as source:` code.
    """

    path: Path
    encoding: str
    delimiter: str
    headers: list[str]
    mapping: HeaderMapping
    header_row: int = 1

    def __enter__(self) -> CsvSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Yield `(row_number, {header: cell})` for each non-blank data row, lazily.

        Raises `CsvFormatError` naming the row when a row has more (non-empty) cells than the header, or when
        the CSV syntax breaks (e.g. an unclosed quote swallowing the rest of the file).
        """
        headers = self.headers
        width = len(headers)
        with self.path.open(encoding=self.encoding, errors=_FALLBACK_ERRORS, newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            number = 0
            try:
                for cells in reader:
                    number += 1
                    if number <= self.header_row:
                        continue
                    if len(cells) != width:
                        cells = self._fit(number, cells, width)
                    if not any(cells) or not "".join(cells).strip():
                        continue
                    yield number, dict(zip(headers, cells, strict=True))
            except csv.Error as exc:
                raise CsvFormatError(f"Row {number + 1}: the CSV cannot be read ({exc}).") from None

    def _fit(self, number: int, cells: list[str], width: int) -> list[str]:
        if len(cells) < width:
            return cells + [""] * (width - len(cells))
        if any(cell.strip() for cell in cells[width:]):
            name = _DELIMITER_NAMES[self.delimiter]
            raise CsvFormatError(
                f"Row {number} has {len(cells)} cells but the header row has {width} columns: a value "
                f"probably contains a {name} ({self.delimiter!r}) and is not between double quotes."
            )
        return cells[:width]


def open_csv(path: Path | str) -> CsvSource:
    """Inspect a CSV file (first 64 KiB only) and return a `CsvSource` ready to stream its rows.

    Raises `CsvFormatError` for an empty or binary file, a missing header row, duplicate or nameless
    columns, or a header in which no column is an email, a phone number or a name.
    """
    path = Path(path)
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_SIZE)
        complete = len(sample) < SAMPLE_SIZE or not handle.read(1)
    if not sample:
        raise CsvFormatError(f"{path.name} is empty.")
    encoding = detect_encoding(sample)
    text = codecs.getincrementaldecoder(encoding)(errors=_FALLBACK_ERRORS).decode(sample, final=complete)
    _reject_binary(text, path)
    delimiter, header_row, headers = _read_header(text, path)
    if any(_EMAIL_LIKE.fullmatch(header) for header in headers):
        raise CsvFormatError(
            f"Row {header_row} of {path.name} looks like data, not column names: the first row must name the "
            "columns (for example Email;First Name;Last Name)."
        )
    try:
        mapping = map_headers(headers)
    except HeaderError as exc:
        raise CsvFormatError(f"Header row of {path.name}: {exc}.") from None
    if not mapping.has_identity():
        found = ", ".join(repr(h) for h in headers[:12]) + (", ..." if len(headers) > 12 else "")
        raise CsvFormatError(
            f"No column of {path.name} is recognised as an email, a phone number or a name (columns found, "
            f"read as {encoding} separated by {_DELIMITER_NAMES[delimiter]}s: {found}). Name a column "
            "Email, Phone, First Name or Last Name (or E-mail, Téléphone, Prénom, Nom)."
        )
    return CsvSource(path=path, encoding=encoding, delimiter=delimiter, headers=headers, mapping=mapping,
                     header_row=header_row)


def detect_encoding(sample: bytes) -> str:
    """The Python codec name for a file starting with `sample`. Raises `CsvFormatError` for a spreadsheet
    workbook or binary data."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample.startswith(b"PK\x03\x04") or sample.startswith(b"\xd0\xcf\x11\xe0"):
        raise CsvFormatError(
            "This is an Excel workbook, not a CSV file: in Excel, use File > Save As > CSV UTF-8."
        )
    if b"\x00" in sample:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be"
        raise CsvFormatError("This file contains binary data, not text: export it as CSV.")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _reject_binary(text: str, path: Path) -> None:
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\r\n")
    if controls > 2 and controls * 50 > len(text):
        raise CsvFormatError(f"{path.name} contains binary data, not text: export it as CSV.")


def _first_record(text: str, delimiter: str) -> tuple[int, list[str]] | None:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            if any(cell.strip() for cell in cells):
                return number, cells
    except csv.Error as exc:
        raise CsvFormatError(f"The header row cannot be read as CSV ({exc}).") from None
    return None


def _read_header(text: str, path: Path) -> tuple[str, int, list[str]]:
    best: tuple[int, int] = (-1, -1)
    chosen: tuple[str, int, list[str]] | None = None
    for delimiter in DELIMITERS:
        record = _first_record(text, delimiter)
        if record is None:
            raise CsvFormatError(f"{path.name} has no header row: it contains only blank lines.")
        number, cells = record
        headers = [cell.replace("\ufeff", "").strip() for cell in cells]
        while headers and not headers[-1]:
            headers.pop()  # trailing delimiters: Excel pads rows to the widest one
        score = (count_known(headers), len(headers))
        if score > best:
            best, chosen = score, (delimiter, number, headers)
    assert chosen is not None
    return chosen
