"""The twin behind the Robot seam: same calls as a real arm, refuses bad targets before moving."""

import numpy as np
import pytest

from honed.features import ACTION, PRIVILEGED, STATE, TASK, image_key
from honed.robot import ROBOTS, RobotError
from honed.sim import twin  # noqa: F401  (registers so101_twin)
from honed.sim.tasks.base import HOME_QPOS


def test_twin_robot_reads_writes_and_moves_toward_targets():
    robot = ROBOTS.get("so101_twin")(task="pick_cube", cameras=("front",), image_height=32, image_width=32)
    assert set(robot.features) == {STATE, "observation.images.front", PRIVILEGED, TASK, ACTION}
    with robot:
        obs = robot.read()
        assert obs["observation.images.front"].shape == (32, 32, 3)
        target = HOME_QPOS.copy()
        target[0] = 0.4
        for _ in range(30):
            sent = robot.write(target)
        np.testing.assert_allclose(sent, target, atol=1e-6)
        assert robot.read()[STATE][0] == pytest.approx(0.4, abs=0.03)
    assert not robot.is_connected


def test_twin_robot_refuses_non_finite_targets_and_clips_ranges():
    with ROBOTS.get("so101_twin")(task="pick_cube", cameras=()) as robot:
        before = robot.read()[STATE].copy()
        bad = HOME_QPOS.copy()
        bad[3] = np.nan
        with pytest.raises(ValueError, match="non-finite"):
            robot.write(bad)
        np.testing.assert_array_equal(robot.read()[STATE], before)  # nothing moved
        far = HOME_QPOS.copy()
        far[0] = 9.0
        assert robot.write(far)[0] == pytest.approx(1.91986)


def test_twin_robot_needs_connect_and_reseeds_scene():
    robot = ROBOTS.get("so101_twin")(task="pick_cube", cameras=())
    with pytest.raises(RobotError, match="not connected"):
        robot.read()
    robot.connect()
    a = robot.reset_scene(seed=1)[PRIVILEGED].copy()
    b = robot.reset_scene(seed=2)[PRIVILEGED]
    assert not np.allclose(a, b)
    robot.disconnect()


@pytest.mark.filterwarnings("ignore:MuJoCo:UserWarning")  # the instability is the point
def test_twin_robot_reports_diverged_physics_as_a_robot_fault():
    with ROBOTS.get("so101_twin")(task="pick_cube", cameras=()) as robot:
        robot.write(HOME_QPOS)
        robot.env.data.qvel[0] = np.nan
        with pytest.raises(RobotError, match="physics diverged.*reset_scene"):
            robot.write(HOME_QPOS)
        robot.reset_scene(seed=3)
        robot.write(HOME_QPOS)  # a fresh scene steps cleanly
        assert np.isfinite(robot.read()[STATE]).all()


def test_the_twin_states_where_its_cameras_are_and_a_moved_camera_reads_otherwise():
    from importlib.resources import files

    def placements(**kwargs: object) -> dict[str, str | None]:
        features = ROBOTS.get("so101_twin")(**kwargs).features
        return {cam: features[image_key(cam)].placement for cam in ("front", "wrist")}

    default = placements()
    assert default["front"] == "on world at 0.450 0.000 0.280 m, quat 0.648 0.284 0.284 0.648, fovy 40.0 deg"
    assert default["wrist"] is not None and default["wrist"].startswith("on gripper at 0.012 0.000 0.040 m")
    scene = (files("honed.sim") / "assets" / "so101.xml").read_text()
    moved = scene.replace('name="front" pos="0.45 0 0.28"', 'name="front" pos="0.45 0.02 0.28"')
    assert moved != scene
    again = placements(mjcf_override=moved)
    assert again["wrist"] == default["wrist"] and again["front"] is not None
    assert again["front"].startswith("on world at 0.450 0.020 0.280 m")
