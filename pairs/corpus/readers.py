"""Streaming readers for the import formats. No Django here.

Each reader yields ``Row(file, line, data, error, excerpt)``: ``data`` is the record as a dict
(``None`` when the row is malformed), ``error`` says why it is malformed, ``line`` is the 1-based
line (JSONL, CSV) or row (Parquet, Hugging Face) where it starts, and ``excerpt`` is a short
piece of the raw input for error reports. No reader holds more than one record (JSONL, CSV,
zip) or one record batch (Parquet, Arrow) in memory.

``skip`` (rows already committed by an earlier run) makes a resumed import continue cheaply:
JSONL and CSV skip lines without parsing them, Parquet skips whole row groups and Arrow skips
whole record batches without converting them to Python.

Formats: ``jsonl``, ``csv``, ``zip`` (of .txt/.md files, one record per file with ``text``,
``title`` (the file stem) and ``path``), ``parquet`` and ``hf_disk`` (a folder written by
``datasets.Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``, read with pyarrow alone so the
``datasets`` package is not needed).
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

EXCERPT_CHARS = 200
# A line longer than this is refused without being held in memory (the text limit is checked
# later, in characters; a UTF-8 character takes at most 4 bytes).
DEFAULT_MAX_LINE_BYTES = 4 * 200_000 + 65_536
TEXT_SUFFIXES = (".txt", ".md")
ARROW_BATCH_ROWS = 1024


class Row(NamedTuple):
    """One record of the input, or the reason it could not be read."""

    file: str
    line: int
    data: dict[str, Any] | None
    error: str | None
    excerpt: str


class ReaderError(Exception):
    """The input as a whole cannot be read (not a zip, not Parquet, no dataset, ...)."""


def _excerpt(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return raw[:EXCERPT_CHARS].strip()


# --- JSONL ----------------------------------------------------------------------------------
def read_jsonl(
    path: str | Path,
    *,
    file: str = "",
    skip: int = 0,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[Row]:
    """One row per non-blank line; invalid UTF-8, invalid JSON, a value that is not an object
    and a line over ``max_line_bytes`` become error rows."""
    file = file or Path(path).name
    loads = json.loads
    with open(path, "rb") as f:
        readline = f.readline
        line_no = 0
        rows = 0
        while True:
            raw = readline(max_line_bytes)
            if not raw:
                return
            line_no += 1
            if len(raw) == max_line_bytes and not raw.endswith(b"\n"):
                # Over the limit: drop the rest of the line without keeping it.
                while True:
                    rest = readline(1 << 20)
                    if not rest or rest.endswith(b"\n"):
                        break
                if not raw.strip():
                    continue
                rows += 1
                if rows > skip:
                    yield Row(
                        file,
                        line_no,
                        None,
                        f"line over the size limit ({max_line_bytes} bytes)",
                        _excerpt(raw),
                    )
                continue
            if raw.isspace():
                continue
            rows += 1
            if rows <= skip:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Row(file, line_no, None, f"invalid UTF-8 at byte {exc.start}", _excerpt(raw))
                continue
            try:
                data = loads(text)
            except ValueError as exc:
                yield Row(file, line_no, None, f"invalid JSON: {exc}", _excerpt(text))
                continue
            if type(data) is not dict:
                yield Row(file, line_no, None, "not a JSON object", _excerpt(text))
                continue
            yield Row(file, line_no, data, None, "")


# --- CSV ------------------------------------------------------------------------------------
class _DecodedLines:
    """Physical lines of a binary file as str, remembering which were not valid UTF-8."""

    def __init__(self, f, max_line_bytes: int) -> None:
        self.f = f
        self.max_line_bytes = max_line_bytes
        self.line_no = 0
        self.bad: dict[int, str] = {}

    def __iter__(self) -> _DecodedLines:
        return self

    def __next__(self) -> str:
        raw = self.f.readline(self.max_line_bytes)
        if not raw:
            raise StopIteration
        self.line_no += 1
        if self.line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if len(raw) == self.max_line_bytes and not raw.endswith(b"\n"):
            while True:
                rest = self.f.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            self.bad[self.line_no] = f"line over the size limit ({self.max_line_bytes} bytes)"
            return "\n"
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.bad[self.line_no] = f"invalid UTF-8 at byte {exc.start}"
            return raw.decode("utf-8", errors="replace")


def read_csv(
    path: str | Path,
    *,
    file: str = "",
    skip: int = 0,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[Row]:
    """One row per CSV record after the header; ``line`` is the physical line the record
    starts on. A record with a line that is not UTF-8, or with the wrong number of fields,
    becomes an error row."""
    file = file or Path(path).name
    csv.field_size_limit(max(csv.field_size_limit(), max_line_bytes))
    with open(path, "rb") as f:
        lines = _DecodedLines(f, max_line_bytes)
        reader = csv.reader(lines)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ReaderError(f"unreadable CSV header: {exc}") from exc
        header = [h.strip() for h in header]
        width = len(header)
        rows = 0
        last_end = lines.line_no
        while True:
            start = last_end + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                last_end = lines.line_no
                rows += 1
                if rows > skip:
                    yield Row(file, start, None, f"invalid CSV: {exc}", "")
                continue
            last_end = lines.line_no
            if not record and start not in lines.bad:
                continue
            rows += 1
            bad = None
            if lines.bad:
                for n in range(start, last_end + 1):
                    reason = lines.bad.pop(n, None)
                    if reason and bad is None:
                        bad = reason
                lines.bad = {k: v for k, v in lines.bad.items() if k > last_end}
            if rows <= skip:
                continue
            if bad is not None:
                yield Row(file, start, None, bad, _excerpt(",".join(record)))
            elif len(record) != width:
                yield Row(
                    file,
                    start,
                    None,
                    f"expected {width} fields, got {len(record)}",
                    _excerpt(",".join(record)),
                )
            else:
                yield Row(file, start, dict(zip(header, record, strict=True)), None, "")


# --- Zip of .txt/.md ------------------------------------------------------------------------
def _text_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = []
    for info in zf.infolist():
        name = info.filename
        parts = PurePosixPath(name).parts
        if info.is_dir() or not parts or "__MACOSX" in parts:
            continue
        if parts[-1].startswith(".") or not name.lower().endswith(TEXT_SUFFIXES):
            continue
        members.append(info)
    return members


def read_zip(
    path: str | Path,
    *,
    file: str = "",
    skip: int = 0,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[Row]:
    """One row per .txt/.md member: ``{"text": content, "title": stem, "path": name}``, line 1,
    file = the member's path. Other members are skipped."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReaderError(f"not a readable zip file: {exc}") from exc
    with zf:
        for info in _text_members(zf)[skip:]:
            name = info.filename
            if info.file_size > max_line_bytes:
                yield Row(name, 1, None, f"file over the size limit ({max_line_bytes} bytes)", "")
                continue
            with zf.open(info) as member:
                raw = member.read(max_line_bytes + 1)
            if len(raw) > max_line_bytes:
                yield Row(name, 1, None, f"file over the size limit ({max_line_bytes} bytes)", "")
                continue
            if raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Row(name, 1, None, f"invalid UTF-8 at byte {exc.start}", _excerpt(raw))
                continue
            title = PurePosixPath(name).stem
            yield Row(name, 1, {"text": text, "title": title, "path": name}, None, "")


# --- Parquet --------------------------------------------------------------------------------
def read_parquet(
    path: str | Path, *, file: str = "", skip: int = 0, max_line_bytes: int = 0
) -> Iterator[Row]:
    """One row per Parquet row; ``line`` is the 1-based row index."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = file or Path(path).name
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ReaderError(f"not a readable Parquet file: {exc}") from exc
    meta = pf.metadata
    groups = []
    first_row = 0
    for i in range(meta.num_row_groups):
        n = meta.row_group(i).num_rows
        if groups or first_row + n > skip:
            groups.append(i)
        else:
            first_row += n
    if not groups:
        return
    index = first_row
    for batch in pf.iter_batches(batch_size=ARROW_BATCH_ROWS, row_groups=groups):
        yield from _batch_rows(batch, file, index, skip)
        index += batch.num_rows


def _batch_rows(batch, file: str, first_index: int, skip: int) -> Iterator[Row]:
    """Rows of an Arrow record batch whose 0-based global index is ``first_index``."""
    if first_index + batch.num_rows <= skip:
        return
    if first_index < skip:
        batch = batch.slice(skip - first_index)
        first_index = skip
    for offset, data in enumerate(batch.to_pylist()):
        yield Row(file, first_index + offset + 1, data, None, "")


# --- Hugging Face dataset saved to disk -----------------------------------------------------
def hf_dataset_root(folder: str | Path) -> Path:
    """The folder holding ``state.json`` or ``dataset_dict.json`` at or one level under
    ``folder`` (a zip of a saved dataset often has the dataset's own folder inside)."""
    folder = Path(folder)
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if (candidate / "state.json").exists() or (candidate / "dataset_dict.json").exists():
            return candidate
    raise ReaderError("no Hugging Face dataset here (state.json or dataset_dict.json)")


def hf_arrow_files(folder: str | Path) -> list[tuple[str, Path]]:
    """``(name for provenance, path)`` of each Arrow file of the dataset, in order; splits of a
    ``DatasetDict`` in the order it lists them."""
    root = hf_dataset_root(folder)
    splits: list[tuple[str, Path]] = []
    if (root / "dataset_dict.json").exists():
        info = json.loads((root / "dataset_dict.json").read_text("utf-8"))
        for split in info.get("splits", []):
            splits.append((f"{split}/", root / split))
    else:
        splits.append(("", root))
    files = []
    for prefix, split_dir in splits:
        state_path = split_dir / "state.json"
        if not state_path.exists():
            raise ReaderError(f"missing {state_path.relative_to(root)}")
        state = json.loads(state_path.read_text("utf-8"))
        names = [d["filename"] for d in state.get("_data_files", [])]
        if not names:
            names = sorted(p.name for p in split_dir.glob("data-*.arrow"))
        for name in names:
            path = (split_dir / name).resolve()
            if split_dir.resolve() not in path.parents:
                raise ReaderError(f"data file outside the dataset: {name}")
            files.append((prefix + name, path))
    return files


def _arrow_batches(path: Path):
    import pyarrow as pa

    try:
        source = pa.memory_map(str(path))
        reader = pa.ipc.open_stream(source)
    except (pa.ArrowException, OSError) as exc:
        raise ReaderError(f"not a readable Arrow file: {path.name}: {exc}") from exc
    with source:
        yield from reader


def read_hf_disk(
    path: str | Path, *, file: str = "", skip: int = 0, max_line_bytes: int = 0
) -> Iterator[Row]:
    """One row per dataset row; ``file`` is the Arrow file (``split/`` first for a dataset
    dict) and ``line`` the 1-based row within it."""
    seen = 0
    for name, arrow_path in hf_arrow_files(path):
        index = 0
        for batch in _arrow_batches(arrow_path):
            n = batch.num_rows
            if seen + n <= skip:
                seen += n
                index += n
                continue
            local_skip = max(0, skip - seen)
            yield from _batch_rows(batch, name, index, index + local_skip)
            seen += n
            index += n


READERS = {
    "jsonl": read_jsonl,
    "csv": read_csv,
    "zip": read_zip,
    "parquet": read_parquet,
    "hf_disk": read_hf_disk,
}


def read_rows(
    path: str | Path,
    format: str,
    *,
    file: str = "",
    skip: int = 0,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[Row]:
    """The rows of ``path`` in ``format``, after the first ``skip``."""
    try:
        reader = READERS[format]
    except KeyError:
        raise ReaderError(f"unknown format {format!r}") from None
    return reader(path, file=file, skip=skip, max_line_bytes=max_line_bytes)


def _count_newlines(path: str | Path) -> tuple[int, bool]:
    """Newlines in the file, and whether it ends without one (a last, unterminated line)."""
    count = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count, last != b"\n"


def count_rows(path: str | Path, format: str) -> int | None:
    """About how many rows the input has, for a progress bar (``None`` when unknown).

    JSONL and CSV count lines in one streaming pass (blank lines and, for CSV, the header and
    records spanning several lines make it approximate); zip counts .txt/.md members; Parquet
    reads the footer; a Hugging Face dataset reads its split info, else the Arrow batch
    headers (memory-mapped, no data is converted).
    """
    try:
        if format in ("jsonl", "csv"):
            lines, unterminated = _count_newlines(path)
            lines += unterminated
            return max(0, lines - 1) if format == "csv" else lines
        if format == "zip":
            with zipfile.ZipFile(path) as zf:
                return len(_text_members(zf))
        if format == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        if format == "hf_disk":
            total = 0
            for _, arrow_path in hf_arrow_files(path):
                total += sum(batch.num_rows for batch in _arrow_batches(arrow_path))
            return total
    except (OSError, zipfile.BadZipFile, ReaderError, ValueError):
        return None
    return None


def preview(
    path: str | Path, format: str, n: int = 5, *, max_chars: int = 300
) -> tuple[list[str], list[dict[str, Any]]]:
    """The field names (in order of first appearance) and the first ``n`` readable rows, with
    long strings cut to ``max_chars``, for the mapping step. Scans at most ``50 * n`` rows."""
    fields: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    for scanned, row in enumerate(read_rows(path, format)):
        if scanned >= 50 * n or len(rows) >= n:
            break
        if row.data is None:
            continue
        for key in row.data:
            fields.setdefault(str(key), None)
        rows.append(
            {
                str(k): (v[:max_chars] + "…" if isinstance(v, str) and len(v) > max_chars else v)
                for k, v in row.data.items()
            }
        )
    return list(fields), rows
