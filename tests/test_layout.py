"""The import name maps onto the repository: every package folder is listed for wheels too."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    skip = {".venv", "tests", ".typecheck", "build", "outputs"}
    found = {"honed"} | {
        "honed." + ".".join(p.parent.relative_to(ROOT).parts)
        for p in ROOT.rglob("__init__.py")
        if p.parent != ROOT and not (set(p.relative_to(ROOT).parts) & skip)
    }
    assert found <= listed, f"add these to [tool.setuptools] packages: {sorted(found - listed)}"


def test_console_scripts_point_at_importable_functions():
    import importlib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, target in scripts.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name
