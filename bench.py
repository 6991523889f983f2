"""``honed-bench <name>``: benchmarks of every part. Each prints one JSON object as its last line."""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from honed.cli import Verb, run

BENCHES: dict[str, Verb] = {}
"""name -> Verb; each area's bench module adds itself in ``_load``."""

DOCS = Path(__file__).resolve().parent / "docs" / "benchmarks.md"


def machine() -> str:
    """The CPU model, cores, memory, accelerator and Python of this machine (benchmarks vary across machines)."""
    import os

    import torch

    cpuinfo = Path("/proc/cpuinfo")
    names = (
        [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        if cpuinfo.exists()
        else []
    )
    cpu = names[0] if names else platform.processor() or "unknown CPU"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu} ({platform.machine()}), {os.cpu_count()} cores, {memory:.0f} GiB, {gpu}, "
        f"Python {platform.python_version()}"
    )


def emit(result: dict[str, Any]) -> dict[str, Any]:
    """Print the result as the last line of output."""
    print(json.dumps(result, sort_keys=False))
    return result


def recorded_command(name: str, path: Path | None = None) -> str | None:
    """The command recorded in the ``name`` section of docs/benchmarks.md (None: no such section)."""
    path = path or DOCS
    text = path.read_text() if path.exists() else ""
    found = re.search(re.escape(f"<!-- bench:{name} -->") + r"\nCommand: `([^`]*)`", text)
    return found.group(1) if found else None


def record_in_docs(name: str, command: str, table: str, path: Path | None = None) -> None:
    """Replace (or append) the ``name`` section of docs/benchmarks.md with the command and a table."""
    path = path or DOCS
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    body = f"{begin}\nCommand: `{command}` on {machine()}.\n\n{table}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip() + "\n\n" + body + "\n"
    path.write_text(text)


def _load() -> None:
    from honed.sim.bench_sim import VERB as sim_verb

    BENCHES.setdefault("sim", sim_verb)
    from honed.sim.experts.bench_experts import VERB as experts_verb

    BENCHES.setdefault("experts", experts_verb)
    from honed.data.bench_codecs import VERB as codecs_verb
    from honed.data.bench_load import VERB as load_verb
    from honed.data.bench_record import VERB as record_verb

    BENCHES.setdefault("record", record_verb)
    BENCHES.setdefault("load", load_verb)
    BENCHES.setdefault("codecs", codecs_verb)
    from honed.hardware.bench_bus import VERB as bus_verb
    from honed.hardware.bench_teleop import VERB as teleop_verb

    BENCHES.setdefault("bus", bus_verb)
    BENCHES.setdefault("teleop", teleop_verb)
    from honed.policies.bench_learning import VERB as learning_verb
    from honed.policies.bench_policy import VERB as policy_verb
    from honed.policies.bench_pose import VERB as pose_verb

    BENCHES.setdefault("policy", policy_verb)
    BENCHES.setdefault("learning", learning_verb)
    BENCHES.setdefault("pose", pose_verb)


def main(argv: Sequence[str] | None = None) -> None:
    _load()
    run("bench", BENCHES, argv)
