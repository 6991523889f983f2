"""Settings shared by every test: property tests are judged on their examples, never on wall-clock;
a MuJoCo warning (a world going unstable) is reported in pytest's warnings summary under the test
that caused it.

A loaded machine (CI beside other jobs, a training run) slows example generation and each example;
Hypothesis's deadline and too-slow health check would then fail tests whose behaviour is right.
"""

import warnings

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("honed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("honed")


class MujocoWarning(UserWarning):
    """MuJoCo warned during a test (honed.sim.mujoco's log)."""


@pytest.fixture(autouse=True)
def report_mujoco_warnings(caplog):
    yield
    for record in caplog.get_records("call"):
        if record.name == "honed.sim.mujoco":
            warnings.warn(MujocoWarning(record.getMessage()), stacklevel=1)


@pytest.fixture(params=["offline", "closed_port"])
def unreachable_hub(request, monkeypatch, tmp_path):
    """The Hugging Face Hub out of reach, one way per parameter: offline mode (HF_HUB_OFFLINE=1), or an
    endpoint on a loopback port nothing listens on. The caches are empty and a token is set, so every
    Hub call has to go out, and fails. Returns the environment a subprocess needs for the same."""
    import socket

    from huggingface_hub import constants

    env = {"HF_HOME": str(tmp_path / "hf_home"), "HF_LEROBOT_HOME": str(tmp_path / "lerobot_home"),
           "HF_TOKEN": "hf_unused_test_token"}  # fmt: skip
    if request.param == "offline":
        env["HF_HUB_OFFLINE"] = "1"
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            env["HF_ENDPOINT"] = f"http://127.0.0.1:{probe.getsockname()[1]}"  # closed once the probe is
        monkeypatch.setattr(constants, "ENDPOINT", env["HF_ENDPOINT"])
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def fake_hub(monkeypatch):
    """huggingface_hub's own API with its network calls stubbed: ``whoami``, repo creation, tags, card
    pushes, and ``upload_folder``, which records the files it would upload (chosen by huggingface_hub's
    own pattern filter, default ignores included). Returns the list of calls, ``(name, kwargs)``."""
    from pathlib import Path

    from huggingface_hub import HfApi, RepoCard
    from huggingface_hub.utils import filter_repo_objects
    from huggingface_hub.utils._paths import DEFAULT_IGNORE_PATTERNS

    calls: list[tuple[str, dict]] = []

    def record(name, result=None):
        def call(self, *args, **kwargs):
            calls.append((name, {"args": args, **kwargs}))
            return result

        return call

    def upload_folder(self, *, folder_path, allow_patterns=None, ignore_patterns=None, **kwargs):
        root = Path(folder_path)
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        ignore = [*([ignore_patterns] if isinstance(ignore_patterns, str) else ignore_patterns or []),
                  *DEFAULT_IGNORE_PATTERNS]  # fmt: skip
        uploaded = list(filter_repo_objects(files, allow_patterns=allow_patterns, ignore_patterns=ignore))
        calls.append(("upload_folder", {"folder_path": root, "uploaded": uploaded, **kwargs}))
        return f"https://hub.test/{kwargs.get('repo_id')}/commit/0"

    monkeypatch.setenv("HF_TOKEN", "hf_unused_test_token")
    monkeypatch.setattr(HfApi, "whoami", record("whoami", {"name": "tester"}))
    for name in ("create_repo", "create_tag", "delete_tag", "create_branch"):
        monkeypatch.setattr(HfApi, name, record(name))
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(RepoCard, "push_to_hub", record("card"))
    return calls
