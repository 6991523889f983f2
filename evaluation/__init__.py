"""Evaluation in the twin: a checkpoint's episodes on seed-paired scenes, Wilson intervals, paired
comparisons and reports (``honed-eval``). Imitation, fine-tuning and deployment all report through it.

- ``evaluate`` (``honed.evaluation.evaluate``): ``honed-eval``, ``evaluate_policy``, ``compare``.
- ``stats``: ``wilson_interval``, ``summarize``, ``paired_comparison``.
- ``report``: PNGs, the HTML index, videos re-rendered from the recorded worlds.
"""
