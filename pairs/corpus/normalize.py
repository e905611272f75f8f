"""Text normalisation and the content hash that recognises exact duplicates.

``normalize_text`` is the readable normal form: Unicode NFKC, ``\\n`` newlines, no trailing
spaces, runs of spaces and tabs collapsed to one space, at most one blank line in a row, no
leading or trailing whitespace.

``content_hash`` is the SHA-256 (hex) of ``normalize_text(s)`` with *every* whitespace
character removed. Removing whitespace (rather than collapsing it to one space) makes
reflowed copies match in both languages: an English paragraph hard-wrapped at 72 columns and
the same paragraph on one line, and a Chinese passage whose lines were broken mid-sentence
(Chinese puts no space where a line breaks). Two texts that differ only in where their
spaces fall are treated as the same text, which is what a duplicate check wants. Because every
step of ``normalize_text`` after NFKC only touches whitespace, the hash equals
``sha256("".join(unicodedata.normalize("NFKC", s).split()))``, the form computed here (one
C-level pass each, which keeps imports fast).

The stored text is *not* NFKC-normalised: NFKC turns Chinese full-width punctuation
(``，：；！？（）``) into ASCII, which would damage the writing. Only the hash uses it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x0b\x0c\x85]")
_TRAILING = re.compile(r"[^\S\n]+$", re.MULTILINE)
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_text(s: str) -> str:
    """NFKC, ``\\n`` newlines, trailing spaces stripped per line, runs of spaces and tabs
    collapsed to one space, 3 or more newlines collapsed to 2, outer whitespace stripped."""
    s = unicodedata.normalize("NFKC", s)
    s = _NEWLINES.sub("\n", s)
    s = _TRAILING.sub("", s)
    s = _SPACES.sub(" ", s)
    s = _BLANK_LINES.sub("\n\n", s)
    return s.strip()


# Compatibility characters common in Chinese prose, with their NFKC forms. Replacing them with
# ``str.replace`` first (one fast scan each) usually leaves a string that passes NFKC's quick
# check, so the slow full normalisation (about 100 ns a character) is rarely needed. The result
# is the same: NFKC decomposes character by character, and each of these maps to characters
# that compose with nothing.
_COMMON_COMPAT = tuple(
    (c, unicodedata.normalize("NFKC", c))
    for c in "，。；！？：（）…、\u3000［］－．"
    if unicodedata.normalize("NFKC", c) != c
)
_is_normalized = unicodedata.is_normalized
_normalize = unicodedata.normalize


def hash_key(s: str) -> str:
    """The string the content hash is taken of: NFKC with all whitespace removed."""
    if not s.isascii():
        for c, r in _COMMON_COMPAT:
            if c in s:
                s = s.replace(c, r)
        if not _is_normalized("NFKC", s):
            s = _normalize("NFKC", s)
    return "".join(s.split())


def content_hash(s: str) -> str:
    """SHA-256 hex of the normalised text with all whitespace removed (see the module doc)."""
    return hashlib.sha256(hash_key(s).encode("utf-8")).hexdigest()


def visible_length(s: str) -> int:
    """The number of characters that are not whitespace."""
    return len("".join(s.split()))


def clean_text(s: str) -> str:
    """The form a text is stored in: ``\\n`` newlines and no outer whitespace; otherwise as
    written (no NFKC, so full-width punctuation stays)."""
    if "\r" in s:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    return s.strip()
