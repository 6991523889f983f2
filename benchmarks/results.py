"""How a benchmark reports: one JSON object as the last line of output, the machine it ran on, and its
figures as rows of its table in docs/benchmarks.md (the whole run appended to docs/experiments.md)."""

from __future__ import annotations

import datetime
import json
import platform
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


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


class Figure(NamedTuple):
    """One row of a benchmark's table in docs/benchmarks.md (the command, machine and date are added)."""

    figure: str
    """What is measured, and on what."""
    value: str
    """The measured value, as printed."""
    target: str = "-"
    """The value it must reach ("-": none)."""
    met: str = "-"
    """``met``, ``missed`` or "-" (no target)."""


def met(ok: bool) -> str:
    """The ``met`` column's word for a target reached or not."""
    return "met" if ok else "missed"


HEADER = "| figure | value | target | met | command | machine | date |\n|---|---|---|---|---|---|---|"
"""The head of every benchmark's table in docs/benchmarks.md."""


def marker(name: str) -> str:
    """The invisible tag a row of the ``name`` figures carries in its first cell."""
    return f"<!-- bench:{name} -->"


def cells(row: str) -> list[str]:
    """A markdown table row's cells, unescaped (``\\|`` stays inside its cell)."""
    inner = row.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def rows_of(name: str, text: str) -> list[int]:
    """Line numbers of the table rows tagged with the ``name`` figures."""
    return [i for i, line in enumerate(text.splitlines()) if line.startswith("|") and marker(name) in line]


def recorded_command(name: str, path: Path | None = None) -> str | None:
    """The command of the ``name`` figures in docs/benchmarks.md (None: none recorded)."""
    path = path or DOCS
    text = path.read_text() if path.exists() else ""
    found = rows_of(name, text)
    return cells(text.splitlines()[found[0]])[4].strip("`") if found else None


def table_rows(name: str, command: str, figures: Sequence[Figure], day: str) -> list[str]:
    """The ``name`` figures as rows of a benchmark's table, each tagged with its marker."""
    where = machine()
    rows = []
    for f in figures:
        row = [f"{f.figure} {marker(name)}", f.value, f.target, f.met, f"`{command}`", where, day]
        rows.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |")
    return rows


def place_rows(text: str, bench: str, name: str, rows: list[str]) -> str:
    """``text`` with the ``name`` rows replaced by ``rows``, or added to the end of the ``bench``
    section's table (the section and table are created when missing)."""
    lines = text.splitlines()
    old = rows_of(name, text)
    if old:
        kept = [line for i, line in enumerate(lines) if i not in set(old)]
        return "\n".join(kept[: old[0]] + rows + kept[old[0] :]) + "\n"
    heading = f"## `honed-bench {bench}`"
    if heading not in lines:
        return text.rstrip() + f"\n\n{heading}\n\n{HEADER}\n" + "\n".join(rows) + "\n"
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    table = [i for i in range(start, end) if lines[i].startswith("|")]
    if table:
        at = table[-1] + 1
    else:
        at, rows = start, ["", *HEADER.splitlines(), *rows]
    return "\n".join(lines[:at] + rows + lines[at:]).rstrip() + "\n"


def record_in_docs(
    name: str, command: str, record: str, figures: Sequence[Figure], path: Path | None = None
) -> None:
    """Put the ``name`` figures in their benchmark's table in docs/benchmarks.md (replacing the rows
    of an earlier run of ``name``), and append the run's whole ``record`` to docs/experiments.md
    under a dated heading. The benchmark is the command's second word."""
    path = path or DOCS
    bench, day = command.split()[1], datetime.date.today().isoformat()
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    path.write_text(place_rows(text, bench, name, table_rows(name, command, figures, day)))
    experiments = path.with_name("experiments.md")
    log = experiments.read_text() if experiments.exists() else "# Experiments\n"
    if RECORDED not in log.splitlines():
        log = log.rstrip() + f"\n\n{RECORDED}\n"
    entry = f"### {day}: `{name}`\n\nCommand: `{command}` on {machine()}.\n\n{record.strip()}\n"
    experiments.write_text(log.rstrip() + "\n\n" + entry)


RECORDED = "## Runs recorded by `write_docs=true`"
"""The heading of docs/experiments.md under which each recorded run is appended."""
