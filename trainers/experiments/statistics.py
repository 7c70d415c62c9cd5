"""Statistics of a reproduction over seeds, and the three verdicts of a paper's claim.

Every number of a reproduced table is measured once per seed (one seed: one cell, trained and evaluated from
scratch). A cell is summarized by its mean, its sample standard deviation and the 95% Student-t interval of the
mean. A claim is turned into an *effect*: one number per seed that is positive when the paper's finding holds (e.g.
the standard twin's FID minus the decoupled one's). Rows trained with the same seeds are compared seed by seed (the
paired difference), which removes what the two cells share (data subset, initialization stream, evaluation
samples). The claim's verdict follows from the effect's interval:

    reproduced     the interval lies above zero (excludes zero on the paper's side)
    contradicted   the interval lies below zero (excludes zero on the other side)
    inconclusive   the interval contains zero, or there are too few seeds to form one (one seed)
    not judged     a value the claim needs is missing (a cell not finished, or a number the paper does not give)

With n seeds the interval is mean +- t(0.975, n - 1) * std / sqrt(n): t = 12.71 for 2 seeds, 4.30 for 3, 2.78 for
5, so with 3 seeds an effect must be about 2.5 standard deviations of its per-seed values away from zero.

A paper's own numbers enter the same way (`summary`): a mean with the paper's +- standard deviation over its
trials (Dai & Wipf's table 1: 10 trials) gives a t interval, and two such numbers are compared by Welch's
interval; a number reported without a spread is taken as exact (its interval is the point), so claims on it are
judged by direction alone.
"""
import collections
import dataclasses
import functools
import math
from typing import Mapping, Optional, Tuple

CONFIDENCE = 0.95
REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_JUDGED = "reproduced", "contradicted", "inconclusive", "not judged"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_JUDGED)


# ---------------------------------------------------------------------------------------------------------------
# Student's t quantile (no SciPy: tfvae does not depend on it directly)

def _regularized_incomplete_beta(x, a, b):
    """I_x(a, b), the regularized incomplete beta function, by its continued fraction (modified Lentz method).

    The fraction converges quickly for x < (a + 1) / (a + b + 2); above, I_x(a, b) = 1 - I_{1-x}(b, a).

        I_x(a, b) = x^a (1 - x)^b / (a B(a, b)) * 1 / (1 + d_1 / (1 + d_2 / (1 + ...)))
        d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),   d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m))
    """
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _regularized_incomplete_beta(1.0 - x, b, a)
    log_front = (a * math.log(x) + b * math.log1p(-x) + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 - math.log(a))
    tiny = 1e-300
    # Lentz evaluates 1 + 1 / (1 + d_1 / (1 + d_2 / ...)): the leading numerator is 1, so subtract 1 at the end.
    value, numerator_ratio, denominator = 1.0, 1.0, 0.0
    for i in range(1000):
        m = i // 2
        if i == 0:
            coefficient = 1.0
        elif i % 2 == 0:
            coefficient = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        else:
            coefficient = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        denominator = 1.0 + coefficient * denominator
        denominator = 1.0 / (denominator if abs(denominator) > tiny else tiny)
        numerator_ratio = 1.0 + coefficient / numerator_ratio
        numerator_ratio = numerator_ratio if abs(numerator_ratio) > tiny else tiny
        step = numerator_ratio * denominator
        value *= step
        if abs(1.0 - step) < 1e-15:
            break
    return math.exp(log_front) * (value - 1.0)


def t_cdf(t, df):
    """P(T <= t) for Student's t with `df` (> 0, not necessarily integer) degrees of freedom."""
    if df <= 0:
        raise ValueError(f"Student's t needs positive degrees of freedom. Received: df={df}")
    tail = 0.5 * _regularized_incomplete_beta(df / (df + t * t), df / 2.0, 0.5)
    return 1.0 - tail if t >= 0 else tail


@functools.lru_cache(maxsize=256)
def t_quantile(probability, df):
    """The `probability` quantile of Student's t with `df` degrees of freedom (bisection on `t_cdf`)."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"A quantile needs a probability strictly between 0 and 1. Received: {probability}")
    if probability < 0.5:
        return -t_quantile(1.0 - probability, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < probability:
        low, high = high, 2.0 * high
    for _ in range(200):
        middle = 0.5 * (low + high)
        if t_cdf(middle, df) < probability:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


# ---------------------------------------------------------------------------------------------------------------
# Estimates

@dataclasses.dataclass(frozen=True)
class Estimate:
    """A quantity measured over seeds (or reported by a paper) with its 95% interval.

    Attributes:
        mean: float.
        std: float or None. Sample standard deviation (ddof 1) of the per-seed values, or the paper's; 0 for an exact
            number; None with one seed.
        n: int. Seeds (or the paper's trials) behind the mean.
        low, high: float or None. The 95% interval of the mean; None when none can be formed (one seed).
        values: tuple of (seed, value). The per-seed values; empty for a paper's summary.
        method: str. How the interval was formed, said in the tables.
    """

    mean: float
    std: Optional[float]
    n: int
    low: Optional[float]
    high: Optional[float]
    values: Tuple[Tuple[int, float], ...] = ()
    method: str = ""

    @property
    def exact(self):
        return self.std == 0.0 and not self.values

    @property
    def per_seed(self):
        return dict(self.values)

    def as_dict(self):
        return {"mean": self.mean, "std": self.std, "n": self.n, "low": self.low, "high": self.high,
                "seeds": [seed for seed, _ in self.values], "values": [value for _, value in self.values],
                "method": self.method}

    def format(self):
        """"8.6 [2.1, 15.1] (3 seeds)", "8.6 (1 seed: no interval)", "8.6 (exact)"."""
        if self.exact:
            return f"{self.mean:.3g} (exact)"
        if self.low is None:
            return f"{self.mean:.3g} ({_count(self.n, 'seed')}: no interval)"
        return f"{self.mean:.3g} [{self.low:.3g}, {self.high:.3g}] ({self.method})"


def _count(n, noun):
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _t_interval(mean, std, n, df):
    half = t_quantile(0.5 + CONFIDENCE / 2.0, df) * std / math.sqrt(n)
    return mean - half, mean + half


def over_seeds(values, method=None):
    """The estimate of one quantity from its per-seed values.

    Args:
        values: dict seed -> value (NaN values are left out: a metric that could not be computed for a seed).
        method: str or None. Says how the values were formed (e.g. "paired over seeds 0, 1, 2").

    Returns:
        `Estimate`, or None without any value.
    """
    finite = tuple(sorted((int(seed), float(value)) for seed, value in values.items() if math.isfinite(value)))
    if not finite:
        return None
    numbers = [value for _, value in finite]
    n = len(numbers)
    mean = math.fsum(numbers) / n
    if n < 2:
        return Estimate(mean, None, n, None, None, finite, method or "1 seed")
    std = math.sqrt(math.fsum((value - mean) ** 2 for value in numbers) / (n - 1))
    low, high = _t_interval(mean, std, n, n - 1)
    return Estimate(mean, std, n, low, high, finite, method or _count(n, "seed"))


def summary(mean, std=None, trials=None):
    """A paper's number as an estimate: a t interval from its +- std over `trials`, or exact without them."""
    if std is None or trials is None:
        return Estimate(float(mean), 0.0, 1, float(mean), float(mean), (), "exact")
    if trials < 2 or std < 0:
        raise ValueError(f"A reported mean +- std needs at least 2 trials and std >= 0. Received: mean={mean}, "
                         f"std={std}, trials={trials}")
    low, high = _t_interval(float(mean), float(std), trials, trials - 1)
    return Estimate(float(mean), float(std), trials, low, high, (), f"mean +- std over {trials} trials")


def _seeds_text(seeds):
    return ", ".join(str(seed) for seed in seeds)


def per_seed(function, *estimates):
    """function(*values) of each seed that every estimate has, e.g. a ratio of two cells of the same seed.

    Exact inputs (a paper's numbers without spread) give an exact result. Returns None when an input is missing, when
    the inputs share no seed, or when an input is a summary with a spread (no per-seed values to pair).
    """
    if any(estimate is None for estimate in estimates):
        return None
    if all(estimate.exact for estimate in estimates):
        value = float(function(*(estimate.mean for estimate in estimates)))
        return Estimate(value, 0.0, 1, value, value, (), "exact")
    if not all(estimate.values for estimate in estimates):
        return None
    tables = [estimate.per_seed for estimate in estimates]
    common = sorted(set.intersection(*(set(table) for table in tables)))
    if not common:
        return None
    values = {seed: float(function(*(table[seed] for table in tables))) for seed in common}
    paired = "paired over " if len(estimates) > 1 else ""
    return over_seeds(values, f"{paired}{_count(len(common), 'seed')} ({_seeds_text(common)})")


def linear(terms, constant=0.0):
    """sum(weight * estimate) + constant: per seed when every estimate has per-seed values (the paired difference);
    otherwise from the summaries, with Welch-Satterthwaite degrees of freedom (a paper's mean +- std over trials).

    Args:
        terms: sequence of (weight, `Estimate` or None).
        constant: float.

    Returns:
        `Estimate`, or None when an input is missing.
    """
    weights = [float(weight) for weight, _ in terms]
    estimates = [estimate for _, estimate in terms]
    if any(estimate is None for estimate in estimates):
        return None
    if all(estimate.values for estimate in estimates) or all(estimate.exact for estimate in estimates):
        return per_seed(lambda *values: math.fsum(w * v for w, v in zip(weights, values)) + constant, *estimates)
    mean = math.fsum(w * e.mean for w, e in zip(weights, estimates)) + constant
    if any(e.std is None for e in estimates):  # a single seed beside a summary: no interval
        return Estimate(mean, None, min(e.n for e in estimates), None, None, (), "no interval")
    variances = [w * w * e.std ** 2 / e.n for w, e in zip(weights, estimates)]
    total = math.fsum(variances)
    if total == 0.0:
        return Estimate(mean, 0.0, 1, mean, mean, (), "exact")
    df = total ** 2 / math.fsum(v * v / (e.n - 1) for v, e in zip(variances, estimates) if v > 0)
    half = t_quantile(0.5 + CONFIDENCE / 2.0, df) * math.sqrt(total)
    trials = "/".join(str(e.n) for e in estimates)
    return Estimate(mean, math.sqrt(total), min(e.n for e in estimates), mean - half, mean + half, (),
                    f"Welch over {trials} trials, {df:.1f} df")


def difference(a, b):
    """a - b (paired per seed when both have per-seed values)."""
    return linear([(1.0, a), (-1.0, b)])


# ---------------------------------------------------------------------------------------------------------------
# Verdicts

def verdict(effect):
    """The verdict of an effect that is positive where the paper's finding holds."""
    if effect is None:
        return NOT_JUDGED
    if effect.low is None:
        return INCONCLUSIVE
    if effect.low > 0.0:
        return REPRODUCED
    if effect.high < 0.0:
        return CONTRADICTED
    return INCONCLUSIVE


@dataclasses.dataclass(frozen=True)
class Judgement:
    """The outcome of one claim on one table.

    Attributes:
        verdict: str. One of `VERDICTS`.
        effect: `Estimate` or None. Positive where the paper's finding holds; None for a claim made of parts.
        detail: str. What was compared, with the numbers.
        parts: tuple of (label, `Judgement`). Per row or pair of a "for every" claim, or per condition of a claim
            that joins several.
        wins: dict row -> number of seeds in which the row is best (claims about the best row).
    """

    verdict: str
    effect: Optional[Estimate]
    detail: str
    parts: Tuple[Tuple[str, "Judgement"], ...] = ()
    wins: Mapping = dataclasses.field(default_factory=dict)

    def counts(self):
        """{verdict: number of parts} over every verdict kind."""
        counted = collections.Counter(part.verdict for _, part in self.parts)
        return {kind: counted.get(kind, 0) for kind in VERDICTS}

    def as_dict(self):
        result = {"verdict": self.verdict, "effect": self.effect.as_dict() if self.effect else None,
                  "detail": self.detail}
        if self.parts:
            result["counts"] = self.counts()
            result["parts"] = [{"label": label, **part.as_dict()} for label, part in self.parts]
        if self.wins:
            result["wins"] = dict(self.wins)
        return result


def judge(effect, detail):
    """A `Judgement` of one effect; `detail` describes the comparison, the effect's numbers are appended."""
    if effect is None:
        return Judgement(NOT_JUDGED, None, f"not judged: {detail} has a missing value")
    return Judgement(verdict(effect), effect, f"{detail}: {effect.format()}")


def all_of(parts, description, at_least=None):
    """A claim that holds for at least `at_least` (default: all) of its parts, e.g. "for every pair".

    Reproduced when at least `at_least` parts are reproduced; contradicted when so many parts are contradicted that
    fewer than `at_least` could still hold; otherwise not judged if a part is, else inconclusive.

    Args:
        parts: sequence of (label, `Judgement`).
        description: str. What each part compares, e.g. "pairs: dp FID < standard FID".
        at_least: int or None.
    """
    parts = tuple(parts)
    needed = len(parts) if at_least is None else at_least
    if not 0 < needed <= len(parts):
        raise ValueError(f"at_least must be between 1 and the {len(parts)} parts. Received: at_least={at_least}")
    counted = collections.Counter(part.verdict for _, part in parts)
    if counted[REPRODUCED] >= needed:
        outcome = REPRODUCED
    elif counted[CONTRADICTED] > len(parts) - needed:
        outcome = CONTRADICTED
    elif counted[NOT_JUDGED]:
        outcome = NOT_JUDGED
    else:
        outcome = INCONCLUSIVE
    required = "all" if needed == len(parts) else f"at least {needed}"
    tally = ", ".join(f"{counted[kind]} {kind}" for kind in VERDICTS if counted[kind])
    by_kind = "; ".join(f"{kind}: {', '.join(label for label, part in parts if part.verdict == kind)}"
                        for kind in VERDICTS if counted[kind] and kind != REPRODUCED)
    detail = f"{description} ({required} of {len(parts)} needed): {tally}" + (f" ({by_kind})" if by_kind else "")
    return Judgement(outcome, None, detail, parts)
