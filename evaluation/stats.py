"""Statistics of evaluations: Wilson intervals, the summary of a run's episodes, paired comparisons.

Every episode of an evaluation is identified by its reset seed, so two checkpoints evaluated with
the same ``seed`` and ``episodes`` met the same initial states. The paired comparison uses exactly
those shared seeds: McNemar's exact test (a two-sided binomial test on the discordant pairs, through
scipy) gives the p-value of the difference in success rates.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import binomtest

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (default 95%); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes ({successes}) must be between 0 and n ({n})")
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, center - half)  # exact ends: no rounding past the estimate
    high = 1.0 if successes == n else min(1.0, center + half)
    return low, high


def summarize(episodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Success rate with its Wilson 95% interval, mean return and mean episode length, how many
    episodes the physics cut short by going non-finite (they count as run, not as successes), and how
    many failed episodes ended each way the task tells apart (``Task.endings``; empty if it tells none)."""
    n = len(episodes)
    wins = sum(bool(e["success"]) for e in episodes)
    low, high = wilson_interval(wins, n)
    return {
        "episodes": n,
        "successes": wins,
        "success_rate": wins / n if n else 0.0,
        "success_ci95": [low, high],
        "mean_return": float(np.mean([e["return"] for e in episodes])) if n else 0.0,
        "mean_length": float(np.mean([e["length"] for e in episodes])) if n else 0.0,
        "mean_length_success": float(np.mean([e["length"] for e in episodes if e["success"]]))
        if wins
        else None,
        "diverged_episodes": sum(bool(e.get("diverged", False)) for e in episodes),
        "failure_endings": dict(Counter(e["ending"] for e in episodes if e.get("ending")).most_common()),
    }


def paired_comparison(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Compare two evaluations on the seeds both ran: rates, discordant pairs, McNemar exact p-value."""
    by_seed_a = {int(e["seed"]): bool(e["success"]) for e in a}
    by_seed_b = {int(e["seed"]): bool(e["success"]) for e in b}
    seeds = sorted(set(by_seed_a) & set(by_seed_b))
    if not seeds:
        raise ValueError("the two evaluations share no episode seed; evaluate both with the same seed")
    only_a = sum(by_seed_a[s] and not by_seed_b[s] for s in seeds)
    only_b = sum(by_seed_b[s] and not by_seed_a[s] for s in seeds)
    discordant = only_a + only_b
    p_value = binomtest(only_a, discordant, 0.5).pvalue if discordant else 1.0
    rate_a = sum(by_seed_a[s] for s in seeds) / len(seeds)
    rate_b = sum(by_seed_b[s] for s in seeds) / len(seeds)
    return {
        "paired_episodes": len(seeds),
        "success_rate_a": rate_a,
        "success_rate_b": rate_b,
        "difference": rate_b - rate_a,
        "only_a_succeeded": only_a,
        "only_b_succeeded": only_b,
        "p_value": float(p_value),
        "test": "McNemar exact (two-sided binomial on discordant pairs)",
    }
