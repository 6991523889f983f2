"""Training and evaluation stand apart: each imports alone, and neither imports the other with itself."""

from __future__ import annotations

import subprocess
import sys

TRAINING = "honed.policies.train"
EVALUATION = "honed.evaluation.evaluate"
SHARED = ["checkpoints", "ema", "evaluator", "guard", "report", "run_folder", "state"]


def imported_with(modules: str) -> set[str]:
    """The honed modules that importing ``modules`` (comma-separated), alone in a fresh interpreter, imports."""
    code = f"import sys, {modules}; print(*sorted(m for m in sys.modules if m.startswith('honed')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


def test_training_imports_evaluation_only_when_it_evaluates():
    modules = imported_with(TRAINING)
    assert TRAINING in modules and EVALUATION not in modules


def test_evaluation_never_imports_training():
    modules = imported_with(EVALUATION)
    assert EVALUATION in modules and TRAINING not in modules and "honed.training" not in modules


def test_the_shared_training_parts_import_without_a_loop_or_evaluation():
    modules = imported_with(", ".join(f"honed.training.{name}" for name in SHARED))
    assert {f"honed.training.{name}" for name in SHARED} <= modules
    assert not modules & {TRAINING, EVALUATION, "honed.sim", "honed.policies.train_config"}
