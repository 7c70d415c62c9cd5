"""The statistics of a reproduction (`trainers.experiments.statistics`): Student-t quantiles against SciPy, intervals
over seeds, paired and Welch differences, and the three verdicts of the claim builders on synthetic tables with
known effects (a clear effect, no effect, a reversed one, a single seed)."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from trainers.experiments import claims, statistics
from trainers.experiments.experiment import ResultTable

SEEDS = (0, 1, 2, 3, 4)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 29, 0.7, 2.5, 17.3, 400])
@pytest.mark.parametrize("probability", [0.975, 0.995, 0.9, 0.6, 0.5, 0.025])
def test_t_quantile_matches_scipy(probability, df):
    assert statistics.t_quantile(probability, df) == pytest.approx(scipy_stats.t.ppf(probability, df), rel=1e-9,
                                                                   abs=1e-12)


def test_t_quantile_known_values_and_bad_arguments():
    # Printed t tables: 95% two-sided with 1, 2 and 9 degrees of freedom.
    assert statistics.t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
    assert statistics.t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-4)
    assert statistics.t_quantile(0.975, 9) == pytest.approx(2.2622, abs=1e-4)
    with pytest.raises(ValueError, match="strictly between 0 and 1. Received: 1.0"):
        statistics.t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="positive degrees of freedom. Received: df=0"):
        statistics.t_cdf(1.0, 0)


def test_over_seeds_is_the_t_interval_of_the_mean():
    values = {0: 3.0, 1: 5.0, 2: 4.0, 3: 8.0}
    estimate = statistics.over_seeds(values)
    array = np.array(list(values.values()))
    low, high = scipy_stats.t.interval(0.95, len(array) - 1, loc=array.mean(), scale=scipy_stats.sem(array))
    assert (estimate.n, estimate.mean, estimate.std) == (4, pytest.approx(5.0), pytest.approx(array.std(ddof=1)))
    assert (estimate.low, estimate.high) == (pytest.approx(low), pytest.approx(high))
    assert estimate.per_seed == values
    single = statistics.over_seeds({3: 7.0, 4: float("nan")})  # a NaN seed is left out
    assert (single.n, single.mean, single.std, single.low, single.high) == (1, 7.0, None, None, None)
    assert statistics.over_seeds({}) is None


def test_a_paired_difference_removes_what_the_twins_share_and_welch_does_not():
    # Seed-to-seed spread of 10 shared by both rows, a constant gap of 1: paired, the gap is certain; as two
    # independent summaries (Welch), it is lost in the spread.
    shared = {seed: 10.0 * math.sin(seed + 1.0) for seed in SEEDS}
    a = statistics.over_seeds({seed: value + 1.0 for seed, value in shared.items()})
    b = statistics.over_seeds(shared)
    paired = statistics.difference(a, b)
    assert (paired.mean, paired.low, paired.high) == (pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0))
    assert paired.method.startswith("paired over 5 seeds")
    unpaired = statistics.difference(statistics.summary(a.mean, a.std, a.n), statistics.summary(b.mean, b.std, b.n))
    expected = scipy_stats.ttest_ind_from_stats(a.mean, a.std, a.n, b.mean, b.std, b.n, equal_var=False)
    assert unpaired.low < 0 < unpaired.high and unpaired.method.startswith("Welch")
    # The Welch interval excludes zero exactly when Welch's two-sided test rejects at 5%.
    assert (expected.pvalue < 0.05) == (statistics.verdict(unpaired) != statistics.INCONCLUSIVE)


def test_paired_values_use_the_seeds_both_rows_have():
    a = statistics.over_seeds({0: 1.0, 1: 2.0, 2: 3.0})
    b = statistics.over_seeds({1: 0.0, 2: 0.5, 7: 9.0})
    difference = statistics.difference(a, b)
    assert difference.per_seed == {1: 2.0, 2: 2.5} and "(1, 2)" in difference.method
    assert statistics.difference(a, statistics.over_seeds({5: 1.0})) is None  # no common seed
    assert statistics.difference(a, None) is None


def test_exact_numbers_are_judged_by_direction():
    assert statistics.verdict(statistics.difference(statistics.summary(2.0), statistics.summary(1.5))) == (
        statistics.REPRODUCED)
    assert statistics.verdict(statistics.difference(statistics.summary(1.0), statistics.summary(1.5))) == (
        statistics.CONTRADICTED)
    assert statistics.verdict(statistics.difference(statistics.summary(0.66), statistics.summary(0.66))) == (
        statistics.INCONCLUSIVE)
    with pytest.raises(ValueError, match="at least 2 trials"):
        statistics.summary(1.0, 0.5, trials=1)


def _table(effect, noise, seeds=SEEDS, shift=0.0):
    """Twins "A + dp" and "A": FD of the standard twin = the dp twin's + `effect` (+ noise per seed)."""
    rng = np.random.default_rng(1)
    dp = {seed: 50.0 + shift * seed for seed in seeds}
    standard = {seed: dp[seed] + effect + noise * rng.standard_normal() for seed in seeds}
    return ResultTable.from_seeds({"A + dp": {"FD": dp}, "A": {"FD": standard}})


@pytest.mark.parametrize("effect, seeds, expected", [
    (5.0, SEEDS, statistics.REPRODUCED),       # a clear effect on the paper's side
    (0.0, SEEDS, statistics.INCONCLUSIVE),     # no effect
    (-5.0, SEEDS, statistics.CONTRADICTED),    # the effect reversed
    (5.0, (0,), statistics.INCONCLUSIVE),      # one seed: no interval, whatever the effect
])
def test_pair_verdicts_on_synthetic_tables(effect, seeds, expected):
    check = claims.every_pair([("A + dp", "A")], claims.column("FD"), "pairs: dp FD < standard FD")
    judgement = check(_table(effect, noise=1.0, seeds=seeds, shift=7.0))
    assert judgement.verdict == expected
    (label, part), = judgement.parts
    assert label == "A + dp vs A" and part.verdict == expected
    assert part.effect.n == len(seeds) and part.effect.mean == pytest.approx(effect, abs=2.0)
    assert judgement.counts()[expected] == 1 and sum(judgement.counts().values()) == 1


def test_a_missing_cell_is_not_judged():
    table = ResultTable.from_seeds({"A + dp": {"FD": {0: 1.0, 1: 2.0}}, "A": {}})
    judgement = claims.every_pair([("A + dp", "A")], claims.column("FD"), "pairs")(table)
    assert judgement.verdict == statistics.NOT_JUDGED


def _parts(*verdicts):
    return [(f"row {index}", statistics.Judgement(verdict, None, "")) for index, verdict in enumerate(verdicts)]


@pytest.mark.parametrize("verdicts, at_least, expected", [
    ((statistics.REPRODUCED,) * 3, None, statistics.REPRODUCED),
    ((statistics.REPRODUCED, statistics.REPRODUCED, statistics.CONTRADICTED), None, statistics.CONTRADICTED),
    ((statistics.REPRODUCED, statistics.REPRODUCED, statistics.CONTRADICTED), 2, statistics.REPRODUCED),
    ((statistics.REPRODUCED, statistics.INCONCLUSIVE, statistics.CONTRADICTED), 2, statistics.INCONCLUSIVE),
    ((statistics.REPRODUCED, statistics.CONTRADICTED, statistics.CONTRADICTED), 2, statistics.CONTRADICTED),
    ((statistics.REPRODUCED, statistics.INCONCLUSIVE, statistics.NOT_JUDGED), None, statistics.NOT_JUDGED),
    ((statistics.REPRODUCED, statistics.INCONCLUSIVE, statistics.INCONCLUSIVE), None, statistics.INCONCLUSIVE),
])
def test_for_every_row_claims_count_each_kind(verdicts, at_least, expected):
    judgement = statistics.all_of(_parts(*verdicts), "rows", at_least)
    assert judgement.verdict == expected
    assert judgement.counts() == {kind: verdicts.count(kind) for kind in statistics.VERDICTS}
    assert judgement.as_dict()["counts"] == judgement.counts() and len(judgement.as_dict()["parts"]) == 3
    with pytest.raises(ValueError, match="at_least must be between 1 and the 3 parts. Received: at_least=4"):
        statistics.all_of(_parts(*verdicts), "rows", 4)


def _race(gap, seeds=SEEDS):
    """Rows W (claimed) and X, Y: X = W + gap + noise; Y is far behind. FD: lower is better."""
    rng = np.random.default_rng(2)
    w = {seed: 20.0 + 3.0 * seed for seed in seeds}
    x = {seed: w[seed] + gap + 0.5 * rng.standard_normal() for seed in seeds}
    y = {seed: w[seed] + 40.0 for seed in seeds}
    return ResultTable.from_seeds({"W": {"FD": w}, "X": {"FD": x}, "Y": {"FD": y}})


@pytest.mark.parametrize("gap, seeds, expected, winner", [
    (4.0, SEEDS, statistics.REPRODUCED, "W"),
    (0.0, SEEDS, statistics.INCONCLUSIVE, None),
    (-4.0, SEEDS, statistics.CONTRADICTED, "X"),
    (4.0, (0,), statistics.INCONCLUSIVE, "W"),
])
def test_best_row_verdicts_count_the_wins_and_the_gap_to_the_runner_up(gap, seeds, expected, winner):
    judgement = claims.best_row_among(["W", "X", "Y"], "FD", {"W"})(_race(gap, seeds))
    assert judgement.verdict == expected
    assert sum(judgement.wins.values()) == len(seeds) and judgement.wins["Y"] == 0
    if winner:
        assert judgement.wins[winner] == len(seeds)
        assert f"best FD by mean: {winner}, ahead of" in judgement.detail
    assert judgement.effect.mean == pytest.approx(gap, abs=1.0)


def test_best_row_on_summaries_compares_the_best_of_each_group_by_welch():
    table = ResultTable.from_paper({("W", "FD"): (29.3, 1.0), ("X", "FD"): (43.6, 0.7), ("Y", "FD"): (60.0, 1.1)},
                                   trials=10)
    judgement = claims.best_row_among(["W", "X", "Y"], "FD", {"W"})(table)
    expected = scipy_stats.ttest_ind_from_stats(43.6, 0.7, 10, 29.3, 1.0, 10, equal_var=False)
    assert judgement.verdict == statistics.REPRODUCED and expected.pvalue < 0.05
    assert judgement.effect.mean == pytest.approx(14.3) and judgement.wins == {}


def test_thresholds_and_ratios():
    table = ResultTable.from_seeds({"VAE": {"KL": {0: 8.1, 1: 7.9, 2: 8.4}, "active": {0: 250, 1: 250, 2: 249}}})
    assert claims.above("VAE", "KL", 1.0)(table).verdict == statistics.REPRODUCED
    assert claims.below("VAE", "active", 125.0)(table).verdict == statistics.CONTRADICTED
    assert claims.row_below("VAE", "KL", "VAE", "active", factor=0.01)(table).verdict == statistics.CONTRADICTED
    # No improvement of 10% or more: 0.9 x Gaussian's KL < RNVP's KL, paired per seed (effects 0.51, 0.59, 0.44 and
    # -0.33, -0.21, -0.36: inside the margin, then an improvement of 13-14% on every seed).
    gaussian, rnvp, better = {0: 8.1, 1: 7.9, 2: 8.4}, {0: 7.8, 1: 7.7, 2: 8.0}, {0: 6.96, 1: 6.9, 2: 7.2}
    table = ResultTable.from_seeds({"VAE": {"KL": gaussian}, "RNVP": {"KL": rnvp}, "better": {"KL": better}})
    judgement = claims.row_above("RNVP", "KL", "VAE", factor=0.9)(table)
    assert judgement.verdict == statistics.REPRODUCED and judgement.detail.startswith("RNVP KL - 0.9 x VAE KL:")
    assert judgement.effect.per_seed == pytest.approx({seed: rnvp[seed] - 0.9 * gaussian[seed] for seed in gaussian})
    assert claims.row_above("better", "KL", "VAE", factor=0.9)(table).verdict == statistics.CONTRADICTED
    assert claims.row_above("RNVP", "KL", "VAE")(table).verdict == statistics.CONTRADICTED  # no margin: lower KL
    table = ResultTable.from_seeds({"VAE": {"KL": {0: 8.1, 1: 7.9, 2: 8.4}, "active": {0: 250, 1: 250, 2: 249}}})
    judgement = claims.all_conditions([("kl", claims.above("VAE", "KL", 1.0)),
                                       ("active", claims.below("VAE", "active", 125.0))], "conditions")(table)
    assert judgement.verdict == statistics.CONTRADICTED and judgement.counts()[statistics.REPRODUCED] == 1
