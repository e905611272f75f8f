"""Corpus imports: readers, normalisation, the import loop, bad input, resume, cancel, upload
limits and a real worker."""

import csv
import hashlib
import json
import shutil
import unicodedata
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import StopUpload
from django.http import HttpResponse
from django.urls import path as url_path
from django.views.decorators.csrf import csrf_exempt

from pairs.corpus import importer, readers, uploads
from pairs.corpus.importer import (
    LimitedUploadHandler,
    corpus_import_cancel,
    corpus_import_configure,
    corpus_import_create,
    corpus_import_run,
    corpus_import_start,
)
from pairs.corpus.normalize import content_hash, normalize_text, visible_length
from pairs.models import CorpusImport, CorpusText, ImportIssue, ImportStatus
from principles.models import Domain, Subdomain
from tests.conftest import SHARED_CORPUS, SHARED_CORPUS_MAPPING, wait_for

CORPUS = SHARED_CORPUS
ZH = CORPUS / "zh.jsonl"
EN = CORPUS / "en.jsonl"
ZH_LINES = 267
EN_LINES = 238
CORPUS_MAPPING = SHARED_CORPUS_MAPPING

assert ZH.exists(), f"the shared sample corpus is missing: expected {ZH}"


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()


def make_import(path, fmt, user, mapping=None, defaults=None) -> CorpusImport:
    with open(path, "rb") as fh:
        imp = corpus_import_create(
            uploaded_file=File(fh, name=Path(path).name), format=fmt, name="test", created_by=user
        )
    if mapping is not None:
        imp = corpus_import_configure(corpus_import=imp, mapping=mapping, defaults=defaults or {})
    return imp


def run(imp, **kwargs) -> CorpusImport:
    return corpus_import_run(corpus_import=imp, **kwargs)


# --- Normalisation --------------------------------------------------------------------------
def test_normalize_text():
    s = "  Ｈｅｌｌｏ,\t\tworld  \r\nline two   \r\n\r\n\r\n\r\nend  "
    assert normalize_text(s) == "Hello, world\nline two\n\nend"


def test_content_hash_matches_reflowed_copies_and_is_documented_form():
    wrapped = "It was the best of times,\nit was the worst of times.\n\n\nIt was the age."
    flat = "It was the best of times, it was the worst of times.\n\nIt was the age.  "
    assert content_hash(wrapped) == content_hash(flat)
    zh_wrapped = "我在年青时候也曾经做过\n许多梦，后来大半忘却了。"
    zh_flat = "我在年青时候也曾经做过许多梦，后来大半忘却了。"
    assert content_hash(zh_wrapped) == content_hash(zh_flat)
    # Full-width and half-width forms are the same text after NFKC.
    assert content_hash("ＡＢＣ，１２３") == content_hash("ABC,123")
    assert content_hash("a different text") != content_hash(flat)
    s = "Ｔｅｘｔ \u3000 with\u00a0spaces\r\nand lines"
    expected = hashlib.sha256("".join(normalize_text(s).split()).encode()).hexdigest()
    assert content_hash(s) == expected
    assert unicodedata.is_normalized("NFKC", normalize_text(s))


def test_hash_fast_path_equals_full_nfkc():
    import random

    from pairs.corpus.normalize import hash_key

    rng = random.Random(7)
    alphabet = (
        "，。；！？：（）…、\u3000［］－．ＡＢａ１２ｶﾞ가\u1161\u11a8e\u0301\u0327\u0308 \n\tabc中文"
    )
    for _ in range(2_000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert hash_key(s) == "".join(unicodedata.normalize("NFKC", s).split()), repr(s)


def test_visible_length():
    assert visible_length(" a b\n\tc ") == 3
    assert visible_length("春眠 不觉晓") == 5


# --- Readers --------------------------------------------------------------------------------
def test_jsonl_reader_reports_bad_lines(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(
        b'{"text": "one"}\n'
        b"{not json\n"
        b"\n"
        b'"just a string"\n'
        b'{"text": "bad \xff\xfe bytes"}\n'
        b'{"text": "' + b"x" * 200 + b'"}\n'
        b'{"text": "last"}'
    )
    rows = list(readers.read_jsonl(p, max_line_bytes=150))
    assert [(r.line, r.error is None) for r in rows] == [
        (1, True),
        (2, False),
        (4, False),
        (5, False),
        (6, False),
        (7, True),
    ]
    assert rows[1].error.startswith("invalid JSON")
    assert rows[2].error == "not a JSON object"
    assert rows[3].error.startswith("invalid UTF-8")
    assert "size limit" in rows[4].error
    assert rows[5].data == {"text": "last"}
    assert readers.count_rows(p, "jsonl") == 7
    assert [r.line for r in readers.read_jsonl(p, skip=4, max_line_bytes=150)] == [6, 7]


def test_csv_reader_lines_and_bad_bytes(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(
        b"\xef\xbb\xbftitle,body,likes\n"
        b'A,"first\nsecond line",3\n'
        b"B,plain,4\n"
        b"C,bad \xff byte,5\n"
        b"D,too,many,fields\n"
        b"\n"
        b"E,ok,6\n"
    )
    rows = list(readers.read_csv(p))
    assert [(r.line, r.error) for r in rows] == [
        (2, None),
        (4, None),
        (5, "invalid UTF-8 at byte 6"),
        (6, "expected 3 fields, got 4"),
        (8, None),
    ]
    assert rows[0].data == {"title": "A", "body": "first\nsecond line", "likes": "3"}
    assert [r.line for r in readers.read_csv(p, skip=3)] == [6, 8]
    fields, sample = readers.preview(p, "csv")
    assert fields == ["title", "body", "likes"]
    assert len(sample) == 3


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_zip_reader(tmp_path):
    p = tmp_path / "x.zip"
    _write_zip(
        p,
        {
            "texts/one.txt": "第一篇。".encode(),
            "texts/two.md": b"# Two\n\nSecond.",
            "texts/image.png": b"\x89PNG",
            "__MACOSX/texts/._one.txt": b"junk",
            "texts/bad.txt": b"\xff\xfe",
        },
    )
    rows = list(readers.read_zip(p))
    assert [(r.file, r.error is None) for r in rows] == [
        ("texts/one.txt", True),
        ("texts/two.md", True),
        ("texts/bad.txt", False),
    ]
    assert rows[0].data == {"text": "第一篇。", "title": "one", "path": "texts/one.txt"}
    assert readers.count_rows(p, "zip") == 3
    assert [r.file for r in readers.read_zip(p, skip=2)] == ["texts/bad.txt"]


def test_parquet_reader_skips_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "x.parquet"
    table = pa.table({"body": [f"text {i}" for i in range(10)], "n": list(range(10))})
    pq.write_table(table, p, row_group_size=3)
    rows = list(readers.read_parquet(p))
    assert [r.line for r in rows] == list(range(1, 11))
    assert rows[4].data == {"body": "text 4", "n": 4}
    tail = list(readers.read_parquet(p, skip=7))
    assert [(r.line, r.data["n"]) for r in tail] == [(8, 7), (9, 8), (10, 9)]
    assert readers.count_rows(p, "parquet") == 10


# --- The import -----------------------------------------------------------------------------
def test_import_zh_jsonl_then_again_adds_nothing(db, engineer):
    imp = make_import(ZH, "jsonl", engineer, CORPUS_MAPPING)
    assert imp.status == ImportStatus.QUEUED
    imp = run(imp)
    assert imp.status == ImportStatus.DONE, imp.error
    assert (imp.imported, imp.duplicates, imp.errors, imp.rows_read) == (ZH_LINES, 0, 0, ZH_LINES)
    assert imp.rows_total == ZH_LINES and imp.progress == 1.0
    texts = CorpusText.objects.filter(corpus_import=imp)
    assert texts.count() == ZH_LINES
    first = texts.get(source_line=1)
    line1 = json.loads(ZH.read_text(encoding="utf-8").splitlines()[0])
    assert first.source_file == "zh.jsonl"
    assert first.external_id == line1["id"]
    assert first.text == line1["text"].strip()
    assert first.content_hash == content_hash(line1["text"])
    assert first.language == "zh"
    assert first.licence == line1["license"] and first.source == line1["source"]
    assert first.domain.slug == line1["domain"]
    assert first.length == visible_length(unicodedata.normalize("NFKC", line1["text"]))
    # "poetry" is a subdomain of fiction: such rows get both.
    poetry = Subdomain.objects.get(slug="poetry")
    assert texts.filter(subdomain=poetry, domain=poetry.domain).count() == 57

    again = run(make_import(ZH, "jsonl", engineer, CORPUS_MAPPING))
    assert again.status == ImportStatus.DONE
    assert (again.imported, again.duplicates, again.errors) == (0, ZH_LINES, 0)
    assert CorpusText.objects.count() == ZH_LINES
    # Running a finished import again does nothing.
    assert run(again).imported == 0


def test_postgresql_falls_back_when_a_hash_appears_after_the_look_up(db, engineer, monkeypatch):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    run(make_import(ZH, "jsonl", engineer, CORPUS_MAPPING))
    real = importer._Writer._prepare_sql

    def blind_look_up(self):  # as if another import committed these texts meanwhile
        real(self)
        self.exists_sql = self.exists_sql.replace("WHERE", "WHERE false AND")

    monkeypatch.setattr(importer._Writer, "_prepare_sql", blind_look_up)
    again = run(make_import(ZH, "jsonl", engineer, CORPUS_MAPPING), batch_size=100)
    assert (again.status, again.imported, again.duplicates) == (ImportStatus.DONE, 0, ZH_LINES)
    assert CorpusText.objects.count() == ZH_LINES


def test_bad_lines_are_reported_while_the_rest_import(db, engineer, settings, tmp_path):
    settings.WEAVER_CORPUS_TEXT_MAX_CHARS = 3_000
    lines = ZH.read_bytes().splitlines(keepends=True)
    lines[4] = b'{"id": "broken", "text": "unterminated\n'
    record = json.loads(lines[8])
    del record["text"]
    lines[8] = json.dumps(record, ensure_ascii=False).encode() + b"\n"
    lines[11] = lines[11].replace("。".encode(), b"\xe3\x80", 1)  # a truncated character
    record = json.loads(lines[14])
    record["text"] = "长" * 4_000
    lines[14] = json.dumps(record, ensure_ascii=False).encode() + b"\n"
    record = json.loads(lines[19])
    record["domain"] = "opera"
    lines[19] = json.dumps(record, ensure_ascii=False).encode() + b"\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(lines))

    imp = run(make_import(bad, "jsonl", engineer, CORPUS_MAPPING))
    assert imp.status == ImportStatus.DONE
    assert (imp.imported, imp.errors) == (ZH_LINES - 5, 5)
    issues = {i.line: i for i in ImportIssue.objects.filter(corpus_import=imp)}
    assert sorted(issues) == [5, 9, 12, 15, 20]
    assert all(i.file == "bad.jsonl" for i in issues.values())
    assert issues[5].reason.startswith("invalid JSON")
    assert issues[9].reason == "missing text"
    assert issues[12].reason.startswith("invalid UTF-8")
    assert issues[15].reason.startswith("text over the size limit (4000 characters")
    assert issues[20].reason == "unknown domain 'opera'"
    assert issues[5].excerpt.startswith('{"id": "broken"')
    # A rerun of the same import creates nothing new.
    imp.status = ImportStatus.QUEUED
    imp.save()
    imp = run(imp)
    assert CorpusText.objects.count() == ZH_LINES - 5
    assert ImportIssue.objects.count() == 5


def test_csv_import_with_signals_and_defaults(db, engineer, tmp_path):
    p = tmp_path / "posts.csv"
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["headline", "body", "upvotes", "lang"])
        w.writerow(["One", "The first post,\nover two lines.", "12", "English"])
        w.writerow(["Two", "第二篇文章，写的是秋天。", "7.5", ""])
        w.writerow(["Three", "Third post.", "many", "en"])
        w.writerow(["Four", "", "1", "en"])
    imp = make_import(
        p,
        "csv",
        engineer,
        {"text": "body", "title": "headline", "language": "lang", "signals": ["upvotes"]},
        {"domain": "creative_nonfiction", "subdomain": "blog", "licence": "CC-BY"},
    )
    imp = run(imp)
    assert (imp.imported, imp.errors) == (2, 2)
    one = CorpusText.objects.get(title="One")
    assert (one.source_line, one.language, one.signals) == (2, "en", {"upvotes": 12.0})
    assert (one.domain.slug, one.subdomain.slug, one.licence) == (
        "creative_nonfiction",
        "blog",
        "CC-BY",
    )
    two = CorpusText.objects.get(title="Two")
    assert (two.source_line, two.language) == (4, "zh")  # detected from the script
    reasons = dict(ImportIssue.objects.values_list("line", "reason"))
    assert reasons == {5: "signal 'upvotes' is not a number: 'many'", 6: "missing text"}


def test_zip_import(db, engineer, tmp_path):
    p = tmp_path / "essays.zip"
    _write_zip(
        p,
        {
            "a/walk.txt": b"A walk in the woods, slow and quiet.",
            "a/rain.md": "雨下了一整夜，屋檐滴水。".encode(),
            "a/copy.txt": b"A walk in the woods,\nslow and quiet.",  # reflowed duplicate
            "a/notes.pdf": b"%PDF",
        },
    )
    imp = make_import(p, "zip", engineer, {"text": "text", "title": "title"}, {"domain": "fiction"})
    imp = run(imp)
    assert (imp.imported, imp.duplicates, imp.errors) == (2, 1, 0)
    rain = CorpusText.objects.get(title="rain")
    assert (rain.source_file, rain.source_line, rain.language) == ("a/rain.md", 1, "zh")


def test_parquet_import(db, engineer, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "x.parquet"
    bodies = [f"Story number {i}: the lamp went out at {i} o'clock." for i in range(25)]
    pq.write_table(
        pa.table({"body": bodies, "stars": list(range(25)), "lang": ["en"] * 25}),
        p,
        row_group_size=10,
    )
    imp = make_import(
        p, "parquet", engineer, {"text": "body", "language": "lang", "signals": ["stars"]}
    )
    imp = run(imp, batch_size=7)
    assert (imp.imported, imp.rows_total, imp.status) == (25, 25, ImportStatus.DONE)
    assert CorpusText.objects.get(source_line=25).signals == {"stars": 24.0}


@pytest.mark.training
def test_hf_disk_import(db, engineer, tmp_path):
    import datasets

    folder = tmp_path / "ds"
    rows = [{"content": f"第{i}个故事：月亮升起来了，照着小河。", "likes": i} for i in range(12)]
    datasets.Dataset.from_list(rows).save_to_disk(str(folder), max_shard_size="1KB")
    archive = shutil.make_archive(str(tmp_path / "ds"), "zip", root_dir=tmp_path, base_dir="ds")
    imp = make_import(archive, "hf_disk", engineer, {"text": "content", "signals": ["likes"]})
    assert Path(imp.path).is_dir() and (Path(imp.path) / "state.json").exists()
    imp = run(imp, batch_size=5)
    assert (imp.imported, imp.errors, imp.rows_total) == (12, 0, 12)
    text = CorpusText.objects.get(text=rows[11]["content"])
    assert text.language == "zh" and text.signals == {"likes": 11.0}
    assert text.source_file.endswith(".arrow")
    # Reading it needs no datasets package: skip lands on the right rows.
    tail = list(readers.read_hf_disk(imp.path, skip=10))
    assert [r.data["likes"] for r in tail] == [10, 11]


def test_crash_mid_import_resumes_without_duplicates(db, engineer, monkeypatch):
    imp = make_import(ZH, "jsonl", engineer, CORPUS_MAPPING)
    real = importer._write_batch
    calls = {"n": 0}

    def crash_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker died")
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "_write_batch", crash_on_second)
    with pytest.raises(RuntimeError):
        run(imp, batch_size=100)
    imp.refresh_from_db()
    assert imp.status == ImportStatus.FAILED and "worker died" in imp.error
    assert (imp.imported, imp.resume_from) == (100, 100)
    assert CorpusText.objects.count() == 100
    monkeypatch.setattr(importer, "_write_batch", real)

    imp = corpus_import_start(corpus_import=imp)
    imp = run(imp, batch_size=100)
    assert imp.status == ImportStatus.DONE
    assert (imp.imported, imp.duplicates, imp.rows_read) == (ZH_LINES, 0, ZH_LINES)
    assert CorpusText.objects.count() == ZH_LINES
    assert sorted(CorpusText.objects.values_list("source_line", flat=True)) == list(
        range(1, ZH_LINES + 1)
    )


def test_cancel_then_resume(db, engineer):
    imp = make_import(EN, "jsonl", engineer, CORPUS_MAPPING)

    def cancel_after_first(current):
        corpus_import_cancel(corpus_import=current)

    imp = run(imp, batch_size=50, on_batch=cancel_after_first)
    assert imp.status == ImportStatus.CANCELLED
    assert (imp.imported, imp.resume_from, imp.cancel_requested) == (50, 50, False)
    imp = corpus_import_start(corpus_import=imp)
    imp = run(imp, batch_size=50)
    assert imp.status == ImportStatus.DONE
    assert imp.imported == EN_LINES == CorpusText.objects.count()


def test_cancel_a_queued_import(db, engineer, tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"text": "hello there"}\n')
    imp = make_import(p, "jsonl", engineer, {"text": "text"})
    imp = corpus_import_cancel(corpus_import=imp)
    assert imp.status == ImportStatus.CANCELLED
    assert run(imp).imported == 0


def test_unreadable_file_fails_with_a_message(db, engineer, tmp_path):
    p = tmp_path / "x.parquet"
    p.write_bytes(b"PAR1 this is not parquet")
    imp = CorpusImport.objects.create(
        name="x",
        format="parquet",
        path=str(p),
        original_name="x.parquet",
        status="queued",
        mapping={"text": "body"},
    )
    imp = run(imp)
    assert imp.status == ImportStatus.FAILED
    assert "could not be read" in imp.error


def test_configure_validates_mapping(db, engineer, tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"body": "hello", "votes": 3}\n')
    imp = make_import(p, "jsonl", engineer)
    with pytest.raises(ValidationError) as exc:
        corpus_import_configure(
            corpus_import=imp,
            mapping={"title": "heading", "signals": ["votes", "stars"]},
            defaults={"domain": "opera", "language": "fr"},
        )
    errors = exc.value.message_dict
    assert set(errors) == {"text", "title", "signals", "domain", "language"}
    with pytest.raises(ValidationError) as exc:
        corpus_import_configure(
            corpus_import=imp,
            mapping={"text": "body"},
            defaults={"domain": "fiction", "subdomain": "essay"},
        )
    assert set(exc.value.message_dict) == {"subdomain"}
    imp = corpus_import_configure(
        corpus_import=imp,
        mapping={"text": "body", "signals": ["votes"]},
        defaults={"domain": "fiction", "language": "中文"},
    )
    assert imp.status == ImportStatus.QUEUED and imp.defaults["language"] == "zh"
    with pytest.raises(ValidationError):
        corpus_import_start(corpus_import=make_import(p, "jsonl", engineer))


# --- Upload limits --------------------------------------------------------------------------
def test_upload_over_the_limit_is_refused_and_nothing_is_stored(db, engineer, settings):
    settings.WEAVER_CORPUS_UPLOAD_MAX_BYTES = 1_000
    big = SimpleUploadedFile("big.jsonl", b'{"text": "x"}\n' * 200)
    with pytest.raises(ValidationError) as exc:
        corpus_import_create(uploaded_file=big, format="jsonl", name="big", created_by=engineer)
    assert "1000 bytes" in str(exc.value)

    class Unsized:  # a stream whose size is not known up front: counted while written
        name = "big.jsonl"
        size = None

        def chunks(self, chunk_size=None):
            for _ in range(10):
                yield b"x" * 300

    with pytest.raises(ValidationError):
        corpus_import_create(uploaded_file=Unsized(), format="jsonl", name="b", created_by=engineer)
    imports = settings.DATA_DIR / "imports"
    assert not imports.exists() or not any(imports.rglob("*"))
    assert not CorpusImport.objects.exists()


def test_upload_handler_stops_counting_past_the_limit():
    handler = LimitedUploadHandler(None, limit=1_000)
    handler.new_file("file", "x.jsonl", "application/json", None)
    assert handler.receive_data_chunk(b"x" * 600, 0) == b"x" * 600
    with pytest.raises(StopUpload) as exc:
        handler.receive_data_chunk(b"x" * 600, 600)
    assert exc.value.connection_reset


@csrf_exempt
def upload_view(request):
    request.upload_handlers.insert(0, LimitedUploadHandler(request))
    files = request.FILES
    if getattr(request, "upload_over_limit", None):
        return HttpResponse(uploads._too_large_message(request.upload_over_limit), status=413)
    imp = corpus_import_create(
        uploaded_file=files["file"], format="jsonl", name="web", created_by=None
    )
    return HttpResponse(str(imp.pk))


urlpatterns = [url_path("upload/", upload_view)]


@pytest.mark.urls(__name__)
def test_upload_view_refuses_an_oversized_body(db, client, settings):
    settings.WEAVER_CORPUS_UPLOAD_MAX_BYTES = 2_000
    small = SimpleUploadedFile("small.jsonl", b'{"text": "hello"}\n')
    ok = client.post("/upload/", {"file": small})
    assert ok.status_code == 200
    stored = Path(CorpusImport.objects.get().path)
    assert stored.read_bytes() == b'{"text": "hello"}\n'
    big = SimpleUploadedFile("big.jsonl", b'{"text": "hello"}\n' * 500)
    refused = client.post("/upload/", {"file": big})
    assert refused.status_code == 413
    assert CorpusImport.objects.count() == 1
    assert len(list((settings.DATA_DIR / "imports").iterdir())) == 1


# --- A real worker --------------------------------------------------------------------------
@pytest.mark.worker
def test_import_runs_on_a_real_worker(
    transactional_db, reference_data, engineer, celery_worker_process
):
    assert Domain.objects.filter(slug="fiction").exists()
    imp = make_import(EN, "jsonl", engineer, CORPUS_MAPPING)
    celery_worker_process(queues="default", name="importer")
    corpus_import_start(corpus_import=imp)

    def finished():
        imp.refresh_from_db()
        return imp.status in (ImportStatus.DONE, ImportStatus.FAILED)

    wait_for(finished, timeout=90, message="the import to finish")
    assert imp.status == ImportStatus.DONE, imp.error
    assert imp.imported == EN_LINES == CorpusText.objects.count()

    # The same worker then prepares the texts: quality verdicts, spans, near-duplicates.
    from pairs.models import TextSpan, Verdict

    def prepared():
        return (
            not CorpusText.objects.filter(verdict=Verdict.PENDING).exists()
            and TextSpan.objects.values("text").distinct().count() == EN_LINES
            and CorpusText.objects.filter(minhash__isnull=False).count() == EN_LINES
        )

    wait_for(prepared, timeout=120, message="the texts to be filtered, split and compared")
