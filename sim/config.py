"""Typed configuration of the twin (shared by every sim command and by other parts that build envs)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RandomizationConfig:
    """Domain randomisation applied at every reset; all off by default."""

    friction: tuple[float, float] = (1.0, 1.0)
    """Range of a factor on every geom's sliding friction."""
    mass: tuple[float, float] = (1.0, 1.0)
    """Range of a factor on task objects' masses."""
    object_color: float = 0.0
    """Max absolute jitter added to task objects' RGB."""
    light: float = 0.0
    """Max relative change of the key light's diffuse intensity."""
    camera_pos: float = 0.0
    """Max displacement (m) of the front camera per axis."""

    @property
    def enabled(self) -> bool:
        return (
            self.friction != (1.0, 1.0)
            or self.mass != (1.0, 1.0)
            or self.object_color > 0
            or self.light > 0
            or self.camera_pos > 0
        )


@dataclass
class SimConfig:
    """What world to build: task, rates, cameras and overrides."""

    task: str = "pick_cube"
    """Registered task name (pick_cube, place_cube, push_t, peg_insert, pick_color)."""
    control_hz: float = 30.0
    """Control rate (Hz); physics runs in whole steps of at most 2 ms inside each control period."""
    cameras: tuple[str, ...] = ()
    """Cameras to render into observations: front, wrist (empty: state only)."""
    image_height: int = 96
    """Rendered image height in pixels."""
    image_width: int = 96
    """Rendered image width in pixels."""
    episode_seconds: float | None = None
    """Episode time limit (s); None uses the task's own."""
    terminate_on_success: bool = True
    """End an episode at the first successful step."""
    mjcf_override: str | None = None
    """Path to (or text of) an MJCF scene used in place of the default arm scene."""
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)
    """Domain randomisation at reset."""
