"""Writing a snapshot to files: JSON Lines, Parquet, a Hugging Face ``datasets`` folder, and
the dataset card; pushing to a Hugging Face Hub repository.

Rows are read in position order from a server-side cursor and written a batch at a time, one
file per split, so memory stays flat whatever the size. Files are written into a temporary
folder that replaces the export's folder only when everything is written.

The JSONL of the standard layout with metadata is the snapshot's canonical rows as stored, so
it is written without parsing them. Parquet batches are parsed by Arrow's JSON reader against
an explicit schema (the same one for every batch and split).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import zipfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.text import slugify
from django.utils.translation import gettext as _

from ..models import DatasetExport, DatasetKind, DatasetRow, ExportFormat, ExportLayout
from . import rows as R

BATCH = 10_000
#: JSONL is written a block of about this many bytes at a time, per split.
FLUSH_BYTES = 8 << 20
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def check_repo_id(repo: str) -> None:
    if not REPO_ID.match(repo) or ".." in repo or repo.endswith((".git", ".")):
        raise ValidationError(
            {"hub_repo": _("Expected a repository id such as “team/writing-dpo”.")}
        )


def exports_root() -> Path:
    return Path(settings.WEAVER_EXPORT_DIR)


def export_dir(export: DatasetExport) -> Path:
    return exports_root() / str(export.pk)


def export_file(export: DatasetExport, name: str) -> Path | None:
    """The path of one of the export's listed files, or None (never outside its folder)."""
    if name not in {f["name"] for f in export.files or []}:
        return None
    path = (export_dir(export) / name).resolve()
    root = export_dir(export).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def hf_folder(export: DatasetExport) -> Path:
    """Where a Hugging Face export's ``save_to_disk`` folder lies (``load_from_disk`` reads it)."""
    return export_dir(export) / "hf"


def base_name(export: DatasetExport) -> str:
    snapshot = export.snapshot
    return f"{slugify(snapshot.name) or 'dataset'}-v{snapshot.version}"


# --- Rows ----------------------------------------------------------------------------------


def snapshot_lines(snapshot_id: int):
    """(split, canonical JSON) of every row, in position order, streamed."""
    return (
        DatasetRow.objects.filter(snapshot_id=snapshot_id)
        .order_by("position")
        .values_list("split", "data")
        .iterator(chunk_size=BATCH)
    )


_PGCOPY = b"PGCOPY\n\xff\r\n\x00"


def snapshot_rows(snapshot_id: int):
    """(split, canonical JSON as UTF-8: bytes or a memoryview) of every row, in position
    order, streamed.

    On PostgreSQL by ``COPY (SELECT ...) TO STDOUT`` in the binary format: the server sends
    rows while this process writes them (a server-side cursor would wait to be asked for each
    batch), and the text is neither escaped nor decoded. The COPY holds the connection: run no
    other query on it until the rows are all read (or the generator is closed). Elsewhere,
    ``snapshot_lines``.
    """
    if connection.vendor != "postgresql":
        for split, line in snapshot_lines(snapshot_id):
            yield split, line.encode()
        return
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(DatasetRow._meta.get_field(name).column)

    # Names from the model; the one value an int. COPY takes no bound parameters.
    sql = (
        f"COPY (SELECT {column('split')}, {column('data')} FROM "  # noqa: S608
        f"{quote(DatasetRow._meta.db_table)} WHERE {column('snapshot')} = {int(snapshot_id)} "
        f"ORDER BY {column('position')}) TO STDOUT (FORMAT binary)"
    )
    names: dict[bytes, str] = {}
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        # The protocol sends one row a message: a 16-bit field count (-1 ends the data), then
        # each field as a 32-bit length and its bytes (text as is). The first message starts
        # with the signature, flags and header extension.
        for n, message in enumerate(copy):
            view = memoryview(message)
            if n == 0 and view[:11] == _PGCOPY:
                view = view[19 + int.from_bytes(view[15:19], "big") :]
            if not view or view[:2] == b"\xff\xff":
                continue  # the end; read on to the end of the COPY
            size = int.from_bytes(view[2:6], "big")
            key = bytes(view[6 : 6 + size])
            start = 10 + size
            if view[:2] != b"\x00\x02" or len(view) != start + int.from_bytes(
                view[6 + size : start], "big"
            ):
                raise ValueError("COPY sent a row that is not (split, data)")
            split = names.get(key) or names.setdefault(key, key.decode())
            yield split, view[start:]


def _converter(export: DatasetExport):
    """canonical line -> exported line (UTF-8 bytes); None when they are the same."""
    kind, layout, metadata = export.snapshot.kind, export.layout, export.include_metadata
    if layout == ExportLayout.STANDARD and metadata:
        return None

    def convert(line: bytes | memoryview) -> bytes:
        row = R.to_layout(json.loads(bytes(line)), kind=kind, layout=layout, metadata=metadata)
        return R.dumps(row).encode()

    return convert


def _splits(export: DatasetExport) -> list[str]:
    s = export.snapshot
    return [name for name, n in (("train", s.train_count), ("test", s.test_count)) if n]


# --- Arrow schema --------------------------------------------------------------------------


def arrow_schema(kind: str, layout: str, metadata: bool):
    import pyarrow as pa

    s, i, f, b = pa.string(), pa.int64(), pa.float64(), pa.bool_()
    message = pa.list_(pa.struct([("role", s), ("content", s)]))
    types: dict = {"prompt": s, "chosen": s, "rejected": s, "completion": s, "messages": message}
    if layout == ExportLayout.CONVERSATIONAL:
        types.update(prompt=message, chosen=message, rejected=message)
    types.update(
        pair_id=i,
        language=s,
        domain=s,
        subdomain=s,
        task=s,
        principle_id=i,
        principle_version=i,
        principle_title=s,
        principle_text=s,
        source=pa.struct(
            [
                ("instruction_pair_id", i),
                ("text_id", i),
                ("title", s),
                ("author", s),
                ("source", s),
                ("licence", s),
            ]
        ),
    )
    if kind == DatasetKind.DPO:
        types["generator"] = pa.struct(
            [("model", s), ("endpoint", s), ("prompt_version", s), ("mode", s), ("job_id", i)]
        )
        types["metrics"] = pa.struct(
            [
                ("char_similarity", f),
                ("edit_ratio", f),
                ("sentences_changed", i),
                ("length_ratio", f),
                ("identical", b),
            ]
        )
        types["review"] = pa.struct(
            [
                ("status", s),
                ("reviews", i),
                ("accepts", i),
                ("rejects", i),
                ("agreement", f),
                ("edited", b),
                ("judge", s),
                ("flagged", b),
            ]
        )
    else:
        types["generator"] = pa.struct(
            [("origin", s), ("model", s), ("endpoint", s), ("recipe_version", s), ("job_id", i)]
        )
        types["metrics"] = pa.struct([("curation_score", i)])
        types["review"] = pa.struct([("status", s), ("mark", s)])
    return pa.schema([(name, types[name]) for name in R.columns(kind, layout, metadata)])


def _table(lines: list, schema):
    """Arrow table of JSON lines (bytes-like), parsed in blocks of 1 MB on Arrow's threads; a
    block must hold the longest line, else the reader refuses it."""
    import pyarrow.json as pj

    data = b"\n".join(lines)
    block = max(1 << 20, max(map(len, lines), default=0) + 1)
    return pj.read_json(
        io.BytesIO(data),
        read_options=pj.ReadOptions(block_size=block, use_threads=True),
        parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
    )


# --- Writers -------------------------------------------------------------------------------


def _file_entry(path: Path, rows: int | None, split: str = "", sha256: str = "") -> dict:
    """A file's listing; its SHA-256 is read from the file unless given."""
    if not sha256:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        sha256 = digest.hexdigest()
    return {
        "name": path.name,
        "bytes": path.stat().st_size,
        "sha256": sha256,
        "rows": rows,
        "split": split,
    }


def write_jsonl(export: DatasetExport, folder: Path) -> list[dict]:
    """One JSON Lines file per split. Lines are joined into blocks of about ``FLUSH_BYTES``
    that a second thread writes and hashes (both without the GIL) while this one reads on."""
    convert = _converter(export)
    splits = _splits(export)
    handles = {s: (folder / f"{s}.jsonl").open("wb") for s in splits}
    digests = {s: hashlib.sha256() for s in splits}
    counts = dict.fromkeys(splits, 0)
    buffers: dict[str, list] = {s: [] for s in splits}
    sizes = dict.fromkeys(splits, 0)
    pending: deque[Future] = deque()

    def write(split: str, block: bytes) -> None:
        handles[split].write(block)
        digests[split].update(block)

    def flush(split: str, pool: ThreadPoolExecutor) -> None:
        buf = buffers[split]
        counts[split] += len(buf)
        buf.append(b"")  # the last line's newline
        block = b"\n".join(buf)
        buf.clear()
        sizes[split] = 0
        if len(pending) >= 2:  # at most two blocks waiting: memory stays flat
            pending.popleft().result()
        pending.append(pool.submit(write, split, block))

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-jsonl") as pool:
            for split, line in snapshot_rows(export.snapshot_id):
                if convert is not None:
                    line = convert(line)
                buffers[split].append(line)
                sizes[split] += len(line)
                if sizes[split] >= FLUSH_BYTES:
                    flush(split, pool)
            for split in splits:
                if buffers[split]:
                    flush(split, pool)
            while pending:
                pending.popleft().result()
    finally:
        for fh in handles.values():
            fh.close()
    return [
        _file_entry(folder / f"{s}.jsonl", counts[s], s, sha256=digests[s].hexdigest())
        for s in splits
    ]


def write_parquet(export: DatasetExport, folder: Path, *, names=None) -> list[dict]:
    """One Parquet file per split (``names`` maps a split to its file name). A second thread
    parses and writes each batch (Arrow lets go of the GIL) while this one reads the next."""
    import pyarrow.parquet as pq

    kind = export.snapshot.kind
    schema = arrow_schema(kind, export.layout, export.include_metadata)
    # The standard layout parses canonical rows directly (the schema drops what it lacks).
    convert = _converter(export) if export.layout == ExportLayout.CONVERSATIONAL else None
    splits = _splits(export)
    names = names or {s: f"{s}.parquet" for s in splits}
    writers = {s: pq.ParquetWriter(folder / names[s], schema, compression="zstd") for s in splits}
    counts = dict.fromkeys(splits, 0)
    buffers: dict[str, list] = {s: [] for s in splits}
    pending: deque[Future] = deque()

    def write(split: str, lines: list) -> None:
        writers[split].write_table(_table(lines, schema), row_group_size=BATCH)

    def flush(split: str, pool: ThreadPoolExecutor) -> None:
        lines = buffers[split]
        buffers[split] = []
        counts[split] += len(lines)
        if pending:  # one batch at a time in the other thread: memory stays flat
            pending.popleft().result()
        pending.append(pool.submit(write, split, lines))

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-parquet") as pool:
            for split, line in snapshot_rows(export.snapshot_id):
                buffers[split].append(line if convert is None else convert(line))
                if len(buffers[split]) >= BATCH:
                    flush(split, pool)
            for split in splits:
                if buffers[split]:
                    flush(split, pool)
            while pending:
                pending.popleft().result()
    finally:
        for writer in writers.values():
            writer.close()
    return [_file_entry(folder / names[s], counts[s], s) for s in splits]


def write_hf(export: DatasetExport, folder: Path) -> list[dict]:
    """A ``DatasetDict.save_to_disk`` folder (``hf/``), its zip for download, and the Parquet
    files it was made from (``data/``, the layout the Hub reads)."""
    from datasets import Dataset, DatasetDict

    data = folder / "data"
    data.mkdir()
    names = {s: f"{s}-00000-of-00001.parquet" for s in _splits(export)}
    parts = write_parquet(export, data, names=names)
    cache = folder / ".cache"
    splits = {
        p["split"]: Dataset.from_parquet(str(data / p["name"]), cache_dir=str(cache)) for p in parts
    }
    target = folder / "hf"
    DatasetDict(splits).save_to_disk(str(target), max_shard_size="500MB")
    shutil.rmtree(cache, ignore_errors=True)
    (target / "README.md").write_text(dataset_card(export, parts), encoding="utf-8")
    archive = folder / f"{base_name(export)}-hf.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path in sorted(target.rglob("*")):
            if path.is_file():
                zf.write(path, Path(base_name(export)) / path.relative_to(target))
    return [_file_entry(archive, export.snapshot.row_count)]


def write_export(export: DatasetExport) -> list[dict]:
    """Write every file of the export into its folder; return their listing."""
    final = export_dir(export)
    tmp = final.with_name(f"{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if export.format == ExportFormat.JSONL:
            files = write_jsonl(export, tmp)
        elif export.format == ExportFormat.PARQUET:
            files = write_parquet(export, tmp)
        else:
            files = write_hf(export, tmp)
        card = tmp / "README.md"
        card.write_text(dataset_card(export, files), encoding="utf-8")
        files.append(_file_entry(card, None))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return files


# --- Dataset card --------------------------------------------------------------------------

FIELD_HELP = {
    "prompt": "The instruction, then the text it works on (if any).",
    "chosen": "The expert-quality response.",
    "rejected": "A minimal edit of the chosen response that breaks exactly one principle.",
    "completion": "The response.",
    "messages": "The prompt (user) and the response (assistant) as chat messages.",
    "pair_id": "The pair's id in the studio.",
    "language": "Language code of the pair.",
    "domain": "Domain slug.",
    "subdomain": "Subdomain slug.",
    "task": "Task slug.",
    "principle_id": "The principle the rejected response breaks.",
    "principle_version": "The version of that principle.",
    "principle_title": "Its title.",
    "principle_text": "Its description, as the expert wrote it.",
    "generator": "How the pair was made: model, endpoint, prompt or recipe version, job.",
    "metrics": "Minimality metrics (DPO) or the curation score (SFT).",
    "review": "Review outcome: status, reviews, accepts, rejects, agreement, edits, judge.",
    "source": "Provenance: the corpus text's id, title, author, source and licence.",
}


def _yaml_list(values) -> str:
    return "[" + ", ".join(json.dumps(str(v), ensure_ascii=False) for v in values) + "]"


def _table_md(title: str, counts: dict) -> list[str]:
    if not counts:
        return []
    out = [f"### {title}", "", "| value | rows |", "| --- | ---: |"]
    for value, n in counts.items():
        cell = str(value).replace("|", "\\|").replace("\n", " ")
        out.append(f"| {cell} | {n} |")
    return [*out, ""]


def dataset_card(export: DatasetExport, files: list[dict]) -> str:
    """A Hugging Face dataset card (README.md): YAML header, then what the dataset holds,
    how it was made, its fields, counts, provenance and licences, and how to load it."""
    snapshot = export.snapshot
    stats = snapshot.stats or {}
    counts = stats.get("counts", {})
    licences = counts.get("licence", {})
    known = [name for name in licences if name != "-"]
    licence = known[0].lower() if len(known) == 1 and "-" not in licences else "other"
    languages = sorted(counts.get("language", {}))
    splits = [f for f in files if f.get("split")]
    kind = "preference (DPO)" if snapshot.kind == DatasetKind.DPO else "instruction (SFT)"
    header = [
        "---",
        f"license: {json.dumps(licence)}",
        f"language: {_yaml_list(languages)}",
        'task_categories: ["text-generation"]',
        f"tags: {_yaml_list(['weaver', snapshot.kind, 'writing'])}",
        f"pretty_name: {json.dumps(snapshot.label, ensure_ascii=False)}",
    ]
    if export.format != ExportFormat.JSONL and splits:
        header += ["configs:", "- config_name: default", "  data_files:"]
        for f in splits:
            folder = "data/" if export.format == ExportFormat.HF else ""
            header += [f"  - split: {f['split']}", f"    path: {folder}{f['name']}"]
    header.append("---")
    columns = R.columns(snapshot.kind, export.layout, export.include_metadata)
    body = [
        f"# {snapshot.label}",
        "",
        snapshot.description or "",
        "",
        f"A {kind} dataset frozen by the Weaver studio. Layout: {export.layout}"
        f"{' with metadata columns' if export.include_metadata else ''}.",
        "",
        "## Provenance",
        "",
        f"- Snapshot: {snapshot.name}, version {snapshot.version} (id {snapshot.pk})",
        f"- Content hash (SHA-256 over the rows): `{snapshot.content_hash}`",
        f"- Frozen: {snapshot.frozen_at.isoformat() if snapshot.frozen_at else ''}"
        f" by {snapshot.created_by.get_username() if snapshot.created_by else 'unknown'}",
        f"- Rows: {snapshot.row_count} (train {snapshot.train_count}, test {snapshot.test_count})",
        f"- Split: by a hash of the normalised prompt, test fraction {snapshot.test_fraction}"
        f"{', stratified by domain' if snapshot.stratify else ''}"
        f"{', seed ' + json.dumps(snapshot.split_seed) if snapshot.split_seed else ''};"
        " a prompt is never in both splits.",
        "",
        "Filters:",
        "",
        "```json",
        json.dumps(snapshot.filters, ensure_ascii=False, indent=2, sort_keys=True),
        "```",
        "",
        "## Licences",
        "",
        'Licences of the source texts, as recorded at import ("-": none recorded):',
        "",
        *_table_md("Licence", licences),
        "## Fields",
        "",
        *[f"- `{c}`: {FIELD_HELP.get(c, '')}" for c in columns],
        "",
        "## Counts",
        "",
        *_table_md("Split", counts.get("split", {})),
        *_table_md("Domain", counts.get("domain", {})),
        *_table_md("Task", counts.get("task", {})),
        *_table_md("Language", counts.get("language", {})),
        *_table_md("Principle", counts.get("principle", {})),
        "## Files",
        "",
        *[
            f"- `{f['name']}`: {f['rows']} rows, {f['bytes']} bytes, sha256 `{f['sha256']}`"
            for f in files
        ],
        "",
        "## Loading",
        "",
        "```python",
        _loading_snippet(export, splits),
        "```",
        "",
    ]
    return "\n".join(header + body)


def _loading_snippet(export: DatasetExport, splits: list[dict]) -> str:
    if export.format == ExportFormat.HF:
        return f'from datasets import load_from_disk\nds = load_from_disk("{base_name(export)}")'
    builder = "json" if export.format == ExportFormat.JSONL else "parquet"
    files = ", ".join(f'"{f["split"]}": "{f["name"]}"' for f in splits)
    return (
        f'from datasets import load_dataset\nds = load_dataset("{builder}", data_files={{{files}}})'
    )


# --- Hub -----------------------------------------------------------------------------------


def push_to_hub(export: DatasetExport) -> str:
    """Upload the Parquet files and the card to the export's Hub repository; return its URL."""
    from huggingface_hub import HfApi

    folder = export_dir(export)
    staging = folder / "hub"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "data").mkdir(parents=True)
    source = folder / "data" if export.format == ExportFormat.HF else folder
    for path in sorted(source.glob("*.parquet")):
        split = path.name.split(".")[0].split("-")[0]
        shutil.copyfile(path, staging / "data" / f"{split}-00000-of-00001.parquet")
    parts = [
        {"split": p.name.split("-")[0], "name": p.name, "rows": None, "bytes": 0, "sha256": ""}
        for p in sorted((staging / "data").glob("*.parquet"))
    ]
    hub_export = DatasetExport(
        pk=export.pk,
        snapshot=export.snapshot,
        format=ExportFormat.HF,
        layout=export.layout,
        include_metadata=export.include_metadata,
    )
    (staging / "README.md").write_text(dataset_card(hub_export, parts), encoding="utf-8")
    api = HfApi(endpoint=settings.WEAVER_HF_ENDPOINT or None, token=settings.WEAVER_HF_TOKEN)
    repo = api.create_repo(
        export.hub_repo, repo_type="dataset", private=export.hub_private, exist_ok=True
    )
    api.upload_folder(
        folder_path=str(staging),
        repo_id=export.hub_repo,
        repo_type="dataset",
        commit_message=f"{export.snapshot.label} ({export.snapshot.content_hash[:12]})",
    )
    shutil.rmtree(staging, ignore_errors=True)
    return str(getattr(repo, "url", "") or repo)
