"""Settings shared by every test: property tests are judged on their examples, never on wall-clock.

A loaded machine (CI beside other jobs, a training run) slows example generation and each example;
Hypothesis's deadline and too-slow health check would then fail tests whose behaviour is right.
"""

from hypothesis import HealthCheck, settings

settings.register_profile("honed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("honed")
