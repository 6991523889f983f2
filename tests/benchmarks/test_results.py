"""write_docs=true: a run's figures become rows of its benchmark's table in docs/benchmarks.md, and
its whole record is appended to docs/experiments.md."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

import honed.benchmarks.results
from honed.benchmarks.results import HEADER, Figure, cells, record_in_docs, recorded_command

PAGE = """# Benchmarks

How to read this page.

## `honed-bench bus`

| figure | value | target | met | command | machine | date |
|---|---|---|---|---|---|---|
| so101 p99 <!-- bench:bus_so101 --> | 1.3 | <= 1.76 | met | `honed-bench bus robot=so101` | a | 2026-01-01 |
| koch p99 <!-- bench:bus_koch --> | 2.7 | <= 3.08 | met | `honed-bench bus robot=koch` | b | 2026-01-02 |

Reading the bus figures.

## `honed-bench sim`

| figure | value | target | met | command | machine | date |
|---|---|---|---|---|---|---|
| steps/s <!-- bench:sim --> | 12665 | - | - | `honed-bench sim` | c | 2026-01-03 |
"""


@pytest.fixture
def docs(tmp_path, monkeypatch):
    monkeypatch.setattr(honed.benchmarks.results, "machine", lambda: "test machine")
    path = tmp_path / "benchmarks.md"
    path.write_text(PAGE)
    return path


def table_of(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [line for line in lines[start:end] if line.startswith("|")]


def test_a_rerun_replaces_its_own_rows_in_place_and_logs_the_run(docs):
    figures = [Figure("so101 p50", "1.1"), Figure("so101 p99", "1.9", "<= 1.76", "missed")]
    record_in_docs(
        "bus_so101", "honed-bench bus robot=so101 write_docs=true", "| full | record |", figures, docs
    )
    text = docs.read_text()
    rows = table_of(text, "## `honed-bench bus`")
    today = datetime.date.today().isoformat()
    assert [cells(r)[:4] for r in rows[2:]] == [
        ["so101 p50 <!-- bench:bus_so101 -->", "1.1", "-", "-"],
        ["so101 p99 <!-- bench:bus_so101 -->", "1.9", "<= 1.76", "missed"],
        ["koch p99 <!-- bench:bus_koch -->", "2.7", "<= 3.08", "met"],
    ]
    assert cells(rows[2])[4:] == ["`honed-bench bus robot=so101 write_docs=true`", "test machine", today]
    assert "Reading the bus figures." in text and table_of(text, "## `honed-bench sim`")[2].endswith(
        "2026-01-03 |"
    )
    log = (docs.parent / "experiments.md").read_text()
    assert f"### {today}: `bus_so101`" in log and "| full | record |" in log
    assert "Command: `honed-bench bus robot=so101 write_docs=true` on test machine." in log

    record_in_docs("bus_so101", "honed-bench bus robot=so101 write_docs=true", "| again |", figures[:1], docs)
    rows = table_of(docs.read_text(), "## `honed-bench bus`")
    assert [cells(r)[0] for r in rows[2:]] == [
        "so101 p50 <!-- bench:bus_so101 -->",
        "koch p99 <!-- bench:bus_koch -->",
    ]
    log = (docs.parent / "experiments.md").read_text()
    assert log.index("| full | record |") < log.index("| again |")  # both runs kept, in order
    assert log.count("## Runs recorded by `write_docs=true`") == 1


def test_new_figures_join_their_benchmarks_table_or_open_its_section(docs):
    record_in_docs(
        "sim_cuda", "honed-bench sim device=cuda write_docs=true", "r", [Figure("warp", "9")], docs
    )
    record_in_docs(
        "teleop", "honed-bench teleop write_docs=true", "r", [Figure("hz", "60.0", ">= 58.8", "met")], docs
    )
    text = docs.read_text()
    assert [cells(r)[0] for r in table_of(text, "## `honed-bench sim`")[2:]] == [
        "steps/s <!-- bench:sim -->",
        "warp <!-- bench:sim_cuda -->",
    ]
    assert table_of(text, "## `honed-bench teleop`")[:2] == HEADER.splitlines()
    assert recorded_command("teleop", docs) == "honed-bench teleop write_docs=true"
    assert recorded_command("record", docs) is None


def test_a_section_without_a_table_gets_one(docs):
    docs.write_text("# Benchmarks\n\n## `honed-bench load`\n\nNot measured yet.\n")
    record_in_docs(
        "load", "honed-bench load write_docs=true", "r", [Figure("speedup", "6.51", ">= 2", "met")], docs
    )
    text = docs.read_text()
    assert table_of(text, "## `honed-bench load`")[:2] == HEADER.splitlines() and "Not measured yet." in text


WORDS = st.text(st.one_of(st.characters(whitelist_categories=("L", "N", "P", "S"), blacklist_characters="\\`"),
                         st.just(" ")))  # fmt: skip


@given(words=WORDS, cell=WORDS)
def test_a_recorded_command_reads_back_whatever_it_holds(tmp_path_factory, words, cell):
    path = tmp_path_factory.mktemp("docs") / "benchmarks.md"
    path.write_text("# Benchmarks\n")
    command = f"honed-bench learning {words}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(honed.benchmarks.results, "machine", lambda: "a | b")
        record_in_docs("learning_x", command, "r", [Figure(cell, "1 | 2", "| 3", "met")], path)
    assert recorded_command("learning_x", path) == command
    row = next(line for line in path.read_text().splitlines() if "bench:learning_x" in line)
    assert cells(row)[:4] == [f"{cell} <!-- bench:learning_x -->".strip(), "1 | 2", "| 3", "met"]
    assert cells(row)[5] == "a | b"


def test_a_benchmark_run_with_write_docs_fills_its_table(docs, monkeypatch, capsys):
    from honed.benchmarks.codecs import CodecBenchConfig, run_bench

    monkeypatch.setattr(honed.benchmarks.results, "DOCS", docs)
    run_bench(CodecBenchConfig(frames=4, height=48, width=64, write_docs=True))
    rows = table_of(docs.read_text(), "## `honed-bench codecs`")[2:]
    assert len(rows) == 6 and all("<!-- bench:codecs -->" in row for row in rows)
    assert cells(rows[0])[1].count(" / ") == 3
    assert "| png_fast |" in (docs.parent / "experiments.md").read_text()


def test_targets_are_judged_on_the_figures_they_name():
    from honed.benchmarks.bus import figures as bus
    from honed.benchmarks.learning import figure as learning
    from honed.benchmarks.policy import figures as policy
    from honed.benchmarks.sim import figures as sim
    from honed.benchmarks.teleop import figures as teleop

    def verdicts(rows):
        return [row.met for row in rows if row.met != "-"]

    bus_run = {"robot": "so101", "cycle_ms_p50": 1.1, "cycle_ms_p99": 1.9, "byte_time_bound_ms": 0.88,
               "max_rate_hz": 900.0, "target_met": False}  # fmt: skip
    assert verdicts(bus(bus_run)) == ["missed"]
    teleop_run = {"target_hz": 60.0, "achieved_hz": 59.0, "capacity_hz": 50.0, "period_ms_p99": 18.9, "overruns": 0,
                  "follower_lag_ms": 67.0}  # fmt: skip
    assert verdicts(teleop(teleop_run)) == ["met", "missed"]
    sim_run = {"num_envs": 64, "batched_env_steps_per_s": 12665.0, "batched_vs_async": 2.85,
               "batched_vs_raw_bound": 0.87, "batched_vs_sync": 2.54}  # fmt: skip
    assert verdicts(sim(sim_run)) == ["met", "met", "missed"]
    policy_run = {"honed_ddim10_ms_p50": 46.0, "lerobot_ddim10_ms_p50": 144.4, "ddim10_honed_over_lerobot": 0.318,
                  "honed_flow10_ms_p50": 46.4}  # fmt: skip
    assert verdicts(policy(policy_run)) == ["met"] and len(policy(policy_run)) == 3
    run = {"task": "push_t", "obs": "state", "demos": 100, "eval_episodes": 200, "success_rate": 0.885,
           "success_ci95": [0.833, 0.922]}  # fmt: skip
    assert learning(run)[1:] == ("88.5% (83.3%-92.2%)", ">= 80%", "met")
    assert learning(run | {"task": "peg_insert"})[2:] == ("-", "-")
