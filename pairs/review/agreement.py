"""Inter-rater agreement, plain Python (no Django): percent agreement, Cohen's kappa and
Krippendorff's alpha for nominal data.

``units`` maps a unit (a reviewed pair) to ``{coder: label}``; units with fewer than two labels
carry no information about agreement and are left out, as both coefficients require.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from itertools import combinations

Units = Mapping[Hashable, Mapping[Hashable, Hashable]]


def pairable(units: Units) -> dict:
    return {u: dict(v) for u, v in units.items() if len(v) >= 2}


def percent_agreement(units: Units) -> float | None:
    """Share of agreeing coder pairs over all pairs of coders who labelled the same unit."""
    agree = total = 0
    for labels in pairable(units).values():
        for a, b in combinations(labels.values(), 2):
            total += 1
            agree += a == b
    return agree / total if total else None


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two coders' labels of the same units, in the same order.

    None when undefined: no units, or chance agreement of 1 (both coders used one and the same
    label throughout, so there is nothing to agree beyond chance)."""
    if len(a) != len(b):
        raise ValueError("both coders must label the same units")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in ca.keys() | cb.keys()) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def cohen_kappa_units(
    units: Units, coder_a: Hashable, coder_b: Hashable
) -> tuple[float | None, int]:
    """Kappa of two coders over the units both labelled, and how many those are."""
    both = [(v[coder_a], v[coder_b]) for v in units.values() if coder_a in v and coder_b in v]
    if not both:
        return None, 0
    a, b = zip(*both, strict=True)
    return cohen_kappa(a, b), len(both)


def krippendorff_alpha_nominal(units: Units) -> float | None:
    """Krippendorff's alpha for nominal labels, any number of coders, missing values allowed.

    Built from the coincidence matrix: alpha = 1 - (n - 1) * D_o / D_e with D_o the observed
    and D_e the expected disagreements. None when undefined (fewer than two pairable values,
    or a single label used throughout)."""
    coincidence: Counter = Counter()
    for labels in pairable(units).values():
        values = list(labels.values())
        m = len(values)
        for i, c in enumerate(values):
            for j, k in enumerate(values):
                if i != j:
                    coincidence[(c, k)] += 1 / (m - 1)
    marginals: Counter = Counter()
    for (c, _k), weight in coincidence.items():
        marginals[c] += weight
    n = sum(marginals.values())
    if n <= 1:
        return None
    observed = sum(w for (c, k), w in coincidence.items() if c != k)
    expected = sum(marginals[c] * marginals[k] for c in marginals for k in marginals if c != k)
    if expected == 0:
        return None
    return 1 - (n - 1) * observed / expected


def reviewer_pairs(units: Units) -> list[tuple[Hashable, Hashable]]:
    """Every two coders who labelled at least one unit in common."""
    seen = set()
    for labels in units.values():
        for a, b in combinations(sorted(labels, key=str), 2):
            seen.add((a, b))
    return sorted(seen, key=lambda p: (str(p[0]), str(p[1])))
