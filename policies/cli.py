"""``honed-train``: imitation training. Also a helper for commands whose verb may be left out.

honed-train policy=diffusion dataset=outputs/demo/store task=pick_cube steps=20000
honed-train preset=debug dataset=... policy.objective=flow policy.sampler=euler
honed-train --help
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from honed.cli import Verb, describe, run
from honed.policies import POLICIES
from honed.policies.train_config import DEBUG, TrainConfig


def run_with_default_verb(prog: str, verbs: dict[str, Verb], default: str, argv: Sequence[str] | None) -> Any:
    """Like ``honed.cli.run``, but ``key=value`` arguments without a verb go to ``default``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in [*verbs, "-h", "--help", "help"]:
        args = [default, *args]
    return run(prog, verbs, args)


def describe_train(policy: str = "diffusion") -> str:
    """--help text: the run's fields, then the chosen policy's fields as policy.<field>."""
    lines = [line for line in describe(TrainConfig) if not line.strip().startswith(("defaults", "policy "))]
    lines += describe(POLICIES.get(policy).config_class, "policy.")
    return "\n".join(lines)


def _train(cfg: TrainConfig) -> dict[str, Any]:
    from honed.policies.train import train

    try:
        summary = train(cfg)
    except ValueError as err:
        # bad config, data or checkpoint: refused before any work, and the message names the fix
        raise SystemExit(f"honed-train: {err}") from err
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}))
    return summary


VERBS = {
    "run": Verb(TrainConfig, _train, "train a policy by imitation on an episode store", {"debug": DEBUG})
}


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--help" in args or "-h" in args:
        chosen = next((a.split("=", 1)[1] for a in args if a.startswith("policy=")), "diffusion")
        print(f"honed-train [run] key=value ... [preset=debug]: {VERBS['run'].help}\n\nfields:")
        print(describe_train(chosen))
        return
    run_with_default_verb("train", VERBS, "run", args)
