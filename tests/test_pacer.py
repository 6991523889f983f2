"""The fixed-rate Pacer every real-time loop keeps."""

import pytest

from honed.pacer import Pacer


def test_pacer_counts_ticks_it_could_not_keep():
    now = [0.0]
    slept: list[float] = []
    pacer = Pacer(
        fps=10, clock=lambda: now[0], sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s))
    )
    pacer.start()
    now[0] += 0.05
    pacer.wait()  # on time: sleeps the rest of the period
    assert slept == [pytest.approx(0.05)] and pacer.dropped == 0
    now[0] += 0.35  # a stall: ticks 0.2 and 0.3 pass unrecorded, tick 0.4 runs late at once
    pacer.wait()
    assert pacer.dropped == 2 and now[0] == pytest.approx(0.45)
    pacer.wait()  # back on the grid
    assert now[0] == pytest.approx(0.5) and pacer.dropped == 2
