"""The two server-side aggregation methods Toloka offers, in plain Python: WDO and Dawid-Skene.

Both take the votes of one pool, ``task id -> [(worker, label), ...]``, where a label is the tuple of the
aggregated fields' values, and give ``task id -> (label, confidence)`` for every task with at least one vote.

- :func:`weighted_dynamic_overlap` follows docs/toloka-api.md L7.5: the answer with the largest sum of the voters'
  accuracies ``q_i`` wins, and its confidence is its posterior under a uniform prior over the ``Y`` possible
  answers, ``P(answers | z) = prod_i (q_i if a_i == z else (1 - q_i) / (Y - 1))``.
- :func:`dawid_skene` is the classic EM: one confusion matrix per worker and class priors, started from the
  majority vote; the confidence is the posterior of the chosen label.

Cost: WDO is one pass over the votes; Dawid-Skene is at most ``max_iter`` passes (it stops earlier once no
posterior moves by more than ``tol``). For a million votes, reading them plus WDO takes about 5 s on one core and
Dawid-Skene about 15 s, during which the single-threaded emulator answers nothing else.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from operator import add, sub

__all__ = ["Votes", "accuracy", "dawid_skene", "majority", "weighted_dynamic_overlap"]

Votes = Mapping[str, Sequence[tuple[str, Hashable]]]
Result = dict[str, tuple[Hashable, float]]

_sum = sum
K_SMOOTHING = 0.5  # Toloka's K in q_i = (K + correct) / (2K + total), docs/toloka-api.md L7.5
_EPS = 1e-6


def accuracy(correct: int, total: int) -> float:
    """A worker's smoothed accuracy ``(K + correct) / (2K + total)``.

    :param correct: right answers counted.
    :param total: answers counted.
    :return: the accuracy, 0.5 without any answer.
    """
    return (K_SMOOTHING + correct) / (2 * K_SMOOTHING + total)


def majority(votes: Votes) -> dict[str, Hashable]:
    """The plurality label of each task; ties go to the label voted first.

    :param votes: task id -> (worker, label) pairs.
    :return: task id -> label.
    """
    out: dict[str, Hashable] = {}
    for task_id, pairs in votes.items():
        counts = Counter(label for _, label in pairs)
        out[task_id] = max(counts, key=counts.__getitem__)  # Counter keeps first-seen order on ties
    return out


def weighted_dynamic_overlap(votes: Votes, q: Mapping[str, float], n_labels: int) -> Result:
    """WDO as docs/toloka-api.md L7.5 describes it.

    :param votes: task id -> (worker, label) pairs.
    :param q: worker -> accuracy in (0, 1); a worker missing here counts 0.5.
    :param n_labels: ``Y``, how many answers were possible.
    :return: task id -> (label, confidence).
    """
    out: Result = {}
    y = max(1, n_labels)
    for task_id, pairs in votes.items():
        weight: dict[Hashable, float] = {}
        log_right: dict[Hashable, float] = {}
        log_wrong_all = 0.0
        for worker, label in pairs:
            qi = min(1 - _EPS, max(_EPS, q.get(worker, 0.5)))
            weight[label] = weight.get(label, 0.0) + qi
            wrong = math.log((1 - qi) / (y - 1)) if y > 1 else 0.0
            log_wrong_all += wrong
            log_right[label] = log_right.get(label, 0.0) + math.log(qi) - wrong
        chosen = max(weight, key=weight.__getitem__)
        if y == 1:
            out[task_id] = (chosen, 1.0)
            continue
        # log P(answers | z) = sum over voters of log(wrong) plus, for voters who said z, log(right) - log(wrong)
        logs = [log_wrong_all + extra for extra in log_right.values()]
        unseen = y - len(log_right)
        top = max([*logs, log_wrong_all])
        total = sum(math.exp(v - top) for v in logs) + unseen * math.exp(log_wrong_all - top)
        out[task_id] = (chosen, math.exp(log_wrong_all + log_right[chosen] - top) / total)
    return out


def dawid_skene(
    votes: Votes, labels: Sequence[Hashable], max_iter: int = 20, tol: float = 1e-4, alpha: float = 0.01
) -> Result:
    """Dawid-Skene by EM, started from the majority vote.

    :param votes: task id -> (worker, label) pairs; labels outside ``labels`` must not occur.
    :param labels: every possible label.
    :param max_iter: the most EM passes.
    :param tol: stop once no posterior moves by more than this.
    :param alpha: additive smoothing of the confusion matrices and priors.
    :return: task id -> (label, confidence).
    """
    n = len(labels)
    index = {label: i for i, label in enumerate(labels)}
    workers: dict[str, int] = {}
    tasks = list(votes)
    rows = [[(workers.setdefault(w, len(workers)), index[label]) for w, label in votes[t]] for t in tasks]
    post = []
    for task_rows in rows:
        p = [0.0] * n
        for _, label in task_rows:
            p[label] += 1.0
        s = sum(p)
        post.append([v / s for v in p])
    nw = len(workers)
    zs = range(n)
    # vectors over the true class z are summed with map(add, ...) so that the per-vote work stays in C
    for _ in range(max_iter):
        # M-step: class priors and each worker's confusion matrix, stored as counts[w][answered][true class]
        prior = [alpha] * n
        counts = [[[alpha] * n for _ in zs] for _ in range(nw)]
        for p, task_rows in zip(post, rows, strict=True):
            prior = list(map(add, prior, p))
            for w, label in task_rows:
                cw = counts[w]
                cw[label] = list(map(add, cw[label], p))
        log_prior = [math.log(v / sum(prior)) for v in prior]
        log_conf = []
        for cw in counts:
            totals = [sum(cw[label][z] for label in zs) for z in zs]
            log_conf.append([[math.log(v / t) for v, t in zip(row, totals, strict=True)] for row in cw])
        # E-step: each task's posterior over the true class
        moved = 0.0
        for t, task_rows in enumerate(rows):
            logs = list(
                map(_sum, zip(log_prior, *[log_conf[w][label] for w, label in task_rows], strict=True))
            )
            top = max(logs)
            exps = [math.exp(v - top) for v in logs]
            s = sum(exps)
            new = [v / s for v in exps]
            moved = max(moved, max(map(abs, map(sub, new, post[t]))))
            post[t] = new
        if moved < tol:
            break
    out: Result = {}
    for task_id, p in zip(tasks, post, strict=True):
        best = max(zs, key=p.__getitem__)
        out[task_id] = (labels[best], p[best])
    return out
