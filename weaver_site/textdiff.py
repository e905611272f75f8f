"""Word-level diffs for English and character-level diffs for Chinese, from one tokenizer.

CJK characters (and kana, hangul, full-width punctuation) are single tokens; runs of other
letters and digits are words; whitespace runs and punctuation marks are tokens of their own.
So English text diffs by word, Chinese by character, and mixed text by both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0003134f"
)
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:['’][^\W_{_CJK}]+)*|\s+|.", re.S)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text or "")


@dataclass(frozen=True)
class DiffOp:
    tag: str  # "equal", "insert" or "delete"
    text: str


def diff_tokens(old: str, new: str) -> list[DiffOp]:
    """The edit script from ``old`` to ``new`` at word (English) or character (Chinese) level."""
    a, b = tokenize(old), tokenize(new)
    ops: list[DiffOp] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(DiffOp("equal", "".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            ops.append(DiffOp("delete", "".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            ops.append(DiffOp("insert", "".join(b[j1:j2])))
    return ops


def diff_html(old: str, new: str) -> SafeString:
    """The diff as escaped HTML with ``<del>`` and ``<ins>`` marks."""
    parts = []
    for op in diff_tokens(old, new):
        text = escape(op.text)
        if op.tag == "equal":
            parts.append(text)
        elif op.tag == "delete":
            parts.append(f'<del class="diff-del">{text}</del>')
        else:
            parts.append(f'<ins class="diff-ins">{text}</ins>')
    return mark_safe("".join(parts))  # noqa: S308 - every piece of text is escaped above


def changed(old: str, new: str) -> bool:
    return any(op.tag != "equal" for op in diff_tokens(old, new))
