"""Domain randomisation: per-world physics and visuals, drawn from each world's seed, and stable."""

import numpy as np
import pytest

from honed.features import PRIVILEGED, image_key
from honed.sim.config import RandomizationConfig, SimConfig
from honed.sim.core import TwinCore
from honed.sim.tasks.base import HOME_QPOS

PHYSICAL = RandomizationConfig(friction=(0.5, 1.5), mass=(0.5, 3.0))
VISUAL = RandomizationConfig(object_color=0.3, light=0.4, camera_pos=0.02)


def _core(
    randomization: RandomizationConfig, cameras: tuple[str, ...] = (), backend: str = "mujoco"
) -> TwinCore:
    cfg = SimConfig(
        task="pick_cube", randomization=randomization, cameras=cameras, image_height=48, image_width=64
    )
    return TwinCore(cfg, 3, backend, **({"warp_device": "cpu"} if backend == "warp" else {}))


def test_masses_and_friction_differ_per_world_and_follow_the_seed():
    core = _core(PHYSICAL)
    cube = core.model.body("cube").id
    core.seed([0, 1, 0])
    core.reset_worlds(np.arange(3))
    masses = [m.body_mass[cube] for m in core.backend.models]
    frictions = [m.geom_friction[0, 0] for m in core.backend.models]
    assert masses[0] != masses[1] and masses[0] == masses[2]
    assert frictions[0] != frictions[1] and frictions[0] == frictions[2]
    base = core.model.body_mass[cube]
    assert all(0.5 * base <= m <= 3.0 * base for m in masses)
    # derived constants follow the new mass, so the dynamics see it
    subtree = [m.body_subtreemass[cube] for m in core.backend.models]
    np.testing.assert_allclose(subtree, masses)
    core.close()


def test_randomised_physics_stays_finite_over_an_episode():
    core = _core(PHYSICAL)
    core.seed([3, 4, 5])
    core.reset_worlds(np.arange(3))
    rng = np.random.default_rng(0)
    for _ in range(60):
        core.step(HOME_QPOS + rng.normal(0, 0.3, size=(3, 6)))
    privileged = core.observe()[PRIVILEGED]
    assert np.isfinite(privileged).all()
    assert (privileged[:, 2] > -0.01).all() and (privileged[:, 2] < 0.3).all()  # the cube stays on the table
    core.close()


def _front_images(randomization: RandomizationConfig) -> np.ndarray:
    core = _core(randomization, cameras=("front",))
    core.seed([0, 1, 0])
    core.reset_worlds(np.arange(3))
    core.step(np.tile(HOME_QPOS, (3, 1)))
    images = core.observe()[image_key("front")].astype(int)
    core.close()
    return images


@pytest.mark.parametrize(
    "visual",
    [
        RandomizationConfig(object_color=0.4),
        RandomizationConfig(light=0.4),
        RandomizationConfig(camera_pos=0.02),
    ],
    ids=["object_color", "light", "camera_pos"],
)
def test_each_visual_hook_changes_the_image_and_follows_the_seed(visual):
    plain, randomised = _front_images(RandomizationConfig()), _front_images(visual)
    for i in range(3):
        assert (plain[i] != randomised[i]).any(axis=-1).sum() >= 10  # the cube alone covers ~25 pixels
    np.testing.assert_array_equal(randomised[0], randomised[2])  # same seed, same draw


def test_physical_randomisation_on_a_shared_model_backend_is_refused():
    with pytest.raises(ValueError, match="randomization.friction/mass"):
        _core(PHYSICAL, backend="warp")
