"""A training run's output directory: who may write into it, and what ``overwrite=true`` removes.

A fresh run starts only in an empty (or new) directory: one holding anything is refused, naming the
ways on (``resume=true``, another ``output=``, or ``overwrite=true``, which removes the earlier run's
files first, and only those: :data:`RUN_FILES`). A loop calls ``check_output`` before any work and
``clear_output`` only once every other check has passed, so a refused run removes nothing. Its
``checkpoints/`` folder is kept by :mod:`honed.training.checkpoints`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

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


def clear_output(out: Path, command: str = "honed-train") -> list[str]:
    """Remove an earlier run's files from ``out`` (the rest stays); says on stderr, as ``command``,
    what it removed."""
    removed = present_run_files(out)
    for name in removed:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    if removed:
        print(f"{command}: overwrite=true: removed {', '.join(removed)} from {out}", file=sys.stderr)
    return removed
