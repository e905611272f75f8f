"""Mapping a source row to a corpus text: targets, language names and detection, taxonomy."""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from .normalize import hash_key
from .uploads import text_max_chars

logger = logging.getLogger(__name__)

LANGUAGES = ("zh", "en")
SCALAR_TARGETS = (
    "text",
    "title",
    "author",
    "language",
    "domain",
    "subdomain",
    "licence",
    "source",
    "external_id",
)
DEFAULT_TARGETS = ("title", "author", "language", "domain", "subdomain", "licence", "source")
_ZH_NAMES = {"zh", "cn", "chi", "zho", "chinese", "mandarin", "中文", "汉语", "漢語", "华语"}
_EN_NAMES = {"en", "eng", "english", "英文", "英语", "英語"}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
DETECT_SAMPLE = 2_000
ZH_SHARE = 0.3


def _slug(value: Any) -> str:
    return str(value).strip().lower().replace("-", "_").replace(" ", "_")


def normalize_language(value: Any) -> str | None:
    """``zh`` or ``en`` for the usual ways of naming them (``zh-Hans``, ``Chinese``, ``中文``,
    ``en-GB``, ``English`` ...); ``None`` otherwise."""
    if value is None:
        return None
    v = str(value).strip().lower().replace("_", "-")
    if not v:
        return None
    if v in _ZH_NAMES or v.startswith("zh-") or v.startswith("中文"):
        return "zh"
    if v in _EN_NAMES or v.startswith("en-"):
        return "en"
    return None


def detect_language(key: str) -> str:
    """``zh`` when at least 30% of the first non-whitespace characters are Han, else ``en``."""
    sample = key[:DETECT_SAMPLE]
    if not sample:
        return "en"
    return "zh" if len(_HAN.findall(sample)) >= ZH_SHARE * len(sample) else "en"


class _Taxonomy:
    """Domain and subdomain ids by slug, loaded once per run."""

    def __init__(self) -> None:
        from principles.models import Domain, Subdomain

        self.domains = {d.slug: d.pk for d in Domain.objects.all()}
        self.subdomains: dict[tuple[int, str], int] = {}
        self.by_sub_slug: dict[str, list[tuple[int, int]]] = {}
        for s in Subdomain.objects.all():
            self.subdomains[(s.domain_id, s.slug)] = s.pk
            self.by_sub_slug.setdefault(s.slug, []).append((s.domain_id, s.pk))
        self._cache: dict[tuple[Any, Any], tuple[int | None, int | None] | str] = {}

    def resolve(self, domain: Any, subdomain: Any) -> tuple[int | None, int | None] | str:
        """``(domain_id, subdomain_id)`` or the reason the values are refused."""
        key = (domain, subdomain)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._resolve(domain, subdomain)
            if len(self._cache) < 10_000:
                self._cache[key] = hit
        return hit

    def _resolve(self, domain: Any, subdomain: Any) -> tuple[int | None, int | None] | str:
        d = _slug(domain) if domain not in (None, "") else ""
        s = _slug(subdomain) if subdomain not in (None, "") else ""
        domain_id = sub_id = None
        if d:
            domain_id = self.domains.get(d)
            if domain_id is None:
                matches = self.by_sub_slug.get(d, [])
                if len(matches) != 1 or s:
                    return f"unknown domain {str(domain)[:100]!r}"
                domain_id, sub_id = matches[0]
        if s:
            if domain_id is not None:
                sub_id = self.subdomains.get((domain_id, s))
                if sub_id is None:
                    return f"unknown subdomain {str(subdomain)[:100]!r} for domain {d!r}"
            else:
                matches = self.by_sub_slug.get(s, [])
                if len(matches) != 1:
                    return f"unknown subdomain {str(subdomain)[:100]!r}"
                domain_id, sub_id = matches[0]
        return domain_id, sub_id


@dataclass
class _Mapper:
    """Turns a source record into the values of a ``CorpusText`` row (or a reason)."""

    mapping: dict[str, Any]
    defaults: dict[str, Any]
    taxonomy: _Taxonomy
    max_chars: int = field(default_factory=text_max_chars)

    def __post_init__(self) -> None:
        m, d = self.mapping, self.defaults
        self.text_key = m.get("text") or "text"
        self.keys = {t: m.get(t) for t in SCALAR_TARGETS if t != "text"}
        self.signal_keys = [str(k) for k in (m.get("signals") or [])]
        self.default_language = normalize_language(d.get("language"))

    def _value(self, data: dict[str, Any], target: str, limit: int) -> str:
        key = self.keys.get(target)
        value = data.get(key) if key else None
        if value is None or value == "":
            value = self.defaults.get(target)
        if value is None:
            return ""
        value = value if isinstance(value, str) else str(value)
        return value[:limit] if len(value) > limit else value

    def map(self, data: dict[str, Any]) -> tuple | str:
        """``(title, author, source, licence, external_id, text, language, domain_id,
        subdomain_id, content_hash, length, signals_json)`` or the reason for refusing."""
        text = data.get(self.text_key)
        if text is None:
            return "missing text"
        if not isinstance(text, str):
            if isinstance(text, dict | list | bool):
                return f"text field {self.text_key!r} is not text"
            text = str(text)
        if len(text) > self.max_chars:
            return (
                f"text over the size limit ({len(text)} characters; the limit is {self.max_chars})"
            )
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = text.strip()
        if not text:
            return "missing text"
        if "\x00" in text:
            return "text contains a NUL character"
        key = hash_key(text)
        lang_key = self.keys["language"]
        language = normalize_language(data.get(lang_key)) if lang_key else None
        if language is None:
            language = self.default_language or detect_language(key)
        dkey, skey = self.keys["domain"], self.keys["subdomain"]
        dval = data.get(dkey) if dkey else None
        sval = data.get(skey) if skey else None
        if dval is None or dval == "":
            dval = self.defaults.get("domain")
        if sval is None or sval == "":
            sval = self.defaults.get("subdomain")
        if dval or sval:
            resolved = self.taxonomy.resolve(dval, sval)
            if type(resolved) is str:
                return resolved
            domain_id, subdomain_id = resolved
        else:
            domain_id = subdomain_id = None
        signals = "{}"
        if self.signal_keys:
            values = {}
            for name in self.signal_keys:
                raw = data.get(name)
                if raw is None or raw == "":
                    continue
                if isinstance(raw, bool):
                    raw = float(raw)
                try:
                    number = float(raw)
                except (TypeError, ValueError):
                    return f"signal {name!r} is not a number: {str(raw)[:50]!r}"
                if not math.isfinite(number):
                    return f"signal {name!r} is not a finite number: {str(raw)[:50]!r}"
                values[name] = number
            if values:
                signals = json.dumps(values)
        return (
            self._value(data, "title", 500),
            self._value(data, "author", 200),
            self._value(data, "source", 500),
            self._value(data, "licence", 200),
            self._value(data, "external_id", 200),
            text,
            language,
            domain_id,
            subdomain_id,
            sha256(key.encode("utf-8")).hexdigest(),
            len(key),
            signals,
        )
