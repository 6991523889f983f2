"""Where each use of the twin's reset seeds starts, so that no figure is read on scenes trained on.

Episode k of a recording, an in-training evaluation or ``honed-eval`` starts from the reset seed
``start + k``. Recording starts at 0 (``honed-record seed=0``), evaluation during training at
:data:`TRAINING_EVAL_SEED` (it chooses ``best``) and ``honed-eval`` at :data:`HELD_OUT_SEED`, so a
store of fewer than 10,000 demos shares no scene with either evaluation, and the reported figure does
not read the scenes ``best`` was chosen on.
"""

from __future__ import annotations

TRAINING_EVAL_SEED = 10_000
"""First reset seed of the evaluations during training (``honed-train task=...``)."""
HELD_OUT_SEED = 100_000
"""First reset seed of ``honed-eval`` by default: scenes neither recording nor in-training evaluation draws."""
