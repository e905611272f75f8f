"""Agreement coefficients against published worked examples, each worked by hand below.

Sources:

- Krippendorff, K. (2011). "Computing Krippendorff's Alpha-Reliability". Annenberg School for
  Communication, University of Pennsylvania. Section A (two observers, binary data) gives
  alpha = 0.095; section C (four observers, nominal data, missing values) gives 0.743.
- Wikipedia, "Cohen's kappa", "Examples" and "Same percentages but different numbers": the
  2 x 2 tables 20/5/10/15 (kappa 0.40), 45/15/25/15 (0.1304) and 25/35/5/35 (0.2593).
"""

import pytest

from pairs.review.agreement import (
    cohen_kappa,
    cohen_kappa_units,
    krippendorff_alpha_nominal,
    pairable,
    percent_agreement,
    reviewer_pairs,
)


def units_from_rows(rows: dict[str, list]) -> dict:
    """{unit: {coder: value}} from one row per coder, None for a missing value."""
    units: dict = {}
    for coder, values in rows.items():
        for unit, value in enumerate(values, start=1):
            if value is not None:
                units.setdefault(unit, {})[coder] = value
    return units


def two_by_two(yes_yes: int, yes_no: int, no_yes: int, no_no: int) -> tuple[list, list]:
    """Two coders' labels from a 2 x 2 table (rows: coder A, columns: coder B)."""
    a = ["yes"] * (yes_yes + yes_no) + ["no"] * (no_yes + no_no)
    b = ["yes"] * yes_yes + ["no"] * yes_no + ["yes"] * no_yes + ["no"] * no_no
    return a, b


_ = None  # a missing value in the reliability data below

# Krippendorff (2011), section C: four observers, twelve units, nominal values 1..5.
KRIPPENDORFF_C = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    "C": [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
}

# Krippendorff (2011), section A: two observers, ten units, binary values.
KRIPPENDORFF_A = {
    "A": [0, 1, 0, 0, 0, 0, 0, 0, 1, 0],
    "B": [1, 1, 1, 0, 0, 1, 0, 0, 0, 0],
}


def test_krippendorff_alpha_four_coders_with_missing_values():
    # Unit 12 has one value (B: 3): not pairable. The 11 pairable units hold n = 40 values
    # (units 1 and 10 three each, unit 11 two, units 2..9 four each).
    # Value totals: n_1 = 3 + 1 + 3 + 2 = 9 (units 1, 6, 8, 11); n_2 = 3 + 4 + 1 + 1 + 4 = 13
    # (units 2, 5, 6, 8, 9); n_3 = 1 + 4 + 4 + 1 = 10 (units 2, 3, 4, 6); n_4 = 1 + 4 = 5
    # (units 6, 7); n_5 = 3 (unit 10). 9 + 13 + 10 + 5 + 3 = 40.
    # Observed disagreement (off-diagonal coincidences, each unit's ordered disagreeing
    # pairs over m_u - 1): unit 2 (2,2,3,2): 6 / 3 = 2; unit 6 (1,2,3,4): 12 / 3 = 4;
    # unit 8 (1,1,2,1): 6 / 3 = 2; every other unit agrees. Sum: 8.
    # Expected: sum over c != k of n_c * n_k = 40^2 - (81 + 169 + 100 + 25 + 9) = 1216.
    # alpha = 1 - (n - 1) * 8 / 1216 = 1 - 39 * 8 / 1216 = 1 - 312 / 1216 = 0.74342...
    units = units_from_rows(KRIPPENDORFF_C)
    assert len(units) == 12 and len(pairable(units)) == 11
    alpha = krippendorff_alpha_nominal(units)
    assert alpha == pytest.approx(1 - 312 / 1216)
    assert round(alpha, 3) == 0.743  # the published value


def test_percent_agreement_on_the_four_coder_data():
    # Pairs of coders per unit: units 1 and 10 (three values) 3 each, unit 11 one,
    # units 2..9 (four values) 6 each: 6 + 1 + 48 = 55. Disagreeing pairs: unit 2 three
    # (C with A, B, D), unit 6 all six, unit 8 three (C with A, B, D): 12. 43 / 55 agree.
    assert percent_agreement(units_from_rows(KRIPPENDORFF_C)) == pytest.approx(43 / 55)


def test_krippendorff_alpha_two_coders_binary():
    # n = 20 values: zeros 8 (A) + 6 (B) = 14, ones 2 + 4 = 6.
    # Disagreeing units: 1, 3, 6, 9, each with 2 ordered disagreeing pairs over m - 1 = 1:
    # 8 off-diagonal coincidences. Expected: 2 * 14 * 6 = 168.
    # alpha = 1 - 19 * 8 / 168 = 1 - 152 / 168 = 0.095238...
    alpha = krippendorff_alpha_nominal(units_from_rows(KRIPPENDORFF_A))
    assert alpha == pytest.approx(1 - 152 / 168)
    assert round(alpha, 3) == 0.095  # the published value
    # Percent agreement: 6 of the 10 units agree.
    assert percent_agreement(units_from_rows(KRIPPENDORFF_A)) == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("table", "observed", "kappa"),
    [
        # p_o = (20 + 15) / 50 = 0.70. A says yes 25 / 50, B 30 / 50:
        # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.50; kappa = (0.70 - 0.50) / (1 - 0.50) = 0.40.
        ((20, 5, 10, 15), 0.70, 0.40),
        # p_o = (45 + 15) / 100 = 0.60. A yes 60 / 100, B yes 70 / 100:
        # p_e = 0.6 * 0.7 + 0.4 * 0.3 = 0.54; kappa = 0.06 / 0.46 = 0.130434...
        ((45, 15, 25, 15), 0.60, 0.06 / 0.46),
        # p_o = (25 + 35) / 100 = 0.60. A yes 60 / 100, B yes 30 / 100:
        # p_e = 0.6 * 0.3 + 0.4 * 0.7 = 0.46; kappa = 0.14 / 0.54 = 0.259259...
        ((25, 35, 5, 35), 0.60, 0.14 / 0.54),
    ],
)
def test_cohen_kappa_wikipedia_examples(table, observed, kappa):
    a, b = two_by_two(*table)
    assert cohen_kappa(a, b) == pytest.approx(kappa)
    units = {u: {"A": x, "B": y} for u, (x, y) in enumerate(zip(a, b, strict=True))}
    assert percent_agreement(units) == pytest.approx(observed)
    k, n = cohen_kappa_units(units, "A", "B")
    assert k == pytest.approx(kappa) and n == sum(table)


def test_published_kappa_values_to_four_places():
    assert round(cohen_kappa(*two_by_two(20, 5, 10, 15)), 4) == 0.4
    assert round(cohen_kappa(*two_by_two(45, 15, 25, 15)), 4) == 0.1304
    assert round(cohen_kappa(*two_by_two(25, 35, 5, 35)), 4) == 0.2593


def test_alpha_on_the_first_kappa_table():
    # n = 100 values: yes 25 (A) + 30 (B) = 55, no 45. 15 disagreeing units, 2 ordered
    # pairs each: 30. Expected: 2 * 55 * 45 = 4950. alpha = 1 - 99 * 30 / 4950 = 0.4.
    a, b = two_by_two(20, 5, 10, 15)
    units = {u: {"A": x, "B": y} for u, (x, y) in enumerate(zip(a, b, strict=True))}
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.4)


def test_perfect_agreement_is_one_everywhere():
    labels = ["accept", "reject", "accept", "reject", "accept"]
    units = {u: {"A": v, "B": v, "C": v} for u, v in enumerate(labels)}
    assert krippendorff_alpha_nominal(units) == pytest.approx(1.0)
    assert percent_agreement(units) == 1.0
    assert cohen_kappa(labels, labels) == pytest.approx(1.0)
    assert cohen_kappa_units(units, "A", "C") == (pytest.approx(1.0), 5)


def test_undefined_coefficients_are_none():
    # One label everywhere: chance agreement is 1, so kappa and alpha are undefined.
    same = {u: {"A": "accept", "B": "accept"} for u in range(4)}
    assert krippendorff_alpha_nominal(same) is None
    assert cohen_kappa(["accept"] * 4, ["accept"] * 4) is None
    assert percent_agreement(same) == 1.0
    # No pairable unit (one label each): nothing to compute.
    lonely = {1: {"A": "accept"}, 2: {"B": "reject"}}
    assert pairable(lonely) == {}
    assert krippendorff_alpha_nominal(lonely) is None
    assert percent_agreement(lonely) is None
    assert krippendorff_alpha_nominal({}) is None
    assert cohen_kappa([], []) is None
    assert cohen_kappa_units(lonely, "A", "B") == (None, 0)


def test_kappa_needs_the_same_units():
    with pytest.raises(ValueError):
        cohen_kappa(["a", "b"], ["a"])


def test_systematic_disagreement_is_below_zero():
    # Two coders who always disagree on a balanced binary task: p_o = 0, p_e = 0.5,
    # kappa = -1. Alpha: n = 8, 4 of each label, 8 off-diagonal coincidences, expected
    # 2 * 4 * 4 = 32: alpha = 1 - 7 * 8 / 32 = -0.75.
    a = ["x", "y", "x", "y"]
    b = ["y", "x", "y", "x"]
    assert cohen_kappa(a, b) == pytest.approx(-1.0)
    units = {u: {"A": x, "B": y} for u, (x, y) in enumerate(zip(a, b, strict=True))}
    assert krippendorff_alpha_nominal(units) == pytest.approx(-0.75)


def test_reviewer_pairs_lists_every_two_coders_sharing_a_unit():
    units = units_from_rows(KRIPPENDORFF_C)
    assert reviewer_pairs(units) == [
        ("A", "B"),
        ("A", "C"),
        ("A", "D"),
        ("B", "C"),
        ("B", "D"),
        ("C", "D"),
    ]
    assert reviewer_pairs({1: {"A": 1}, 2: {"B": 1, "C": 2}}) == [("B", "C")]
