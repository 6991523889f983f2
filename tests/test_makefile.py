"""`make test` never calls sudo: missing EGL packages are installed only by root, otherwise named in one
command to run. The Makefile runs for real; `id`, `dpkg`, `sudo` and `apt-get` are stand-ins on PATH."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = "libegl1 libgl1-mesa-dri libegl-mesa0"


def stand_ins(tmp_path: Path, uid: int) -> Path:
    """A bin folder where `id -u` says ``uid``, `dpkg -s` finds nothing, and sudo and apt-get log their calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "id": f"echo {uid}",
        "dpkg": "exit 1",
        "sudo": f'echo "sudo $*" >> {tmp_path}/calls',
        "apt-get": f'echo "apt-get $*" >> {tmp_path}/calls',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def make(tmp_path: Path, uid: int, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run make in the repository with the stand-ins first on PATH; the result and the logged calls."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    env["PATH"] = f"{stand_ins(tmp_path, uid)}:{env['PATH']}"
    # RUN=false and -o sync: should make get past the package check, lint and the suite stop at once.
    run = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "-o", "sync", "RUN=false", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    calls = tmp_path / "calls"
    return run, calls.read_text() if calls.exists() else ""


def test_make_test_as_a_user_prints_the_install_line_and_never_calls_sudo(tmp_path: Path):
    run, calls = make(tmp_path, 1000, "test")
    assert run.returncode != 0
    assert f"sudo apt-get update && sudo apt-get install -y {PACKAGES}" in run.stdout
    assert calls == ""


def test_make_test_as_root_installs_without_sudo(tmp_path: Path):
    run, calls = make(tmp_path, 0, "check-system-deps")
    assert run.returncode == 0, run.stderr
    assert calls.splitlines() == ["apt-get update -qq", f"apt-get install -y -qq {PACKAGES}"]


def test_the_demo_bootstrap_as_a_user_installs_with_sudo(tmp_path: Path):
    run, calls = make(tmp_path, 1000, "system-deps")
    assert run.returncode == 0, run.stderr
    assert calls.splitlines() == ["sudo apt-get update -qq", f"sudo apt-get install -y -qq {PACKAGES}"]
