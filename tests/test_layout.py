"""The import name maps onto the repository: every package folder is listed for wheels too."""

import ast
import functools
import importlib.metadata
import os
import re
import sys
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


# Declared distributions that no module imports by name, and what needs them.
USED_WITHOUT_IMPORT = {
    "tensorboard": "torch.utils.tensorboard's SummaryWriter imports it (training/report.py)",
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    """Distribution names in [project] dependencies and every optional extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [
        s for extra in project["optional-dependencies"].values() for s in extra
    ]
    return {_normalise(re.split(r"[\s\[<>=!~;(]", s, maxsplit=1)[0]) for s in specs}


@functools.cache
def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module name -> files importing it, over every module outside tests/."""
    skip = {".venv", "tests", ".typecheck", "build", "outputs", ".git"}
    found: dict[str, set[str]] = {}
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in skip]
        for rel in (Path(folder, f).relative_to(ROOT) for f in files if f.endswith(".py")):
            _collect_imports(rel, found)
    return found


def _collect_imports(rel: Path, found: dict[str, set[str]]) -> None:
    for node in ast.walk(ast.parse((ROOT / rel).read_text(), str(rel))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for top in {n.split(".")[0] for n in names} - set(sys.stdlib_module_names) - {"honed"}:
            found.setdefault(top, set()).add(str(rel))


def test_every_imported_distribution_is_declared():
    declared, providers = _declared(), importlib.metadata.packages_distributions()
    undeclared = {
        top: sorted(files)
        for top, files in _third_party_imports().items()
        if not {_normalise(d) for d in providers.get(top, [])} & declared
    }
    assert not undeclared, (
        "these imports come from no distribution in pyproject.toml's [project] dependencies or extras "
        f"(declare the distribution that provides each): {undeclared}"
    )


def test_every_declared_distribution_is_imported():
    providers = importlib.metadata.packages_distributions()
    imported = {_normalise(d) for top in _third_party_imports() for d in providers.get(top, [])}
    unused = _declared() - imported - set(USED_WITHOUT_IMPORT)
    assert not unused, f"declared in pyproject.toml but imported by no module (remove them): {sorted(unused)}"
