"""``honed-train``: imitation training. Also a helper for commands whose verb may be left out.

honed-train policy=diffusion dataset=outputs/demo/store task=pick_cube steps=20000
honed-train preset=debug dataset=... policy.objective=flow policy.sampler=euler
honed-train ensemble "members=[runs/seed0/checkpoints/best,runs/seed1/checkpoints/best]" output=runs/ensemble
honed-train push checkpoint=outputs/train/run/checkpoints/best repo_id=my-user/pick-cube
honed-train --help
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.cli import Verb, describe, run
from honed.errors import one_line_errors
from honed.policies import POLICIES
from honed.policies.hub import PushConfig, push
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


@dataclass
class EnsembleBuildConfig:
    """Join trained diffusion checkpoints into one ensemble checkpoint."""

    members: list[str] = field(default_factory=list)
    """Checkpoint directories of diffusion policies with one contract (at least two), e.g. training seeds."""
    output: str = ""
    """Directory to write the ensemble checkpoint to (must not exist yet)."""


def _ensemble(cfg: EnsembleBuildConfig) -> dict[str, Any]:
    from honed.policies import load_policy, save_policy
    from honed.policies.diffusion.ensemble import join_policies

    if not cfg.output:
        raise SystemExit("honed-train ensemble: output is not set: pass output=<new checkpoint directory>")
    if Path(cfg.output).exists():
        raise SystemExit(
            f"honed-train ensemble: output={cfg.output} exists: choose another directory or remove it"
        )
    try:
        ensemble = join_policies([load_policy(m) for m in cfg.members], cfg.members)
    except ValueError as err:  # a missing or malformed checkpoint, or members that do not fit together
        raise SystemExit(f"honed-train ensemble: {err}") from err
    save_policy(ensemble, cfg.output)
    summary = {"output": cfg.output, "members": list(cfg.members), "contract": ensemble.contract.digest,
               "parameters": sum(p.numel() for p in ensemble.parameters())}  # fmt: skip
    print(json.dumps(summary))
    return summary


VERBS = {
    "run": Verb(TrainConfig, _train, "train a policy by imitation on an episode store", {"debug": DEBUG}),
    "ensemble": Verb(EnsembleBuildConfig, _ensemble, "join trained diffusion checkpoints into one ensemble"),
    "push": Verb(PushConfig, push, "upload a checkpoint to the Hugging Face Hub (load: hf://namespace/name)"),
}


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if ("--help" in args or "-h" in args) and not (args and args[0] in VERBS and args[0] != "run"):
        chosen = next((a.split("=", 1)[1] for a in args if a.startswith("policy=")), "diffusion")
        print(f"honed-train [run] key=value ... [preset=debug]: {VERBS['run'].help}")
        print(
            f"honed-train ensemble members=[...] output=...: {VERBS['ensemble'].help} (see its --help)\n"
            f"honed-train push checkpoint=... repo_id=...: {VERBS['push'].help} (see its --help)\n\nfields:"
        )
        with one_line_errors("honed-train run"):  # an unknown policy= names the policies
            print(describe_train(chosen))
        return
    run_with_default_verb("train", VERBS, "run", args)
