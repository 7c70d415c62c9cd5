"""Small functions that judge a paper's claims on a `ResultTable` (mean over seeds of the judged extractor)."""
import math

from trainers.experiments.experiment import count_rows


def _known(*values):
    return all(not math.isnan(v) for v in values)


def every_row(rows, pairs, description):
    """Claim: for every row, each (better, worse, lower_is_better) column pair is ordered that way: better < worse
    when lower is better, better >= worse otherwise (e.g. precision with a GMM vs with N)."""
    def check(table):
        def holds(row):
            outcomes = []
            for better, worse, lower_is_better in pairs:
                a, b = table.mean(row, better), table.mean(row, worse)
                if not _known(a, b):
                    return None
                outcomes.append(a < b if lower_is_better else a >= b)
            return all(outcomes)
        return count_rows(table, rows, holds, description)
    return check


def best_row_among(rows, column, winners, lower_is_better=True):
    """Claim: the best row of `column` is one of `winners`."""
    def check(table):
        means = {row: table.mean(row, column) for row in rows}
        if not _known(*means.values()):
            return None, "not judged: some rows have no value yet"
        best = (min if lower_is_better else max)(means, key=means.get)
        return best in winners, f"best {column}: {best} ({means[best]:.3g}); " + ", ".join(
            f"{row} {value:.3g}" for row, value in sorted(means.items(), key=lambda kv: kv[1]))
    return check


def row_below(row, column, other_row, other_column=None, factor=1.0):
    """Claim: table[row, column] < factor * table[other_row, other_column or column]."""
    other_column = other_column or column
    def check(table):
        a, b = table.mean(row, column), table.mean(other_row, other_column)
        if not _known(a, b):
            return None, "not judged: missing values"
        scaled = f"{factor:g} x " if factor != 1.0 else ""
        return a < factor * b, f"{row} {column} {a:.3g} vs {scaled}{other_row} {other_column} {b:.3g}"
    return check


def every_pair(pairs, value, description):
    """Claim: for every (row, twin) pair, value(table, row) < value(table, twin), e.g. a model with the decoupled
    prior against the same model with the standard one. `value` may combine columns (e.g. LP-FID minus FID)."""
    twins = dict(pairs)

    def check(table):
        def holds(row):
            a, b = value(table, row), value(table, twins[row])
            return None if not _known(a, b) else a < b
        return count_rows(table, list(twins), holds, description)
    return check


def column(label):
    """value(table, row) = the row's mean of column `label` (for `every_pair`)."""
    return lambda table, row: table.mean(row, label)
