from weaver_site.textdiff import diff_html, diff_tokens, tokenize


def ops(old, new):
    return [(op.tag, op.text) for op in diff_tokens(old, new)]


def test_english_diffs_by_word():
    assert ops("The cat sat down.", "The dog sat down.") == [
        ("equal", "The "),
        ("delete", "cat"),
        ("insert", "dog"),
        ("equal", " sat down."),
    ]


def test_english_keeps_contractions_whole():
    assert tokenize("don't stop") == ["don't", " ", "stop"]


def test_chinese_diffs_by_character():
    assert ops("他推门而入", "他猛地推门而入") == [
        ("equal", "他"),
        ("insert", "猛地"),
        ("equal", "推门而入"),
    ]
    assert tokenize("春眠不觉晓，") == ["春", "眠", "不", "觉", "晓", "，"]


def test_mixed_text_words_and_characters():
    assert tokenize("用GPT写作") == ["用", "GPT", "写", "作"]


def test_html_is_escaped_and_marked():
    html = diff_html("<b>old</b>", "<b>new</b>")
    assert "<b>" not in html
    assert '<del class="diff-del">old</del>' in html
    assert '<ins class="diff-ins">new</ins>' in html
    assert "&lt;b&gt;" in html


def test_identical_texts_have_no_marks():
    assert "<ins" not in diff_html("same text", "same text")
    assert "<del" not in diff_html("same text", "same text")
