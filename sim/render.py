"""Camera images of N worlds through MuJoCo's renderer (EGL headless on Mesa, or a GPU's EGL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from honed.features import image_key

if TYPE_CHECKING:
    from honed.sim.backends.base import PhysicsBackend


def camera_placement(model: mujoco.MjModel, camera: str) -> str:
    """The camera's mount, pose on it and vertical field of view as text (mm and 0.001 steps), so
    two scenes whose camera differs by more than rounding describe it differently."""
    cam = model.camera(camera)
    body = model.body(int(cam.bodyid[0])).name or "world"
    pos = " ".join(f"{v:.3f}" for v in cam.pos)
    quat = " ".join(f"{v:.3f}" for v in cam.quat)
    return f"on {body} at {pos} m, quat {quat}, fovy {float(cam.fovy[0]):.1f} deg"


class BatchRenderer:
    """Renders every requested camera of every world into (N, H, W, 3) uint8 arrays."""

    def __init__(self, model: mujoco.MjModel, cameras: tuple[str, ...], height: int, width: int):
        self.model = model
        self.cameras = cameras
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        try:
            self.renderer = mujoco.Renderer(model, height=height, width=width)
        except Exception as e:
            raise RuntimeError(
                f"cannot open an offscreen OpenGL context (MUJOCO_GL={__import__('os').environ.get('MUJOCO_GL')}): {e}. "
                "Install libegl1 libgl1-mesa-dri libegl-mesa0 (make bootstrap does) or set MUJOCO_GL=osmesa."
            ) from e
        self.height, self.width = height, width
        self.before_world: Callable[[mujoco.MjModel, int], None] | None = None
        """Hook run before world i is drawn (domain randomisation of colours, lights, cameras)."""

    def render(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        self.renderer.update_scene(data, camera=camera)
        return self.renderer.render()  # (H, W, 3) uint8

    def render_all(self, backend: PhysicsBackend, ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every camera of every world (or of worlds ``ids``, in that order): (n, H, W, 3) uint8 each."""
        worlds = range(backend.num_envs) if ids is None else [int(i) for i in ids]
        out = {
            cam: np.empty((len(worlds), self.height, self.width, 3), dtype=np.uint8) for cam in self.cameras
        }
        for row, i in enumerate(worlds):
            if self.before_world is not None:
                self.before_world(self.model, i)
            data = backend.world(i)
            if self.before_world is not None:
                mujoco.mj_camlight(self.model, data)  # camera and light poses from the hook's model
            for cam in self.cameras:
                out[cam][row] = self.render(data, cam)
        return {image_key(cam): imgs for cam, imgs in out.items()}

    def close(self) -> None:
        self.renderer.close()
