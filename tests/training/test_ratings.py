"""Ratings from pairwise comparisons: Elo, Bradley-Terry, bootstrap intervals, tables."""

import math

import numpy as np
import pytest

from training.evaluation.ratings import (
    Comparison,
    bootstrap,
    bradley_terry,
    by_group,
    connected_components,
    elo,
    ratings_table,
    win_rate_matrix,
)

C = Comparison
LN10 = math.log(10.0)


def simulated(n, *, strengths, seed=1, tie_share=0.1):
    """``n`` comparisons between random pairs of models with the given Elo-scale strengths."""
    rng = np.random.default_rng(seed)
    names = sorted(strengths)
    out = []
    for _ in range(n):
        i, j = rng.choice(len(names), size=2, replace=False)
        a, b = names[i], names[j]
        p = 1.0 / (1.0 + 10.0 ** ((strengths[b] - strengths[a]) / 400.0))
        u = rng.random()
        if u < tie_share:
            out.append(C(a, b, "tie"))
        else:
            out.append(C(a, b, "a" if rng.random() < p else "b"))
    return out


STRENGTHS = {"alpha": 1150.0, "beta": 1050.0, "gamma": 1000.0, "delta": 850.0}


# --- Comparison --------------------------------------------------------------------------------


def test_a_comparison_validates_its_outcome_and_its_models():
    with pytest.raises(ValueError, match="'win'"):
        C("A", "B", "win")
    with pytest.raises(ValueError, match="'A'"):
        C("A", "A", "tie")
    c = C("A", "B", "tie", group="fiction")
    assert (c.score_a, c.group) == (0.5, "fiction")
    with pytest.raises(AttributeError):
        c.outcome = "a"  # frozen


# --- Elo ---------------------------------------------------------------------------------------


def test_elo_one_game():
    # Both start at 1000, so A was expected to score 1/(1+10^0) = 0.5; K*(1-0.5) = 16.
    assert elo([C("A", "B", "a")]) == {"A": 1016.0, "B": 984.0}
    assert elo([C("A", "B", "b")]) == {"A": 984.0, "B": 1016.0}
    assert elo([C("A", "B", "tie")]) == {"A": 1000.0, "B": 1000.0}


def test_elo_three_games_step_by_step():
    ratings = elo([C("A", "B", "a"), C("B", "C", "a"), C("A", "C", "tie")])
    # 1. A beats B, both at 1000: A 1016, B 984.
    # 2. B (984) beats C (1000): E_B = 1/(1+10^(16/400)) = 1/(1+1.0964782) = 0.4769904;
    #    B gains 32*(1-0.4769904) = 16.7363068: B 1000.7363068, C 983.2636932.
    # 3. A (1016) ties C (983.2636932): E_A = 1/(1+10^(-32.7363068/400)) = 0.5469724;
    #    A gains 32*(0.5-0.5469724) = -1.5031171: A 1014.4968829, C 984.7668103.
    assert ratings["A"] == pytest.approx(1014.4968829, abs=1e-6)
    assert ratings["B"] == pytest.approx(1000.7363068, abs=1e-6)
    assert ratings["C"] == pytest.approx(984.7668103, abs=1e-6)
    assert sum(ratings.values()) == pytest.approx(3000.0)  # Elo is zero-sum


def test_elo_tie_between_unequal_players_moves_them_together():
    ratings = elo([C("A", "B", "a"), C("A", "B", "tie")])
    # After the win A 1016, B 984; the tie: E_A = 1/(1+10^(-32/400)) = 0.5459219,
    # A gains 32*(0.5-0.5459219) = -1.4695015: A 1014.5304985, B 985.4695015.
    assert ratings == pytest.approx({"A": 1014.5304985, "B": 985.4695015}, abs=1e-6)
    # With K=16, scale 200 and start 1500 the same arithmetic: win +8, then
    # E_A = 1/(1+10^(-16/200)) = 0.5459219, change 16*(0.5-0.5459219) = -0.7347508.
    other = elo([C("A", "B", "a"), C("A", "B", "tie")], k=16, scale=200, initial=1500)
    assert other == pytest.approx({"A": 1507.2652492, "B": 1492.7347508}, abs=1e-6)


def test_elo_depends_on_order_and_bradley_terry_does_not():
    games = [C("A", "B", "a"), C("A", "B", "a"), C("B", "A", "a")]
    assert elo(games) != pytest.approx(elo(games[::-1]))
    assert bradley_terry(games) == pytest.approx(bradley_terry(games[::-1]), abs=1e-9)


def test_elo_rejects_a_bad_curve():
    with pytest.raises(ValueError, match="k"):
        elo([C("A", "B", "a")], k=0)
    with pytest.raises(ValueError, match="base"):
        elo([C("A", "B", "a")], base=1)


# --- Bradley-Terry -----------------------------------------------------------------------------


def test_bradley_terry_two_players():
    games = [C("A", "B", "a")] * 3 + [C("A", "B", "b")]
    # The MLE: p_A / (p_A + p_B) = 3/4, so p_A / p_B = 3 and the gap is 400*log10(3) = 190.849.
    exact = 400 * math.log10(3)
    assert exact == pytest.approx(190.8485019, abs=1e-6)
    nearly_none = bradley_terry(games, prior=1e-9)
    assert nearly_none["A"] - nearly_none["B"] == pytest.approx(exact, abs=1e-3)
    # The prior (ties against a virtual average model) pulls the gap in by about
    # gap * prior / 6 for these 4 games: 0.003 at prior 1e-4, 0.31 at the default 0.01.
    small = bradley_terry(games, prior=1e-4)
    assert small["A"] - small["B"] == pytest.approx(exact, abs=1e-2)
    default = bradley_terry(games)
    assert exact - 0.5 < default["A"] - default["B"] < exact
    # Ratings are centred on the anchor; a 2-1 tie split counts like 1.5 wins each way.
    assert (default["A"] + default["B"]) / 2 == pytest.approx(1000.0)
    centred = bradley_terry(games, anchor=1500, prior=1e-9)
    assert centred["A"] == pytest.approx(1500 + exact / 2, abs=1e-3)
    with_ties = bradley_terry([C("A", "B", "a"), C("A", "B", "tie"), C("B", "A", "b")], prior=1e-9)
    # A scores 2.5 of 3: p_A / p_B = 2.5 / 0.5 = 5, a gap of 400*log10(5) = 279.588.
    assert with_ties["A"] - with_ties["B"] == pytest.approx(279.588, abs=1e-3)


THREE = (
    # A-B: A 3 wins, B 1, one tie (A scores 3.5 of 5)
    [C("A", "B", "a")] * 3
    + [C("B", "A", "a")]
    + [C("A", "B", "tie")]
    # B-C: B 2 wins, C 1 (B scores 2 of 3)
    + [C("B", "C", "a")] * 2
    + [C("C", "B", "a")]
    # A-C: A 1, C 1, one tie (A scores 1.5 of 3)
    + [C("A", "C", "a"), C("C", "A", "a"), C("A", "C", "tie")]
)


def _pair_tables(comparisons, names):
    """Games and points (ties half) as matrices indexed by ``names``."""
    index = {n: i for i, n in enumerate(names)}
    games = np.zeros((len(names), len(names)))
    points = np.zeros((len(names), len(names)))
    for c in comparisons:
        i, j = index[c.a], index[c.b]
        games[i, j] += 1
        games[j, i] += 1
        points[i, j] += c.score_a
        points[j, i] += 1 - c.score_a
    return games, points


def test_bradley_terry_three_players_meets_the_optimality_condition():
    names = ["A", "B", "C"]
    ratings = bradley_terry(THREE, prior=1e-9)
    theta = np.array([ratings[n] for n in names]) * LN10 / 400  # natural log-strengths
    games, points = _pair_tables(THREE, names)
    # At the MLE the gradient vanishes: each model's expected score equals its actual score.
    win_prob = 1 / (1 + np.exp(theta[None, :] - theta[:, None]))  # P(row beats column)
    expected = (games * win_prob).sum(axis=1)
    observed = points.sum(axis=1)
    assert observed.tolist() == [5.0, 3.5, 2.5]
    np.testing.assert_allclose(expected, observed, atol=1e-6)
    assert np.mean(list(ratings.values())) == pytest.approx(1000.0)


def test_bradley_terry_three_players_matches_plain_gradient_ascent():
    names = ["A", "B", "C"]
    games, points = _pair_tables(THREE, names)
    # An independent fit: gradient ascent on the log-likelihood
    # sum_ij points_ij * log sigma(t_i - t_j), from zero, with a fixed small step.
    theta = np.zeros(3)
    for _ in range(20_000):
        win_prob = 1 / (1 + np.exp(theta[None, :] - theta[:, None]))
        gradient = (points - games * win_prob).sum(axis=1)
        theta += 0.05 * gradient
    reference = 1000 + (theta - theta.mean()) * 400 / LN10
    ratings = bradley_terry(THREE, prior=1e-9)
    np.testing.assert_allclose([ratings[n] for n in names], reference, atol=1e-4)
    # The order and the a/b sides of a comparison do not matter.
    flipped = [C(c.b, c.a, {"a": "b", "b": "a", "tie": "tie"}[c.outcome]) for c in THREE[::-1]]
    assert bradley_terry(flipped, prior=1e-9) == pytest.approx(ratings, abs=1e-6)


def test_bradley_terry_matches_simulated_strengths_and_elo_scale():
    # Without ties (random ties, scored half each way, would pull the ratings together).
    ratings = bradley_terry(simulated(4000, strengths=STRENGTHS, tie_share=0.0))
    truth = np.array(list(STRENGTHS.values()))
    truth = truth - truth.mean() + 1000
    for name, value in zip(STRENGTHS, truth, strict=True):
        assert ratings[name] == pytest.approx(value, abs=30)


def test_a_player_who_never_loses_or_never_wins_gets_a_finite_rating():
    games = [C("A", "B", "a")] * 5 + [C("B", "C", "a")] * 3 + [C("C", "B", "a")]
    games += [C("D", "A", "b"), C("D", "C", "b")]  # D never wins
    ratings = bradley_terry(games)
    assert all(math.isfinite(r) for r in ratings.values())
    assert max(ratings, key=ratings.get) == "A"
    assert min(ratings, key=ratings.get) == "D"
    # About scale*log10(2n/prior) = 400*log10(1000) = 1200 above an average model.
    assert 900 < ratings["A"] - ratings["B"] < 1500
    tiny = bradley_terry(games, prior=1e-6)  # a smaller prior: larger, still finite
    assert ratings["A"] - ratings["B"] < tiny["A"] - tiny["B"] < math.inf
    intervals = bootstrap(games, "bt", rounds=50)
    assert all(math.isfinite(x) for pair in intervals.values() for x in pair)


def test_bradley_terry_rejects_a_prior_that_is_not_positive():
    with pytest.raises(ValueError, match="prior"):
        bradley_terry(THREE, prior=0)
    assert bradley_terry([]) == {}


def test_disconnected_models_are_each_centred_and_reported():
    games = [C("A", "B", "a")] * 3 + [C("X", "Y", "a")] * 3 + [C("Y", "X", "a")]
    assert connected_components(games) == [["A", "B"], ["X", "Y"]]
    assert connected_components(THREE + [C("C", "D", "a")]) == [["A", "B", "C", "D"]]
    ratings = bradley_terry(games)
    # No game links {A, B} with {X, Y}: the prior centres each pair on the same average.
    assert ratings["A"] + ratings["B"] == pytest.approx(ratings["X"] + ratings["Y"], abs=1e-6)


# --- Bootstrap ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["bt", "elo"])
def test_bootstrap_is_reproducible_and_contains_the_point_estimate(method):
    games = simulated(800, strengths=STRENGTHS)
    first = bootstrap(games, method, rounds=300, seed=7)
    assert bootstrap(games, method, rounds=300, seed=7) == first
    assert bootstrap(games, method, rounds=300, seed=8) != first
    point = bradley_terry(games) if method == "bt" else elo(games)
    for name, (low, high) in first.items():
        assert low < point[name] < high
    assert first == bootstrap(games, bradley_terry if method == "bt" else elo, rounds=300, seed=7)


def test_bootstrap_intervals_narrow_with_more_data():
    games = simulated(400, strengths=STRENGTHS)
    four_times = simulated(1600, strengths=STRENGTHS, seed=2)
    small = bootstrap(games, "bt", rounds=400)
    large = bootstrap(four_times, "bt", rounds=400)
    for name in STRENGTHS:
        # Four times the data: about half the width.
        assert large[name][1] - large[name][0] < 0.7 * (small[name][1] - small[name][0])


@pytest.mark.parametrize("method", ["bt", "elo"])
def test_vectorised_bootstrap_equals_one_fit_per_round(method):
    # A rare model ("zeta", 2 games) is missing from many resamples: those rounds are left out
    # of its interval on both paths.
    games = simulated(150, strengths=STRENGTHS) + [C("zeta", "alpha", "a"), C("zeta", "beta", "b")]
    plain = bradley_terry if method == "bt" else elo
    options = {"prior": 0.05} if method == "bt" else {"k": 16.0}
    fast = bootstrap(games, method, rounds=40, seed=3, **options)
    slow = bootstrap(games, lambda cs, **kw: plain(cs, **kw), rounds=40, seed=3, **options)
    assert fast.keys() == slow.keys()
    for name in fast:
        assert fast[name] == pytest.approx(slow[name], abs=1e-6)


def test_bootstrap_validates_its_arguments():
    with pytest.raises(ValueError, match="confidence"):
        bootstrap(THREE, "bt", confidence=1.0)
    with pytest.raises(ValueError, match="rounds"):
        bootstrap(THREE, "bt", rounds=0)
    with pytest.raises(ValueError, match="glicko"):
        bootstrap(THREE, "glicko")
    assert bootstrap([], "elo") == {}


# --- Tables ------------------------------------------------------------------------------------


def test_ratings_table_counts_and_orders_by_bradley_terry():
    games = simulated(600, strengths=STRENGTHS)
    table = ratings_table(games, rounds=200, seed=1)
    assert [row["model"] for row in table] == ["alpha", "beta", "gamma", "delta"]
    assert [row["bt"] for row in table] == sorted((row["bt"] for row in table), reverse=True)
    row = table[0]
    assert set(row) == {
        "model",
        "games",
        "wins",
        "losses",
        "ties",
        "elo",
        "elo_low",
        "elo_high",
        "bt",
        "bt_low",
        "bt_high",
    }
    alpha = [c for c in games if "alpha" in (c.a, c.b)]
    wins = sum(1 for c in alpha if c.outcome != "tie" and (c.a == "alpha") == (c.outcome == "a"))
    ties = sum(1 for c in alpha if c.outcome == "tie")
    assert (row["games"], row["wins"], row["ties"]) == (len(alpha), wins, ties)
    assert row["losses"] == len(alpha) - wins - ties
    assert sum(r["wins"] for r in table) == sum(r["losses"] for r in table)
    for r in table:
        assert r["bt_low"] < r["bt"] < r["bt_high"]
        assert r["elo_low"] <= r["elo_high"]
    assert ratings_table(games, rounds=200, seed=1) == table


def test_by_group_gives_the_overall_set_and_each_group():
    games = [C("A", "B", "a", "fiction"), C("A", "B", "b", "poetry"), C("B", "A", "tie")]
    groups = by_group(games)
    assert list(groups) == ["", "fiction", "poetry"]
    assert groups[""] == games
    assert groups["fiction"] == [games[0]] and groups["poetry"] == [games[1]]
    assert by_group([]) == {"": []}


def test_win_rate_matrix_counts_ties_as_half():
    games = [C("A", "B", "a"), C("B", "A", "tie"), C("A", "B", "a"), C("C", "A", "a")]
    matrix = win_rate_matrix(games)
    # A against B: 1 + 0.5 + 1 of 3 games; A against C: 0 of 1.
    assert matrix == {
        "A": {"B": pytest.approx(2.5 / 3), "C": 0.0},
        "B": {"A": pytest.approx(0.5 / 3)},
        "C": {"A": 1.0},
    }
