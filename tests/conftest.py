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
