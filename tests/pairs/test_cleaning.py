"""Spans, rule-based quality filters and near-duplicate clusters of the corpus."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pairs.corpus import neardup
from pairs.corpus.cleaning_tasks import run_filter
from pairs.corpus.neardup import near_duplicates_find
from pairs.corpus.quality import QualityConfig, check_text, corpus_filter_run
from pairs.corpus.spans import split_spans, text_spans_build
from pairs.models import CorpusImport, CorpusText, NearDuplicateCluster, TextSpan, Verdict

from ..conftest import SHARED_CORPUS, wait_for

CORPUS = SHARED_CORPUS
assert CORPUS.exists(), f"the shared sample corpus is missing: expected it at {CORPUS}"

RULES = [
    "length",
    "duplicate_lines",
    "repeated_ngrams",
    "symbol_ratio",
    "digit_ratio",
    "url_ratio",
    "boilerplate",
    "mojibake",
    "control_chars",
    "language",
]


def load(lang):
    with open(CORPUS / f"{lang}.jsonl", encoding="utf-8") as handle:
        return {row["id"]: row for row in map(json.loads, handle)}


ZH = load("zh")
EN = load("en")
# Passages used below: 《呐喊》自序 (long paragraphs) and Chekhov's "The Lady with the Dog".
ZH_TEXT = ZH["zh-luxun-nahan-01-01"]["text"]
EN_TEXT = EN["en-chekhov-the-lady-with-the-dog-01"]["text"]


def make_texts(specs):
    imp = CorpusImport.objects.create(name="t", format="jsonl", path="x", original_name="x.jsonl")
    texts = []
    for i, spec in enumerate(specs):
        spec = {"language": "en", **spec}
        texts.append(
            CorpusText.objects.create(
                corpus_import=imp,
                source_line=i + 1,
                content_hash=f"clean-{imp.pk}-{i}",
                length=len(spec["text"]),
                **spec,
            )
        )
    return imp, texts


def check_spans(text, spans, max_chars):
    assert spans, "a non-empty text has spans"
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text), "in order, never overlapping"
        piece = text[start:end]
        assert piece == piece.strip(), "trimmed"
        assert end - start <= max_chars
        previous_end = end
    # Together the spans hold every visible character of the original, in place.
    covered = [False] * len(text)
    for start, end in spans:
        covered[start:end] = [True] * (end - start)
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))


# --- spans ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [150, 400, 800])
def test_spans_of_every_corpus_passage_map_back_and_respect_the_target(target):
    for lang, rows in (("zh", ZH), ("en", EN)):
        for row in rows.values():
            text = row["text"]
            spans = split_spans(text, language=lang, target_chars=target)
            check_spans(text, spans, max_chars=2 * target)
            for start, end in spans:
                # Longer than the target only when it is a single paragraph or sentence.
                if end - start > target:
                    assert "\n" not in text[start:end], (row["id"], text[start:end])


def test_short_paragraphs_are_packed_whole_up_to_the_target():
    spans = split_spans(EN_TEXT, language="en", target_chars=800)
    paragraphs = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", EN_TEXT)]
    for p_start, p_end in paragraphs:
        if p_end - p_start <= 1600:  # a paragraph that fits is never cut
            assert any(s <= p_start and p_end <= e for s, e in spans)
    # Greedy: two neighbouring spans could not have been one.
    for (s1, _e1), (_s2, e2) in zip(spans, spans[1:], strict=False):
        assert e2 - s1 > 800
    assert "\n\n" in EN_TEXT[spans[0][0] : spans[0][1]], "several paragraphs in one span"


def test_a_long_chinese_paragraph_is_cut_at_sentence_ends():
    text = ZH_TEXT
    lines = text.split("\n")
    assert max(len(line) for line in lines) > 200
    spans = split_spans(text, language="zh", target_chars=100)
    check_spans(text, spans, max_chars=200)
    inner_cuts = [end for _start, end in spans if end < len(text) and text[end] != "\n"]
    assert inner_cuts, "a paragraph of more than 200 characters was cut inside"
    for end in inner_cuts:
        assert re.search(r"[。！？；…][”’」』）]*$", text[:end]), text[end - 10 : end + 5]
    assert any(text[end - 1] == "。" for end in inner_cuts)


def test_a_long_english_paragraph_is_cut_at_sentence_ends_not_at_abbreviations():
    sentence = "Mr. Holmes looked at the letter for a long while and said nothing at all. "
    text = "Short opening.\n\n" + sentence * 8 + "\n\nA closing line."
    spans = split_spans(text, language="en", target_chars=160)
    check_spans(text, spans, max_chars=320)
    for start, end in spans:
        assert text[start:end].endswith("."), text[start:end]
        assert not text[start:end].endswith("Mr.")


def test_a_sentence_longer_than_the_maximum_is_cut_hard():
    text = "风" * 500
    spans = split_spans(text, language="zh", target_chars=100)
    check_spans(text, spans, max_chars=200)
    assert [e - s for s, e in spans] == [200, 200, 100]
    words = " ".join(f"word{i}" for i in range(200))  # no sentence end at all
    spans = split_spans(words, language="en", target_chars=100, max_chars=150)
    check_spans(words, spans, max_chars=150)
    assert all(words[e - 1].isalnum() and (e == len(words) or words[e] == " ") for _, e in spans)


def test_text_spans_build_replaces_the_rows(db):
    _imp, (text,) = make_texts([{"language": "zh", "text": ZH_TEXT}])
    count = text_spans_build(text=text, target_chars=300)
    assert count == TextSpan.objects.filter(text=text).count() > 1
    first = list(TextSpan.objects.filter(text=text).values_list("ordinal", "start", "end"))
    assert text_spans_build(text=text, target_chars=300) == count
    assert list(TextSpan.objects.filter(text=text).values_list("ordinal", "start", "end")) == first
    assert [o for o, _s, _e in first] == list(range(count))
    span = TextSpan.objects.filter(text=text).first()
    assert span.content == ZH_TEXT[span.start : span.end]
    assert text_spans_build(text=text, target_chars=2000) == 1


# --- quality filters ------------------------------------------------------------------------


def failed(reasons):
    return {reason.rule: reason for reason in reasons if not reason.passed}


@pytest.mark.parametrize(("lang", "text"), [("zh", ZH_TEXT), ("en", EN_TEXT)])
def test_a_clean_corpus_passage_passes_every_rule_with_every_reason_recorded(lang, text):
    reasons = check_text(text, language=lang, config=QualityConfig())
    assert [r.rule for r in reasons] == RULES
    assert all(r.passed for r in reasons), failed(reasons)
    for reason in reasons:
        data = reason.as_dict()
        assert set(data) == {"rule", "passed", "value", "threshold", "message"}
        json.dumps(data)  # stored in a JSONField
        assert data["message"]
    length = reasons[0]
    assert length.value == sum(1 for c in text if not c.isspace())
    assert length.threshold == ([100, 200_000] if lang == "zh" else [250, 500_000])


def test_nearly_the_whole_sample_corpus_passes():
    dropped = {}
    for lang, rows in (("zh", ZH), ("en", EN)):
        for row in rows.values():
            bad = failed(check_text(row["text"], language=lang))
            if bad:
                dropped[row["id"]] = sorted(bad)
    # Only Grimm's cumulative tale "Clever Hans" repeats more than it tells.
    assert dropped == {"en-grimm-042": ["repeated_ngrams"]}


def _en_lines(n, prefix="Line"):
    return "\n".join(f"{prefix} {i}: the river ran on under the bridge." for i in range(n))


CASES = [
    ("length", "zh", "春眠不觉晓，处处闻啼鸟。", "12 visible characters, fewer than 100"),
    (
        "duplicate_lines",
        "en",
        "\n".join(["The same sentence comes back again and again."] * 6 + [EN_TEXT[:600]]),
        "share of duplicate lines 0.625 > 0.3",
    ),
    (
        "repeated_ngrams",
        "en",
        "Buy cheap watches online today and save money. " * 30,
        "share of text in repeated word 3-grams 1.000 > 0.6",
    ),
    (
        "repeated_ngrams",
        "zh",
        "今天天气很好我们去公园散步吧" * 30,
        "share of text in repeated character 5-grams 1.000 > 0.6",
    ),
    ("symbol_ratio", "en", EN_TEXT + "\n" + "★" * 500, "symbol share"),
    ("digit_ratio", "en", EN_TEXT + "\n" + "0123456789 " * 60, "digit share"),
    (
        "url_ratio",
        "en",
        EN_TEXT
        + "\n"
        + "\n".join(f"See https://example.com/page/{i}/index.html" for i in range(8)),
        "URL share",
    ),
    (
        "boilerplate",
        "zh",
        ZH_TEXT + "\n阅读全文\n上一篇：故乡\n下一篇：社戏\n返回首页\n版权所有 © 2024",
        "“阅读全文”",
    ),
    (
        "boilerplate",
        "en",
        EN_TEXT + "\n\nRead more\n\nHome | About | Contact\n\nAll rights reserved.",
        "“read more”",
    ),
    ("mojibake", "en", EN_TEXT.replace("’", "â€™"), "“â€™”"),
    ("mojibake", "zh", ZH_TEXT + "锟斤拷锟斤拷\ufffd\ufffd", "“锟斤拷”"),
    ("control_chars", "en", EN_TEXT.replace(". ", ".\x00 ", 1) + "\x1b[0m", "U+0000, U+001B"),
    ("language", "en", ZH_TEXT, "Han share of letters 0.994 > 0.1 for en"),
    ("language", "zh", EN_TEXT, "Han share of letters 0.000 < 0.3 for Chinese"),
]


@pytest.mark.parametrize(("rule", "lang", "text", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_fails_its_text_with_the_reason_recorded(rule, lang, text, message):
    reasons = check_text(text, language=lang, config=QualityConfig())
    assert [r.rule for r in reasons] == RULES, "every rule is recorded, passed or not"
    bad = failed(reasons)
    assert rule in bad
    if not (rule == "language" and lang == "zh"):  # English read as Chinese n-grams repeats
        assert set(bad) == {rule}, {k: v.message for k, v in bad.items()}
    reason = bad[rule]
    assert message in reason.message
    assert reason.threshold is not None and reason.value is not None


def test_thresholds_are_configurable():
    text = "\n".join(["The same sentence comes back again and again."] * 2 + [EN_TEXT])
    assert "duplicate_lines" not in failed(check_text(text, language="en"))
    strict = QualityConfig.from_dict({"max_duplicate_line_share": 0.0})
    reason = failed(check_text(text, language="en", config=strict))["duplicate_lines"]
    assert reason.threshold == 0.0 and reason.value > 0
    literary = "Once upon a time.\n\nRead more\n\n" + EN_TEXT
    loose = QualityConfig(max_boilerplate_share=0.5)
    assert "boilerplate" in failed(check_text(literary, language="en"))
    assert "boilerplate" not in failed(check_text(literary, language="en", config=loose))
    with pytest.raises(TypeError):
        QualityConfig.from_dict({"no_such_threshold": 1})


def test_corpus_filter_run_stores_verdicts_and_reasons_in_batches(db):
    _imp, texts = make_texts(
        [
            {"language": "zh", "text": ZH_TEXT},
            {"language": "en", "text": EN_TEXT},
            {"language": "en", "text": "Click here to subscribe now!"},
            {"language": "zh", "text": ZH_TEXT + "锟斤拷" * 5},
        ]
    )
    counts = corpus_filter_run(
        queryset_or_ids=[t.pk for t in texts], config=QualityConfig(), batch_size=3
    )
    assert counts == {
        "checked": 4,
        "kept": 2,
        "dropped": 2,
        "failed_rules": {"length": 1, "boilerplate": 1, "mojibake": 1},
    }
    verdicts = [CorpusText.objects.get(pk=t.pk) for t in texts]
    assert [t.verdict for t in verdicts] == [Verdict.KEEP, Verdict.KEEP, Verdict.DROP, Verdict.DROP]
    for text in verdicts:
        assert [r["rule"] for r in text.verdict_reasons] == RULES
    junk = {r["rule"]: r for r in verdicts[2].verdict_reasons}
    assert junk["length"]["passed"] is False and junk["length"]["value"] == 24
    assert junk["boilerplate"]["passed"] is False and junk["boilerplate"]["value"] == 1.0
    # Idempotent, and a queryset works as well as ids.
    again = corpus_filter_run(queryset_or_ids=CorpusText.objects.all(), config=QualityConfig())
    assert again == counts


# --- near-duplicates ------------------------------------------------------------------------


def change_one_sentence(text, lang):
    """Replace one sentence in the middle of ``text`` with a new one."""
    pattern = r"[^。！？\n]+[。！？]" if lang == "zh" else r"[^.!?\n]+[.!?]"
    sentences = [m for m in re.finditer(pattern, text) if len(m.group()) > 15]
    m = sentences[len(sentences) // 2]
    new = (
        "他忽然想起了许多年前在河边见过的那一只白色的水鸟。"
        if lang == "zh"
        else " Then, without a word to anyone, the old gardener walked down to the river."
    )
    return text[: m.start()] + new + text[m.end() :]


ZH_CHANGED = change_one_sentence(ZH_TEXT, "zh")
EN_CHANGED = change_one_sentence(EN_TEXT, "en")
ZH_OTHER = ZH["zh-luxun-nahan-06-04"]["text"]
EN_OTHER = EN["en-chekhov-the-lady-with-the-dog-17"]["text"]


@pytest.mark.parametrize(
    ("lang", "a", "b"),
    [
        ("zh", ZH_TEXT, ZH_CHANGED),
        ("en", EN_TEXT, EN_CHANGED),
        ("zh", ZH_TEXT, ZH_TEXT[: len(ZH_TEXT) * 2 // 3]),
        ("en", EN_TEXT, EN_TEXT[len(EN_TEXT) // 2 :]),
        ("zh", ZH_TEXT, ZH_OTHER),
        ("en", EN_TEXT, EN_OTHER),
    ],
)
def test_minhash_estimates_the_jaccard_similarity(lang, a, b):
    exact = neardup.jaccard(neardup.shingles(a, language=lang), neardup.shingles(b, language=lang))
    estimate = neardup.estimated_jaccard(
        neardup.signature(a, language=lang), neardup.signature(b, language=lang)
    )
    assert abs(estimate - exact) <= 0.1, (exact, estimate)


def test_one_changed_sentence_keeps_the_similarity_well_above_the_threshold():
    for lang, a, b in (("zh", ZH_TEXT, ZH_CHANGED), ("en", EN_TEXT, EN_CHANGED)):
        assert a != b
        similarity = neardup.jaccard(
            neardup.shingles(a, language=lang), neardup.shingles(b, language=lang)
        )
        assert 0.8 < similarity < 1.0


def test_signatures_are_stable_across_processes():
    here = neardup.signature_to_bytes(neardup.signature(ZH_TEXT[:300], language="zh")).hex()
    code = (
        "import sys; from pairs.corpus import neardup as n; "
        "print(n.signature_to_bytes(n.signature(sys.stdin.read(), language='zh')).hex())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=ZH_TEXT[:300],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=Path(__file__).resolve().parents[2],
        encoding="utf-8",
    )
    assert out.stdout.strip() == here
    assert len(bytes.fromhex(here)) == neardup.NUM_PERM * 8


def clusters_of(texts):
    rows = CorpusText.objects.filter(pk__in=[t.pk for t in texts]).order_by("pk")
    return {t.pk: (t.cluster_id, t.is_active) for t in rows}


def test_near_duplicates_are_clustered_and_the_best_signalled_member_is_kept(db):
    _imp, texts = make_texts(
        [
            {"language": "zh", "text": ZH_TEXT, "signals": {"reads": 10}},
            {"language": "zh", "text": ZH_CHANGED, "signals": {"reads": 5000, "likes": 3}},
            {"language": "zh", "text": ZH_OTHER, "signals": {"reads": 99999}},
            {"language": "en", "text": EN_TEXT, "signals": {"upvotes": 7}},
            {"language": "en", "text": EN_CHANGED, "signals": {"upvotes": 7}},
            {"language": "en", "text": EN_OTHER},
            {"language": "en", "text": ""},
            {"language": "en", "text": ""},
        ]
    )
    zh_a, zh_b, zh_other, en_a, en_b, en_other, empty1, empty2 = texts
    result = near_duplicates_find()
    assert result["texts"] == 8 and result["signatures_computed"] == 8
    assert result["clusters"] == 2 and result["clustered_texts"] == 4
    assert result["deactivated"] == 2

    state = clusters_of(texts)
    zh_cluster = NearDuplicateCluster.objects.get(pk=state[zh_a.pk][0])
    assert zh_cluster.size == 2 and zh_cluster.keeper_id == zh_b.pk  # more reads
    assert state[zh_a.pk] == (zh_cluster.pk, False) and state[zh_b.pk] == (zh_cluster.pk, True)
    en_cluster = NearDuplicateCluster.objects.get(pk=state[en_a.pk][0])
    assert en_cluster.keeper_id == en_a.pk  # equal signals: the earliest id
    assert state[en_b.pk] == (en_cluster.pk, False)
    for unrelated in (zh_other, en_other, empty1, empty2):
        assert state[unrelated.pk] == (None, True)
    assert len(bytes(CorpusText.objects.get(pk=zh_a.pk).minhash)) == 1024

    # Running again gives the same clusters (the same rows, even) and computes nothing.
    again = near_duplicates_find()
    assert again["signatures_computed"] == 0
    assert {k: v for k, v in again.items() if k != "signatures_computed"} == {
        k: v for k, v in result.items() if k != "signatures_computed"
    }
    assert clusters_of(texts) == state
    assert NearDuplicateCluster.objects.count() == 2

    # When the signals change, the rebuild picks the new keeper.
    CorpusText.objects.filter(pk=zh_a.pk).update(signals={"reads": 10**6})
    near_duplicates_find()
    state = clusters_of(texts)
    assert state[zh_a.pk][1] is True and state[zh_b.pk][1] is False
    assert NearDuplicateCluster.objects.get(pk=state[zh_a.pk][0]).keeper_id == zh_a.pk
    assert NearDuplicateCluster.objects.count() == 2


def test_a_text_the_filter_dropped_is_not_kept_over_its_duplicate(db):
    _imp, (good, dropped) = make_texts(
        [
            {"language": "en", "text": EN_TEXT},
            {"language": "en", "text": EN_CHANGED, "signals": {"upvotes": 100}},
        ]
    )
    CorpusText.objects.filter(pk=dropped.pk).update(verdict=Verdict.DROP)
    near_duplicates_find(queryset=CorpusText.objects.filter(language="en"))
    assert clusters_of([good, dropped])[good.pk][1] is True
    assert clusters_of([good, dropped])[dropped.pk][1] is False


# --- through a real worker ------------------------------------------------------------------


@pytest.mark.worker
def test_corpus_filter_runs_in_a_real_celery_worker(celery_worker_process, reference_data):
    imp, texts = make_texts(
        [
            {"language": "zh", "text": ZH_TEXT},
            {"language": "en", "text": EN_TEXT},
            {"language": "en", "text": "Home | About | Contact\nRead more\nAll rights reserved."},
        ]
    )
    worker = celery_worker_process(queues="default", name="cleaning")
    run_filter.delay(import_id=imp.pk)

    def judged():
        rows = CorpusText.objects.filter(corpus_import=imp)
        return all(t.verdict != Verdict.PENDING for t in rows)

    try:
        wait_for(judged, timeout=90, interval=0.5, message="verdicts")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.log_path.read_text()[-3000:]}") from None
    verdicts = {t.pk: t for t in CorpusText.objects.filter(corpus_import=imp)}
    assert [verdicts[t.pk].verdict for t in texts] == [Verdict.KEEP, Verdict.KEEP, Verdict.DROP]
    junk = {r["rule"]: r for r in verdicts[texts[2].pk].verdict_reasons}
    assert not junk["boilerplate"]["passed"] and not junk["length"]["passed"]
    assert "corpus.filter" in worker.log_path.read_text()
