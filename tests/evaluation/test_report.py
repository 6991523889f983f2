"""Evaluation reports: the index names how failed episodes ended; labels tell two checkpoints apart."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from honed.evaluation.report import checkpoint_labels, write_index
from honed.evaluation.stats import summarize


def test_summary_counts_how_failed_episodes_ended_most_common_first(tmp_path):
    endings = ["open jaws at the cube", "closed jaws lifted without the cube", "open jaws at the cube"]
    episodes = [{"seed": 0, "success": True, "return": 1.0, "length": 5}] + [
        {"seed": i + 1, "success": False, "return": 0.0, "length": 9, "ending": e}
        for i, e in enumerate(endings)
    ]
    summary = summarize(episodes)
    assert list(summary["failure_endings"].items()) == [
        ("open jaws at the cube", 2),
        ("closed jaws lifted without the cube", 1),
    ]
    assert summarize(episodes[:1])["failure_endings"] == {}  # no failure, or a task that names none
    page = write_index({"task": "pick_cube", **summary}, {}, tmp_path / "index.html").read_text()
    assert "open jaws at the cube (2), closed jaws lifted without the cube (1)" in page


def test_checkpoint_labels_name_the_run_and_the_checkpoint():
    assert checkpoint_labels("runs/seed0/checkpoints/best", "runs/seed1/checkpoints/best") == (
        "seed0/best",
        "seed1/best",
    )
    assert checkpoint_labels("/x/run/checkpoints/last", "/y/run/checkpoints/last") == (
        "x/run/last",
        "y/run/last",
    )
    assert checkpoint_labels("runs/ensemble", "runs/seed0/checkpoints/best") == ("ensemble", "seed0/best")
    assert checkpoint_labels("runs/ens", "runs/ens") == ("ens (a)", "ens (b)")


@given(
    st.lists(st.sampled_from(["a", "b", "checkpoints", "last"]), min_size=1, max_size=4),
    st.lists(st.sampled_from(["a", "b", "checkpoints", "last"]), min_size=1, max_size=4),
)
def test_checkpoint_labels_always_tell_two_checkpoints_apart(a, b):
    labels = checkpoint_labels("/".join(a), "/".join(b))
    assert labels[0] != labels[1] and all(labels)
