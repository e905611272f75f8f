"""Ratings from pairwise comparisons: Elo, Bradley-Terry and bootstrap intervals.

The Weaver paper turned 3,540 comparisons by professional writers (which of two anonymised
outputs is better) into Elo ratings, as Chatbot Arena does with its votes. This module is that
arithmetic, in plain Python and numpy (no Django, no scipy):

- :class:`Comparison`: one judgement, ``a`` against ``b``, outcome ``"a"``, ``"b"`` or ``"tie"``,
  and an optional ``group`` (a domain, say) so :func:`by_group` can split a set.
- :func:`elo`: online Elo in the given order; a tie scores half a point each.
- :func:`bradley_terry`: the maximum-likelihood Bradley-Terry fit (ties as half a win each way),
  which does not depend on the order of the games, put on the Elo scale.
- :func:`bootstrap`: percentile intervals from resampling the comparisons with replacement.
- :func:`ratings_table`, :func:`win_rate_matrix`, :func:`connected_components`: what a page
  shows.

Both ratings use the Elo curve: model ``a`` is expected to beat ``b`` with probability
``1 / (1 + base ** ((R_b - R_a) / scale))``, so 400 points (``scale``) between two models mean
odds of 10 to 1 (``base``).

The bootstrap is vectorised: every round's resample is drawn at once as an index array, the
Bradley-Terry fits of all rounds run together (Newton's method on arrays of shape rounds x
models) and Elo runs all rounds side by side, one game position at a time. Five thousand
comparisons and a thousand rounds take about a second.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

OUTCOMES = ("a", "b", "tie")
#: Games, per model, tied against a virtual model of average strength (see bradley_terry).
DEFAULT_PRIOR = 0.01
#: How many index draws (rounds x comparisons) one bootstrap block holds, to bound memory.
_BLOCK = 2_000_000
_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5}


@dataclass(frozen=True, slots=True)
class Comparison:
    """One judgement of ``a`` against ``b``: ``outcome`` is ``"a"`` (a is better), ``"b"`` or
    ``"tie"``; ``group`` is a free label (a domain, a criterion), ``""`` for none."""

    a: str
    b: str
    outcome: str
    group: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be 'a', 'b' or 'tie', not {self.outcome!r}")
        if self.a == self.b:
            raise ValueError(f"a model cannot be compared with itself ({self.a!r})")

    @property
    def score_a(self) -> float:
        """What ``a`` scores: 1 for a win, 0.5 for a tie, 0 for a loss."""
        return _SCORE[self.outcome]


# --- Elo ---------------------------------------------------------------------------------------


def elo(
    comparisons: Iterable[Comparison],
    *,
    k: float = 32.0,
    initial: float = 1000.0,
    scale: float = 400.0,
    base: float = 10.0,
) -> dict[str, float]:
    """Online Elo, game by game in the given order; every model starts at ``initial``.

    After a game ``a`` gains ``k * (S - E)`` and ``b`` loses as much, where ``S`` is what ``a``
    scored (1, 0.5 or 0) and ``E = 1 / (1 + base ** ((R_b - R_a) / scale))``. The mean rating
    stays ``initial``. The result depends on the order; :func:`bradley_terry` does not.
    """
    _check_curve(scale=scale, base=base)
    if k <= 0:
        raise ValueError(f"k must be positive, not {k!r}")
    ratings: dict[str, float] = {}
    for c in comparisons:
        ra = ratings.setdefault(c.a, initial)
        rb = ratings.setdefault(c.b, initial)
        expected = 1.0 / (1.0 + base ** ((rb - ra) / scale))
        delta = k * (c.score_a - expected)
        ratings[c.a] = ra + delta
        ratings[c.b] = rb - delta
    return dict(sorted(ratings.items()))


# --- Bradley-Terry -----------------------------------------------------------------------------


def bradley_terry(
    comparisons: Iterable[Comparison],
    *,
    scale: float = 400.0,
    base: float = 10.0,
    anchor: float = 1000.0,
    prior: float = DEFAULT_PRIOR,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> dict[str, float]:
    """Maximum-likelihood Bradley-Terry ratings on the Elo scale, mean ``anchor``.

    Model ``i`` has a strength ``p_i`` and beats ``j`` with probability ``p_i / (p_i + p_j)``;
    a tie counts as half a win for each side. The rating is ``anchor + scale * log_base(p_i)``,
    shifted so that the ratings' mean is ``anchor``; differences are what the data say.

    **Prior.** Every model also gets ``prior`` games (default 0.01) tied against a virtual model
    of strength 1, i.e. half a win and half a loss. Without it a model that never loses (or
    never wins) has an infinite maximum-likelihood rating; with it every rating is finite and
    the log-likelihood is strictly concave, so Newton's method (on log-strengths, with a
    backtracking line search, stopping once a step moves no log-strength by ``tol``) converges
    from any start. The prior pulls ratings towards the anchor, but little: two models, one
    winning 3 of 4 games, are 400 * log10(3) = 190.849 apart with no prior, 190.54 with the
    default prior and 190.846 with ``prior=1e-4``; with hundreds of games per model the default
    prior moves ratings by a few hundredths of a point. A model that wins all its ``n``
    games sits about ``scale * log_base(2 * n / prior)`` above a model of average strength
    (1,200 points for 5 games with the default prior): finite but large, as the data cannot say
    how much better it is. ``prior`` must be positive.

    **Disconnected models.** Models in separate components of the comparison graph (no chain of
    games links them, see :func:`connected_components`) share no evidence: the prior centres
    each component on the virtual model, so their ratings are near one another and mean
    nothing across components. Compare ratings within a component only.
    """
    encoded = _encode(comparisons)
    if not encoded.names:
        return {}
    games = np.bincount(encoded.pair, minlength=len(encoded.pair_i)).astype(float)
    score = np.bincount(encoded.pair, weights=encoded.pair_score, minlength=len(encoded.pair_i))
    ratings = _bt_ratings(
        encoded,
        games[None, :],
        score[None, :],
        scale=scale,
        base=base,
        anchor=anchor,
        prior=prior,
        max_iter=max_iter,
        tol=tol,
    )[0]
    return dict(zip(encoded.names, ratings.tolist(), strict=True))


def _bt_ratings(
    encoded: _Encoded,
    games: np.ndarray,
    score: np.ndarray,
    *,
    scale: float,
    base: float,
    anchor: float,
    prior: float,
    max_iter: int,
    tol: float,
) -> np.ndarray:
    """Ratings (rounds x models) from per-round games and scores per pair; a model with no
    game in a round gets NaN there."""
    _check_curve(scale=scale, base=base)
    if not prior > 0:
        raise ValueError(f"prior must be positive, not {prior!r}")
    theta = _bt_fit(
        encoded.pair_i,
        encoded.pair_j,
        games,
        score,
        n_models=len(encoded.names),
        prior=prior,
        max_iter=max_iter,
        tol=tol,
    )
    played = np.zeros_like(theta)
    np.add.at(played.T, encoded.pair_i, games.T)
    np.add.at(played.T, encoded.pair_j, games.T)
    ratings = np.where(played > 0, theta * (scale / math.log(base)), np.nan)
    return ratings - np.nanmean(ratings, axis=1, keepdims=True) + anchor


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(_log_sigmoid(x))


def _bt_fit(
    pair_i: np.ndarray,
    pair_j: np.ndarray,
    games: np.ndarray,
    score: np.ndarray,
    *,
    n_models: int,
    prior: float,
    max_iter: int,
    tol: float,
) -> np.ndarray:
    """Natural log-strengths (rounds x models) maximising, for every round at once,

    sum over pairs of ``s log sigma(t_i - t_j) + (g - s) log sigma(t_j - t_i)``
    plus ``prior * sum_i (log sigma(t_i) + log sigma(-t_i)) / 2`` (the virtual opponent),

    where ``g`` is the pair's games and ``s`` the score of its first model ``i``."""
    rounds = games.shape[0]
    models = np.arange(n_models)
    # Signed incidence (pairs x models): +1 for the pair's first model, -1 for its second.
    signed = np.zeros((len(pair_i), n_models))
    signed[np.arange(len(pair_i)), pair_i] = 1.0
    signed[np.arange(len(pair_i)), pair_j] = -1.0
    unsigned = np.abs(signed)
    theta = np.zeros((rounds, n_models))

    def objective(t: np.ndarray, g: np.ndarray, s: np.ndarray) -> np.ndarray:
        d = t[:, pair_i] - t[:, pair_j]
        data = s * _log_sigmoid(d) + (g - s) * _log_sigmoid(-d)
        virtual = 0.5 * prior * (_log_sigmoid(t) + _log_sigmoid(-t))
        return data.sum(axis=1) + virtual.sum(axis=1)

    value = objective(theta, games, score)
    active = np.ones(rounds, dtype=bool)
    for _ in range(max_iter):
        t = theta[active]
        g, s = games[active], score[active]
        p = _sigmoid(t[:, pair_i] - t[:, pair_j])
        q = _sigmoid(t)
        grad = (s - g * p) @ signed + prior * (0.5 - q)
        weight = g * p * (1.0 - p)
        # The negative Hessian: a weighted graph Laplacian plus the prior's diagonal.
        hess = np.zeros((len(t), n_models, n_models))
        hess[:, pair_i, pair_j] = -weight
        hess[:, pair_j, pair_i] = -weight
        hess[:, models, models] = weight @ unsigned + prior * q * (1.0 - q)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        decrement = np.einsum("rm,rm->r", grad, step)
        # Backtracking: halve the step until the objective rises enough (Armijo), allowing
        # for rounding once the optimum is reached.
        old = value[active]
        slack = 1e-12 * (1.0 + np.abs(old))
        size = np.ones(len(t))
        pending = np.ones(len(t), dtype=bool)
        new = old.copy()
        for _halving in range(40):
            trial = objective(
                t[pending] + size[pending, None] * step[pending], g[pending], s[pending]
            )
            ok = trial >= old[pending] + 1e-4 * size[pending] * decrement[pending] - slack[pending]
            where = np.flatnonzero(pending)
            new[where[ok]] = trial[ok]
            pending[where[ok]] = False
            if not pending.any():
                break
            size[pending] *= 0.5
        size[pending] = 0.0  # no improvement to be had: stop there
        new[pending] = old[pending]
        theta[active] = t + size[:, None] * step
        value[active] = new
        # Converged when the step (less its mean, which the centring of ratings removes)
        # is below tol; Newton's quadratic convergence makes the error after it far smaller.
        moved = size * np.abs(step - step.mean(axis=1, keepdims=True)).max(axis=1)
        done = (moved < tol) | (size == 0.0)
        active[np.flatnonzero(active)[done]] = False
        if not active.any():
            break
    return theta


# --- Bootstrap ---------------------------------------------------------------------------------


def bootstrap(
    comparisons: Iterable[Comparison],
    method: str | Callable[..., Mapping[str, float]],
    *,
    rounds: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    **options: float,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of ``method``'s ratings over bootstrap resamples.

    Each round draws as many comparisons as there are, with replacement, from
    ``numpy.random.default_rng(seed)``; the draws are independent and uniform, so a resample
    is also in a random order, and Elo (whose result depends on the order) is run on it in that
    order, as Chatbot Arena does. The interval is the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` quantiles of a model's ratings over the rounds in which it played
    (a model absent from a resample has no rating in that round). The same seed gives the same
    intervals; :func:`ratings_table` uses the same resamples for Elo and Bradley-Terry.

    ``method`` is ``"elo"`` or :func:`elo`, ``"bt"`` (``"bradley_terry"``) or
    :func:`bradley_terry` (both vectorised over the rounds), or any callable taking a list of
    comparisons and returning ratings by model (called once per round). ``options`` go to the
    method (``k=16``, ``prior=0.1``, ...).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence!r}")
    comparisons = list(comparisons)
    encoded = _encode(comparisons)
    if not encoded.names:
        return {}
    samples = _bootstrap_samples(
        comparisons, encoded, method, rounds=rounds, seed=seed, options=options
    )
    return _intervals(encoded.names, samples, confidence)


def _bootstrap_samples(
    comparisons: Sequence[Comparison],
    encoded: _Encoded,
    method: str | Callable[..., Mapping[str, float]],
    *,
    rounds: int,
    seed: int,
    options: Mapping[str, float],
) -> np.ndarray:
    """Ratings (rounds x models) of each resample; NaN where a model did not play."""
    kind = _method_kind(method)
    n = len(comparisons)
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK // n)
    parts = []
    for start in range(0, rounds, block):
        idx = rng.integers(0, n, size=(min(block, rounds - start), n))
        if kind == "elo":
            parts.append(_elo_rounds(encoded, idx, **options))
        elif kind == "bt":
            parts.append(_bt_rounds(encoded, idx, **options))
        else:
            parts.append(_callable_rounds(comparisons, encoded, idx, method, options))
    return np.concatenate(parts)


def _method_kind(method: str | Callable[..., Mapping[str, float]]) -> str:
    if method in ("elo", elo):
        return "elo"
    if method in ("bt", "bradley_terry", bradley_terry):
        return "bt"
    if callable(method):
        return "callable"
    raise ValueError(f"method must be 'elo', 'bt' or a callable, not {method!r}")


def _elo_rounds(
    encoded: _Encoded,
    idx: np.ndarray,
    *,
    k: float = 32.0,
    initial: float = 1000.0,
    scale: float = 400.0,
    base: float = 10.0,
) -> np.ndarray:
    """Elo of every round side by side: one step per game position, all rounds at once."""
    _check_curve(scale=scale, base=base)
    if k <= 0:
        raise ValueError(f"k must be positive, not {k!r}")
    rounds, n = idx.shape
    models = len(encoded.names)
    flat = np.full(rounds * models, float(initial))
    offset = np.arange(rounds) * models
    # (game position x round) so that each step reads one contiguous row.
    rows_a = np.ascontiguousarray((encoded.a[idx] + offset[:, None]).T)
    rows_b = np.ascontiguousarray((encoded.b[idx] + offset[:, None]).T)
    scores = np.ascontiguousarray(encoded.score[idx].T)
    factor = math.log(base) / scale
    for ia, ib, s in zip(rows_a, rows_b, scores, strict=True):
        ra, rb = flat[ia], flat[ib]
        delta = k * (s - 1.0 / (1.0 + np.exp((rb - ra) * factor)))
        flat[ia] = ra + delta  # a and b differ, and each round has its own slots
        flat[ib] = rb - delta
    ratings = flat.reshape(rounds, models)
    return np.where(_played(encoded, idx) > 0, ratings, np.nan)


def _bt_rounds(
    encoded: _Encoded,
    idx: np.ndarray,
    *,
    scale: float = 400.0,
    base: float = 10.0,
    anchor: float = 1000.0,
    prior: float = DEFAULT_PRIOR,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> np.ndarray:
    rounds = idx.shape[0]
    pairs = len(encoded.pair_i)
    keys = (encoded.pair[idx] + (np.arange(rounds) * pairs)[:, None]).ravel()
    games = np.bincount(keys, minlength=rounds * pairs).reshape(rounds, pairs).astype(float)
    score = np.bincount(keys, weights=encoded.pair_score[idx].ravel(), minlength=rounds * pairs)
    return _bt_ratings(
        encoded,
        games,
        score.reshape(rounds, pairs),
        scale=scale,
        base=base,
        anchor=anchor,
        prior=prior,
        max_iter=max_iter,
        tol=tol,
    )


def _callable_rounds(
    comparisons: Sequence[Comparison],
    encoded: _Encoded,
    idx: np.ndarray,
    method: Callable[..., Mapping[str, float]],
    options: Mapping[str, float],
) -> np.ndarray:
    out = np.full((idx.shape[0], len(encoded.names)), np.nan)
    column = {name: m for m, name in enumerate(encoded.names)}
    for r, row in enumerate(idx):
        for name, value in method([comparisons[i] for i in row], **options).items():
            out[r, column[name]] = value
    return out


def _played(encoded: _Encoded, idx: np.ndarray) -> np.ndarray:
    """Games per round (rounds x models) in each resample."""
    rounds = idx.shape[0]
    models = len(encoded.names)
    offset = (np.arange(rounds) * models)[:, None]
    keys = np.concatenate([(encoded.a[idx] + offset).ravel(), (encoded.b[idx] + offset).ravel()])
    return np.bincount(keys, minlength=rounds * models).reshape(rounds, models)


def _intervals(
    names: Sequence[str], samples: np.ndarray, confidence: float
) -> dict[str, tuple[float, float]]:
    tail = (1.0 - confidence) / 2.0
    out = {}
    for m, name in enumerate(names):
        column = samples[:, m]
        column = column[~np.isnan(column)]
        if column.size == 0:
            out[name] = (math.nan, math.nan)
        else:
            low, high = np.quantile(column, [tail, 1.0 - tail])
            out[name] = (float(low), float(high))
    return out


# --- Tables ------------------------------------------------------------------------------------


def ratings_table(
    comparisons: Iterable[Comparison],
    *,
    rounds: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    k: float = 32.0,
    prior: float = DEFAULT_PRIOR,
) -> list[dict]:
    """One row per model, best Bradley-Terry rating first (then by name).

    Each row: ``model``, ``games``, ``wins``, ``losses``, ``ties``, ``elo`` (online, in the given
    order) with ``elo_low``/``elo_high``, and ``bt`` with ``bt_low``/``bt_high`` (the
    ``confidence`` bootstrap intervals over ``rounds`` resamples drawn from ``seed``, the same
    resamples for both). Elo and Bradley-Terry use the defaults of :func:`elo` and
    :func:`bradley_terry` apart from ``k`` and ``prior``.
    """
    comparisons = list(comparisons)
    elo_point = elo(comparisons, k=k)
    bt_point = bradley_terry(comparisons, prior=prior)
    elo_ci = bootstrap(comparisons, "elo", rounds=rounds, seed=seed, confidence=confidence, k=k)
    bt_ci = bootstrap(
        comparisons, "bt", rounds=rounds, seed=seed, confidence=confidence, prior=prior
    )
    record: dict[str, dict[str, int]] = defaultdict(lambda: {"wins": 0, "losses": 0, "ties": 0})
    for c in comparisons:
        if c.outcome == "tie":
            record[c.a]["ties"] += 1
            record[c.b]["ties"] += 1
        else:
            winner, loser = (c.a, c.b) if c.outcome == "a" else (c.b, c.a)
            record[winner]["wins"] += 1
            record[loser]["losses"] += 1
    rows = []
    for model, bt in bt_point.items():
        counts = record[model]
        rows.append(
            {
                "model": model,
                "games": counts["wins"] + counts["losses"] + counts["ties"],
                **counts,
                "elo": elo_point[model],
                "elo_low": elo_ci[model][0],
                "elo_high": elo_ci[model][1],
                "bt": bt,
                "bt_low": bt_ci[model][0],
                "bt_high": bt_ci[model][1],
            }
        )
    rows.sort(key=lambda row: (-row["bt"], row["model"]))
    return rows


def by_group(comparisons: Iterable[Comparison]) -> dict[str, list[Comparison]]:
    """The comparisons by ``group``: ``""`` holds all of them (the overall set), then each
    non-empty group in name order."""
    overall: list[Comparison] = []
    groups: dict[str, list[Comparison]] = defaultdict(list)
    for c in comparisons:
        overall.append(c)
        if c.group:
            groups[c.group].append(c)
    return {"": overall, **dict(sorted(groups.items()))}


def win_rate_matrix(comparisons: Iterable[Comparison]) -> dict[str, dict[str, float]]:
    """``matrix[a][b]``: the share of points ``a`` took in its games against ``b`` (a tie is
    half a point). Only pairs that met appear; ``matrix[a][b] + matrix[b][a] == 1``."""
    points: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    games: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in comparisons:
        points[c.a][c.b] += c.score_a
        points[c.b][c.a] += 1.0 - c.score_a
        games[c.a][c.b] += 1
        games[c.b][c.a] += 1
    return {a: {b: points[a][b] / games[a][b] for b in sorted(games[a])} for a in sorted(games)}


def connected_components(comparisons: Iterable[Comparison]) -> list[list[str]]:
    """Groups of models linked by chains of comparisons, largest first (names sorted).
    Ratings are comparable only within one group."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for c in comparisons:
        ra, rb = root(c.a), root(c.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for name in sorted(parent):
        groups[root(name)].append(name)
    return sorted(groups.values(), key=lambda names: (-len(names), names[0]))


# --- Encoding ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Encoded:
    """Comparisons as index arrays: models in name order, unordered pairs (i < j)."""

    names: list[str]
    a: np.ndarray  # model index of each comparison's a
    b: np.ndarray
    score: np.ndarray  # what a scored
    pair: np.ndarray  # pair index of each comparison
    pair_score: np.ndarray  # what the pair's first model (the lower index) scored
    pair_i: np.ndarray
    pair_j: np.ndarray


def _encode(comparisons: Iterable[Comparison]) -> _Encoded:
    comparisons = list(comparisons)
    names = sorted({c.a for c in comparisons} | {c.b for c in comparisons})
    index = {name: m for m, name in enumerate(names)}
    a = np.array([index[c.a] for c in comparisons], dtype=np.intp)
    b = np.array([index[c.b] for c in comparisons], dtype=np.intp)
    score = np.array([c.score_a for c in comparisons], dtype=float)
    low, high = np.minimum(a, b), np.maximum(a, b)
    keys, pair = np.unique(low * max(len(names), 1) + high, return_inverse=True)
    return _Encoded(
        names=names,
        a=a,
        b=b,
        score=score,
        pair=pair.astype(np.intp).reshape(-1),
        pair_score=np.where(a < b, score, 1.0 - score),
        pair_i=(keys // max(len(names), 1)).astype(np.intp),
        pair_j=(keys % max(len(names), 1)).astype(np.intp),
    )


def _check_curve(*, scale: float, base: float) -> None:
    if scale <= 0:
        raise ValueError(f"scale must be positive, not {scale!r}")
    if base <= 1:
        raise ValueError(f"base must be greater than 1, not {base!r}")
