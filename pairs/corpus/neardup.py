"""Near-duplicate detection with MinHash and locality-sensitive hashing (LSH).

**Shingles.** Text is normalised (Unicode NFKC, lower case). Chinese becomes the sequence of
its letters and digits (punctuation and whitespace dropped) and is shingled into character
5-grams; other languages become words and are shingled into word 3-grams. With these, one
sentence rewritten in a typical passage (300–1,500 characters, 150–1,000 words) changes a few
dozen shingles out of hundreds, so the Jaccard similarity stays around 0.8–0.95, well above
the 0.7 threshold, while unrelated passages share almost none (< 0.05).

**Signatures.** Each shingle is hashed to 64 bits with BLAKE2b (stable across processes and
machines, unlike ``hash()``), and ``NUM_PERM`` = 128 universal hash functions
``h_i(x) = (a_i x + b_i) mod (2^61 - 1)`` give the signature ``min over shingles of h_i``. The
``a_i, b_i`` come from BLAKE2b of fixed strings, so they never change with a library version.
The probability that two signatures agree at one position is the Jaccard similarity of the
shingle sets, so the share of agreeing positions estimates it (standard error
``sqrt(J(1-J)/128)``, under 0.045). A signature is stored in ``CorpusText.minhash`` as 1,024
bytes (128 little-endian uint64).

**LSH.** The signature is cut into ``BANDS`` = 32 bands of ``ROWS`` = 4 values; texts whose
values agree in a whole band become candidates. Two texts with similarity ``s`` become
candidates with probability ``1 - (1 - s^4)^32``; the S-curve's threshold is about
``(1/b)^(1/r) = (1/32)^(1/4) ≈ 0.42``, so pairs at 0.7 are found with probability 0.9998 and
at 0.5 with 0.87. Candidates are then verified by their estimated Jaccard ≥ ``threshold``
(default 0.7), joined by union-find into clusters, and each cluster keeps one member active.

**Memory.** Only signatures and band keys are held: about 1.3 KB per text (1,024 bytes of
signature and 256 bytes of band keys, plus ids), so 300,000 texts take about 400 MB. Beyond a
few hundred thousand texts, run it per language or domain (``queryset``), or move the band
keys into a database table.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import QuerySet

from .spans import is_chinese

NUM_PERM = 128
BANDS = 32
ROWS = 4
DEFAULT_THRESHOLD = 0.7
SHINGLE_CHARS_ZH = 5
SHINGLE_WORDS = 3

MERSENNE = np.uint64((1 << 61) - 1)
_MASK32 = np.uint64(0xFFFFFFFF)
_MASK29 = np.uint64((1 << 29) - 1)
_EMPTY = np.uint64((1 << 61) - 1)  # the signature value of a text without shingles
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def _parameters(name: str) -> np.ndarray:
    values = []
    for i in range(NUM_PERM):
        digest = hashlib.blake2b(f"weaver-minhash-{name}-{i}".encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little") % ((1 << 61) - 1)
        values.append(value or 1)
    return np.array(values, dtype=np.uint64)


_A = _parameters("a")
_B = _parameters("b")


# --- shingles and signatures ----------------------------------------------------------------


def shingles(text: str, *, language: str) -> set[str]:
    """The shingle set of ``text``: character 5-grams for Chinese, word 3-grams otherwise.

    A text shorter than one shingle gives itself as its only shingle (nothing for an empty
    text)."""
    normal = unicodedata.normalize("NFKC", text).lower()
    if is_chinese(language):
        chars = "".join(char for char in normal if char.isalnum())
        n = SHINGLE_CHARS_ZH
        if len(chars) <= n:
            return {chars} if chars else set()
        return {chars[i : i + n] for i in range(len(chars) - n + 1)}
    words = _WORD.findall(normal)
    n = SHINGLE_WORDS
    if len(words) <= n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """The exact Jaccard similarity of two shingle sets."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _hash64(items: Iterable[str]) -> np.ndarray:
    digests = b"".join(
        hashlib.blake2b(item.encode("utf-8"), digest_size=8).digest() for item in items
    )
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def _mod_mersenne(x: np.ndarray) -> np.ndarray:
    """``x mod (2^61 - 1)`` for uint64 ``x``, using ``2^61 ≡ 1``."""
    x = (x & MERSENNE) + (x >> np.uint64(61))
    return np.where(x >= MERSENNE, x - MERSENNE, x)


def _mul_mod_mersenne(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``a * x mod (2^61 - 1)`` for ``a, x < 2^61`` (broadcast), exactly, in uint64.

    With ``a = a1·2^32 + a0`` and ``x = x1·2^32 + x0``: ``a·x = a1x1·2^64 + (a1x0 + a0x1)·2^32
    + a0x0``, where ``2^64 ≡ 8`` and the middle term is split again at 2^29 so that each piece
    stays below 2^64."""
    a1, a0 = a >> np.uint64(32), a & _MASK32
    x1, x0 = x >> np.uint64(32), x & _MASK32
    high = (a1 * x1) << np.uint64(3)  # < 2^61
    middle = a1 * x0 + a0 * x1  # < 2^62
    middle = (middle >> np.uint64(29)) + ((middle & _MASK29) << np.uint64(32))  # < 2^62
    low = _mod_mersenne(a0 * x0)  # a0*x0 < 2^64
    return _mod_mersenne(_mod_mersenne(high + middle) + low)


def signature(text: str, *, language: str) -> np.ndarray:
    """The MinHash signature of ``text``: ``NUM_PERM`` uint64 values below 2^61 - 1."""
    items = shingles(text, language=language)
    if not items:
        return np.full(NUM_PERM, _EMPTY, dtype=np.uint64)
    x = _mod_mersenne(_hash64(sorted(items)))
    values = _mod_mersenne(_mul_mod_mersenne(_A[:, None], x[None, :]) + _B[:, None])
    return values.min(axis=1)


def signature_to_bytes(values: np.ndarray) -> bytes:
    return values.astype("<u8").tobytes()


def signature_from_bytes(data: bytes | memoryview | None) -> np.ndarray | None:
    """The signature stored in ``CorpusText.minhash``, or None when missing or malformed."""
    if data is None:
        return None
    data = bytes(data)
    if len(data) != NUM_PERM * 8:
        return None
    return np.frombuffer(data, dtype="<u8").astype(np.uint64)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The share of signature positions where ``a`` and ``b`` agree."""
    return float(np.mean(a == b))


def _band_keys(signatures: np.ndarray) -> np.ndarray:
    """One uint64 key per (text, band): a mix of the band's ``ROWS`` values."""
    bands = signatures.reshape(len(signatures), BANDS, ROWS)
    keys = np.full(bands.shape[:2], np.uint64(0xCBF29CE484222325), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for row in range(ROWS):
            keys = (keys ^ bands[:, :, row]) * np.uint64(0x100000001B3)
            keys ^= keys >> np.uint64(29)
    return keys


# --- clusters -------------------------------------------------------------------------------


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def _cluster(signatures: np.ndarray, threshold: float) -> tuple[list[list[int]], int]:
    """Groups of row indices (size ≥ 2) whose signatures are near-duplicates, and the number
    of candidate pairs verified."""
    count = len(signatures)
    if count < 2:
        return [], 0
    empty = (signatures == _EMPTY).all(axis=1)
    keys = _band_keys(signatures)
    uf = _UnionFind(count)
    checked = 0
    for band in range(BANDS):
        column = keys[:, band]
        order = np.argsort(column, kind="stable")
        ordered = column[order]
        # Runs of equal keys: bucket boundaries.
        boundaries = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
        starts = np.concatenate(([0], boundaries))
        ends = np.concatenate((boundaries, [count]))
        for start, end in zip(starts[ends - starts > 1], ends[ends - starts > 1], strict=True):
            members = [int(i) for i in order[start:end] if not empty[i]]
            # Compare each member with the first member of every group found so far in this
            # bucket (all pairs for small buckets, few comparisons for big ones).
            leaders: list[int] = []
            for member in members:
                joined = False
                for leader in leaders:
                    if uf.find(member) == uf.find(leader):
                        joined = True
                        continue
                    checked += 1
                    similar = np.mean(signatures[member] == signatures[leader]) >= threshold
                    if similar:
                        uf.union(member, leader)
                        joined = True
                if not joined:
                    leaders.append(member)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(uf.find(i), []).append(i)
    return [members for members in groups.values() if len(members) > 1], checked


def signal_score(signals: Any) -> float:
    """Sum of ``log1p`` of the text's numeric popularity signals (negative values count 0)."""
    if not isinstance(signals, dict):
        return 0.0
    total = 0.0
    for value in signals.values():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            total += math.log1p(max(float(value), 0.0))
    return total


# --- the service ----------------------------------------------------------------------------

BATCH_SIZE = 500
CHUNK_SIZE = 2000


def corpus_signatures_compute(*, queryset: QuerySet, batch_size: int = BATCH_SIZE) -> int:
    """Store the MinHash signature of every text in ``queryset`` that has none (or a malformed
    one), in id order, ``batch_size`` at a time. Returns how many were computed."""
    from pairs.models import CorpusText

    computed = 0
    last_pk = 0
    pending = queryset.order_by("pk").only("pk", "text", "language", "minhash")
    while True:
        batch = list(pending.filter(pk__gt=last_pk)[:batch_size])
        if not batch:
            break
        last_pk = batch[-1].pk
        changed = []
        for item in batch:
            if signature_from_bytes(item.minhash) is not None:
                continue
            item.minhash = signature_to_bytes(signature(item.text, language=item.language))
            changed.append(item)
        if changed:
            with transaction.atomic():
                CorpusText.objects.bulk_update(changed, ["minhash"])
            computed += len(changed)
    return computed


def near_duplicates_find(
    *, queryset: QuerySet | None = None, threshold: float = DEFAULT_THRESHOLD
) -> dict[str, int]:
    """Find near-duplicate texts in ``queryset`` (default: the whole corpus) and rebuild their
    :class:`~pairs.models.NearDuplicateCluster` rows.

    Missing signatures are computed first. Each cluster keeps the member with the best signal
    score (:func:`signal_score`; texts the quality filter dropped come last, ties go to the
    earliest id) active, and every other member gets ``is_active=False``. Clusters that held
    a text of ``queryset`` are rebuilt from scratch, reusing the row of a cluster whose keeper
    is unchanged, so running it again gives the same clusters. Returns counts: ``texts``,
    ``signatures_computed``, ``candidate_pairs``, ``clusters``, ``clustered_texts``,
    ``deactivated``.
    """
    from pairs.models import CorpusText, NearDuplicateCluster, Verdict

    scope = CorpusText.objects.all() if queryset is None else queryset
    computed = corpus_signatures_compute(queryset=scope)

    ids: list[int] = []
    rows: list[np.ndarray] = []
    rank: dict[int, tuple[bool, float, int]] = {}
    fields = ("pk", "minhash", "signals", "verdict")
    for pk, data, signals, verdict in (
        scope.order_by("pk").values_list(*fields).iterator(chunk_size=CHUNK_SIZE)
    ):
        values = signature_from_bytes(data)
        if values is None:  # written concurrently with a malformed value; skip this run
            continue
        ids.append(pk)
        rows.append(values)
        rank[pk] = (verdict != Verdict.DROP, signal_score(signals), -pk)
    signatures = np.vstack(rows) if rows else np.zeros((0, NUM_PERM), dtype=np.uint64)
    del rows
    groups, checked = _cluster(signatures, threshold)
    del signatures

    clusters = [sorted(ids[i] for i in members) for members in groups]
    keepers = [max(members, key=rank.__getitem__) for members in clusters]

    with transaction.atomic():
        old_clusters = list(
            NearDuplicateCluster.objects.filter(
                pk__in=scope.filter(cluster__isnull=False).values("cluster")
            )
        )
        old_by_keeper = {c.keeper_id: c for c in old_clusters if c.keeper_id is not None}
        old_ids = [c.pk for c in old_clusters]
        for start in range(0, len(old_ids), BATCH_SIZE):
            CorpusText.objects.filter(cluster__in=old_ids[start : start + BATCH_SIZE]).update(
                cluster=None, is_active=True
            )
        scope.filter(is_active=False).update(is_active=True)
        reused: set[int] = set()
        changed: list[CorpusText] = []
        for members, keeper in zip(clusters, keepers, strict=True):
            cluster = old_by_keeper.get(keeper)
            if cluster is not None and cluster.pk not in reused:
                reused.add(cluster.pk)
                if cluster.size != len(members):
                    cluster.size = len(members)
                    cluster.save(update_fields=["size"])
            else:
                cluster = NearDuplicateCluster.objects.create(keeper_id=keeper, size=len(members))
            changed.extend(
                CorpusText(pk=pk, cluster_id=cluster.pk, is_active=pk == keeper) for pk in members
            )
        CorpusText.objects.bulk_update(changed, ["cluster", "is_active"], batch_size=BATCH_SIZE)
        unused = [pk for pk in old_ids if pk not in reused]
        for start in range(0, len(unused), BATCH_SIZE):
            NearDuplicateCluster.objects.filter(pk__in=unused[start : start + BATCH_SIZE]).delete()
    deactivated = sum(len(members) - 1 for members in clusters)
    return {
        "texts": len(ids),
        "signatures_computed": computed,
        "candidate_pairs": checked,
        "clusters": len(clusters),
        "clustered_texts": sum(len(members) for members in clusters),
        "deactivated": deactivated,
    }


def similar_groups(
    texts: list[str], *, language: str, threshold: float = DEFAULT_THRESHOLD
) -> list[list[int]]:
    """Groups (two or more indices into ``texts``) of near-duplicate short texts, such as the
    instructions of one subdomain x task: MinHash over the same shingles as the corpus."""
    if len(texts) < 2:
        return []
    signatures = np.vstack([signature(t, language=language) for t in texts])
    groups, _ = _cluster(signatures, threshold)
    return [sorted(members) for members in groups]
