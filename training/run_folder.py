"""A training run's output directory: who may write into it, its checkpoints, ``last`` and ``best``.

A fresh run starts only in an empty (or new) directory: one holding anything is refused, naming the
ways on (``resume=true``, another ``output=``, or ``overwrite=true``, which removes the earlier run's
files first, and only those: :data:`RUN_FILES`). A run prunes only the checkpoints it wrote itself
(with a resumed run's own earlier ones), never another's and never the one ``best`` points at.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honed.policies.checkpoint import write_json

BEST = "best.json"
RUN_FILES = ("checkpoints", "tensorboard", "summary.json", "history.jsonl", "evaluations.jsonl", "loss.png")
"""What a training run writes into its output directory; ``overwrite=true`` removes these, nothing else."""


def check_output(out: Path, resume: bool, overwrite: bool, init_from: str = "") -> None:
    """Refuse (ValueError, one line) a fresh run into a non-empty ``out`` unless ``overwrite``, a
    ``resume`` whose folder holds checkpoints but no ``last`` to continue from, both flags at once, and
    an overwrite that would remove the ``init_from`` checkpoint."""
    if resume and overwrite:
        raise ValueError(
            "resume=true continues the run in output, overwrite=true removes it: pass one of them"
        )
    if out.exists() and not out.is_dir():
        raise ValueError(f"output={out} is a file: pass output=<directory for the run>")
    if overwrite and init_from and Path(init_from).resolve().is_relative_to(out.resolve()):
        raise ValueError(
            f"init_from={init_from} lies in output={out}, which overwrite=true would remove: "
            "copy the checkpoint elsewhere first, or pass a new output="
        )
    root = out / "checkpoints"
    if resume:
        if not (root / "last").exists() and any(root.glob("step_*")):
            raise ValueError(
                f"resume=true: {root} holds checkpoints but no 'last' to continue from; pass a new output=, "
                "or overwrite=true to remove the earlier run"
            )
        return
    if overwrite or not out.is_dir() or not any(out.iterdir()):
        return
    present, last = present_run_files(out), root / "last"
    if not present:
        raise ValueError(
            f"output={out} is not empty and holds no training run: pass a new output=<empty directory>, or "
            "overwrite=true to train there beside its files (it removes only a run's files, and there are none)"
        )
    held = f"last checkpoint {last.resolve().name}" if last.exists() else "no checkpoint yet"
    raise ValueError(
        f"output={out} already holds a training run ({held}): pass resume=true to continue that run, a new "
        f"output=<empty directory>, or overwrite=true to remove its {', '.join(present)} first"
    )


def present_run_files(out: Path) -> list[str]:
    """The entries of :data:`RUN_FILES` that ``out`` holds."""
    return [name for name in RUN_FILES if (out / name).exists() or (out / name).is_symlink()]


def clear_output(out: Path) -> list[str]:
    """Remove an earlier run's files from ``out`` (the rest stays); says what it removed on stderr."""
    removed = present_run_files(out)
    for name in removed:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    if removed:
        print(f"honed-train: overwrite=true: removed {', '.join(removed)} from {out}", file=sys.stderr)
    return removed


def point(root: Path, name: str, folder: Path) -> None:
    """Atomically make ``root/name`` a relative link to ``folder``."""
    link = root / f"{name}.tmp"
    link.unlink(missing_ok=True)
    link.symlink_to(folder.name)
    os.replace(link, root / name)


def step_of(folder: Path) -> int:
    """The step a ``step_NNNNNNN`` folder holds."""
    return int(folder.name.removeprefix("step_"))


class Checkpoints:
    """The ``checkpoints/`` folder of one run: saves ``step_NNNNNNN``, points ``last`` at it and prunes
    all but the newest ``keep`` of the run's own steps (``best``'s is never pruned)."""

    def __init__(self, root: Path, resumed_from: int | None, keep: int = 2):
        """``resumed_from``: the step a resumed run continues from (its checkpoints up to there are its
        own); None for a fresh run, which owns none of what the folder may hold."""
        self.root, self.keep = root, keep
        earlier = [] if resumed_from is None else sorted(root.glob("step_[0-9]*"), key=step_of)
        self.own: list[Path] = [p for p in earlier if p.is_dir() and step_of(p) <= (resumed_from or 0)]

    def save(self, step: int, write: Callable[[Path], Path]) -> Path:
        """``write(folder)`` saves step ``step`` into ``folder``; then ``last`` points at it and the
        run's older checkpoints are pruned."""
        folder = write(self.root / f"step_{step:07d}")
        point(self.root, "last", folder)
        if folder not in self.own:
            self.own.append(folder)
        best = (self.root / "best").resolve() if (self.root / "best").exists() else None
        for old in self.own[: -self.keep]:
            if old.resolve() != best:
                shutil.rmtree(old, ignore_errors=True)
                self.own.remove(old)
        return folder


def record_best(root: Path, folder: Path, step: int, result: dict[str, Any]) -> dict[str, Any]:
    """Point ``best`` at ``folder`` if its evaluation beats the best so far (success rate, then mean
    return; a tie keeps the earlier step). Returns the best scores, also kept in ``best.json``."""
    score = {"step": step, "success_rate": result["success_rate"], "mean_return": result["mean_return"]}
    path = root / BEST
    held = json.loads(path.read_text()) if path.exists() and (root / "best").exists() else None
    rank = lambda r: (r["success_rate"], r["mean_return"])  # noqa: E731
    if held is not None and rank(held) >= rank(score):
        return held
    write_json(path, score)
    point(root, "best", folder)
    return score
