"""Evaluation statistics: Wilson intervals, the summary of a run, and the paired comparison's exact p-value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from honed.evaluation.stats import paired_comparison, summarize, wilson_interval


def test_wilson_interval_known_values():
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(190, 200) == pytest.approx((0.9104, 0.9726), abs=1e-4)


@given(n=st.integers(1, 500), data=st.data())
def test_wilson_interval_holds_the_estimate_inside_0_1(n, data):
    k = data.draw(st.integers(0, n))
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n + 1e-12 and k / n - 1e-12 <= high <= 1.0
    widest = wilson_interval(n // 2, n)
    assert high - low <= widest[1] - widest[0] + 1e-12  # the interval is widest at a rate of one half


def test_summary_of_episodes():
    episodes = [{"seed": i, "success": i % 4 != 0, "return": float(i), "length": 10 + i} for i in range(8)]
    summary = summarize(episodes)
    assert summary["success_rate"] == 0.75 and summary["successes"] == 6
    assert summary["mean_return"] == pytest.approx(3.5) and summary["mean_length"] == pytest.approx(13.5)
    assert summary["diverged_episodes"] == 0  # results written before the field read as none


def test_summary_counts_diverged_episodes_as_run_not_won():
    episodes = [
        {"seed": i, "success": i == 0, "return": 0.0, "length": 5, "diverged": i in (1, 2)} for i in range(4)
    ]
    summary = summarize(episodes)
    assert summary["diverged_episodes"] == 2 and summary["episodes"] == 4 and summary["successes"] == 1


def test_paired_comparison_uses_only_shared_seeds_and_mcnemar():
    a = [{"seed": s, "success": s < 5} for s in range(20)]
    b = [{"seed": s, "success": True} for s in range(20)] + [{"seed": 99, "success": True}]
    result = paired_comparison(a, b)
    assert result["paired_episodes"] == 20
    assert (result["only_a_succeeded"], result["only_b_succeeded"]) == (0, 15)
    assert result["p_value"] == pytest.approx(2 * 0.5**15)
    same = paired_comparison(a, a)
    assert same["p_value"] == 1.0 and same["difference"] == 0.0
    with pytest.raises(ValueError, match="share no episode seed"):
        paired_comparison(a, [{"seed": 100, "success": True}])
