"""Fixtures of the policy tests: small real episode stores written by honed's own writer."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def state_store(tmp_path_factory: pytest.TempPathFactory, pk: SimpleNamespace) -> Path:
    root = tmp_path_factory.mktemp("stores") / "state"
    pk.record_store(root, [40, 30, 35], tasks=("move the arm", "wave the arm"))
    return root


@pytest.fixture(scope="session")
def image_store(tmp_path_factory: pytest.TempPathFactory, pk: SimpleNamespace) -> Path:
    root = tmp_path_factory.mktemp("stores") / "image"
    pk.record_store(root, [20, 24], cameras=("front",), size=(32, 32))
    return root
