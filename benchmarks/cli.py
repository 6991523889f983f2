"""``honed-bench <name>``: benchmarks of every part. Each prints one JSON object as its last line."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

from honed.cli import Verb, run

MODULES: dict[str, str] = {
    "sim": "honed.benchmarks.sim",
    "experts": "honed.benchmarks.experts",
    "record": "honed.benchmarks.record",
    "load": "honed.benchmarks.load",
    "codecs": "honed.benchmarks.codecs",
    "bus": "honed.benchmarks.bus",
    "teleop": "honed.benchmarks.teleop",
    "policy": "honed.benchmarks.policy",
    "learning": "honed.benchmarks.learning",
    "pose": "honed.benchmarks.pose",
}
"""Verb -> the module whose ``VERB`` runs it, in the order ``--help`` lists them."""

BENCHES: dict[str, Verb] = {}
"""Verb -> Verb, filled from ``MODULES`` by ``_load`` (a benchmark's imports wait until it is asked for)."""


def _load() -> None:
    for name, module in MODULES.items():
        BENCHES.setdefault(name, import_module(module).VERB)


def main(argv: Sequence[str] | None = None) -> None:
    _load()
    run("bench", BENCHES, argv)
