"""Small functions that judge a paper's claims on a `ResultTable` (`trainers.experiments.statistics`).

Each builder returns check(table) -> `statistics.Judgement`. The effect of every comparison is oriented so that it
is positive where the paper's finding holds; on our tables it is paired per seed, on a paper's table it comes from
the reported means (and their +- std over trials where the paper gives one).
"""
from trainers.experiments import statistics


def _oriented(better, worse, lower_is_better):
    """An effect positive when `better` is better than `worse`."""
    return statistics.difference(worse, better) if lower_is_better else statistics.difference(better, worse)


def every_row(rows, better, worse, lower_is_better, description, at_least=None):
    """Claim: for every row (or at least `at_least` of them), column `better` beats column `worse`, e.g. FID with
    a GMM below FID with N; one verdict per row, joined by `statistics.all_of`."""
    arrow = "<" if lower_is_better else ">"

    def check(table):
        parts = [(row, statistics.judge(_oriented(table.cell(row, better), table.cell(row, worse), lower_is_better),
                                        f"{row}: {better} {arrow} {worse} by"))
                 for row in rows]
        return statistics.all_of(parts, description, at_least)
    return check


def row_below(row, column, other_row, other_column=None, factor=1.0):
    """Claim: table[row, column] < factor * table[other_row, other_column or column]; effect: the right side
    minus the left."""
    other_column = other_column or column
    scaled = f"{factor:g} x " if factor != 1.0 else ""

    def check(table):
        effect = statistics.linear([(factor, table.cell(other_row, other_column)), (-1.0, table.cell(row, column))])
        return statistics.judge(effect, f"{scaled}{other_row} {other_column} - {row} {column}")
    return check


def row_above(row, column, other_row, other_column=None, factor=1.0):
    """Claim: table[row, column] > factor * table[other_row, other_column or column], e.g. a row that does not
    improve on another by more than a share 1 - factor of its value; effect: the left side minus the right."""
    other_column = other_column or column
    scaled = f"{factor:g} x " if factor != 1.0 else ""

    def check(table):
        effect = statistics.linear([(1.0, table.cell(row, column)), (-factor, table.cell(other_row, other_column))])
        return statistics.judge(effect, f"{row} {column} - {scaled}{other_row} {other_column}")
    return check


def above(row, column, threshold):
    """Claim: table[row, column] > threshold; effect: the value minus the threshold."""
    def check(table):
        effect = statistics.linear([(1.0, table.cell(row, column))], -threshold)
        return statistics.judge(effect, f"{row} {column} - {threshold:g}")
    return check


def below(row, column, threshold):
    """Claim: table[row, column] < threshold; effect: the threshold minus the value."""
    def check(table):
        effect = statistics.linear([(-1.0, table.cell(row, column))], threshold)
        return statistics.judge(effect, f"{threshold:g} - {row} {column}")
    return check


def best_row_among(rows, column, winners, lower_is_better=True):
    """Claim: the best row of `column` is one of `winners`.

    The effect is, per seed, the best value among the other rows minus the best among `winners` (oriented so that
    it is positive when a winner is best). On a paper's table (means, no seeds) it compares the best row of each
    group by its mean. The detail also counts how often each row wins across seeds and gives the winner's gap to
    the runner-up (by mean) with its interval.
    """
    rows = list(rows)
    claimed = [row for row in rows if row in winners]
    others = [row for row in rows if row not in winners]
    if not claimed or not others:
        raise ValueError(f"best_row_among needs rows inside and outside the winners. Received: rows={rows}, "
                         f"winners={sorted(winners)}")
    best = min if lower_is_better else max
    sign = 1.0 if lower_is_better else -1.0  # effect = sign * (best other - best claimed)

    def check(table):
        cells = {row: table.cell(row, column) for row in rows}
        missing = [row for row, cell in cells.items() if cell is None]
        if missing:
            return statistics.Judgement(statistics.NOT_JUDGED, None, f"not judged: {', '.join(missing)} "
                                        f"{'has' if len(missing) == 1 else 'have'} no {column} yet")
        ranked = sorted(rows, key=lambda row: sign * cells[row].mean)
        winner, runner_up = ranked[0], ranked[1]
        if all(cell.values for cell in cells.values()):
            effect = statistics.per_seed(
                lambda *values: sign * (best(values[len(claimed):]) - best(values[:len(claimed)])),
                *(cells[row] for row in claimed + others))
            wins = _wins(cells, rows, best)
        else:
            best_claimed = min(claimed, key=lambda row: sign * cells[row].mean)
            best_other = min(others, key=lambda row: sign * cells[row].mean)
            effect = statistics.linear([(sign, cells[best_other]), (-sign, cells[best_claimed])])
            wins = {}
        gap = statistics.linear([(sign, cells[runner_up]), (-sign, cells[winner])])
        ordered = ", ".join(f"{row} {cells[row].mean:.3g}" for row in ranked)
        won = ", ".join(f"{row} {count}" for row, count in wins.items() if count)
        won = f"; wins over seeds: {won}" if won else ""
        detail = (f"best {column} by mean: {winner}, ahead of {runner_up} by {gap.format() if gap else '?'}{won}; "
                  f"best of {'/'.join(claimed)} vs best other row")
        judgement = statistics.judge(effect, detail)
        detail = f"{judgement.detail}; means: {ordered}"
        return statistics.Judgement(judgement.verdict, judgement.effect, detail, wins=wins)
    return check


def _wins(cells, rows, best):
    """{row: seeds in which the row has the best value} over the seeds every row has."""
    tables = {row: cells[row].per_seed for row in rows}
    common = sorted(set.intersection(*(set(table) for table in tables.values())))
    wins = {row: 0 for row in rows}
    for seed in common:
        value = best(tables[row][seed] for row in rows)
        wins[next(row for row in rows if tables[row][seed] == value)] += 1
    return wins


def every_pair(pairs, value, description, at_least=None):
    """Claim: for every (row, twin) pair (or at least `at_least`), value(table, row) < value(table, twin), e.g. a
    model with the decoupled prior against the same model with the standard one. `value` returns an `Estimate` and
    may combine columns (e.g. LP-FID minus FID); the effect is the twin's value minus the row's."""
    def check(table):
        parts = [(f"{row} vs {twin}", statistics.judge(statistics.difference(value(table, twin), value(table, row)),
                                                       f"{twin} - {row}"))
                 for row, twin in pairs]
        return statistics.all_of(parts, description, at_least)
    return check


def column(label):
    """value(table, row) = the row's estimate of column `label` (for `every_pair`)."""
    return lambda table, row: table.cell(row, label)


def column_difference(minuend, subtrahend):
    """value(table, row) = the row's `minuend` minus its `subtrahend`, per seed (for `every_pair`)."""
    return lambda table, row: statistics.difference(table.cell(row, minuend), table.cell(row, subtrahend))


def all_conditions(conditions, description):
    """Claim made of several conditions that must all hold: conditions is a sequence of (label, check)."""
    return lambda table: statistics.all_of([(label, check(table)) for label, check in conditions], description)
