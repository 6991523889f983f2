"""What every training loop of honed shares: imitation (``honed-train``) and fine-tuning alike.

The loop itself stays in its command (``policies/train.py`` reads top to bottom); the parts here are
the ones a second loop would otherwise copy:

- :mod:`~honed.training.run_folder`: who may write into an output directory (``check_output``) and
  ``overwrite=true``'s removal of an earlier run's files only (``clear_output``).
- :mod:`~honed.training.checkpoints`: ``CheckpointManager`` saves ``checkpoints/step_NNNNNNN`` (the
  deployable EMA weights plus the exact-resume state), points ``last`` at the newest, prunes only the
  run's own checkpoints, and keeps ``best`` (with ``best.json``) on the best evaluation.
- :mod:`~honed.training.state`: the exact-resume state (optimizer, LR schedule, EMA, RNG, the raw
  weights and the run's config) as safetensors + JSON, ``restore_training_state``, and ``BatchOrder``,
  a data order that is a pure function of (seed, step).
- :mod:`~honed.training.ema`: ``EMA``, the moving average of the trainable weights, and
  ``ema_weights``, which puts the averaged weights in place for saving or evaluating.
- :mod:`~honed.training.guard`: ``FiniteGuard`` stops a run at the first non-finite loss or gradient
  (``TrainingDiverged``), naming the step, what it trained on and the last good checkpoint.
- :mod:`~honed.training.report`: ``TrainLog``, TensorBoard scalars, ``history.jsonl``,
  ``evaluations.jsonl``, ``summary.json`` and ``loss.png``, each surviving a resume.
- :mod:`~honed.training.evaluator`: ``PeriodicEvaluator`` runs an evaluation callable every N steps and
  after the last one, on the EMA weights in eval mode.

A fine-tuning loop builds them in the same order as ``honed-train``: ``check_output`` before any
work; ``EMA`` over its trainable parameters; ``restore_training_state`` from ``checkpoints/last`` when
resuming; a ``CheckpointManager``, ``FiniteGuard``, ``TrainLog`` and a ``PeriodicEvaluator`` whose
callable runs its evaluation (so this package never imports evaluation code); then per step: guard the
loss and gradient norm, step, ``ema.step()``, ``log.step``, save when due, evaluate when due and
``record_best``. Each module imports only torch, its libraries and policy checkpoints, never a
command's loop or evaluation.
"""
