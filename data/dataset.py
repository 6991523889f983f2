"""The training dataset over an episode store: windows of observation history and future action chunks.

Sample ``i`` is frame ``t`` of some episode. It holds the observations of frames ``t-n_obs+1 .. t`` and
the actions of frames ``t .. t+horizon-1``; indices outside the episode repeat its edge frame, and
``action_is_pad`` marks the repeated actions. Values are raw (policies normalise with ``.stats``).
Frames an episode's metadata lists under ``not_imitated`` (half-open ``[start, stop)`` ranges: a
mistake staged on purpose so that the rest of the episode shows the recovery) are no sample's first
frame; they still appear in observation windows and in the action chunks of the frames before them.
With ``not_imitated_samples`` they do start samples too, flagged ``imitated`` False, for losses that
learn from what the frames show rather than from the actions taken (the action loss leaves them out).

Camera frames are read as stored (JPEG) and decoded per sample. An episode's first read of a camera
fetches all of its frames' bytes and keeps them while ``cache_mb`` allows (the two 96x96 cameras of
100 pick_cube demos take 75 MB): zarr's per-request cost, not decoding, dominated
loading (0.6-0.9 s for a 64-sample batch from two cameras, against 0.03 s from memory). Beyond the
budget, each sample reads its own window from the store.

Collated by the default PyTorch collate to ``observation.state`` (B, n_obs, S), ``observation.images.<cam>``
(B, n_obs, H, W, 3) uint8, ``action`` (B, horizon, A), ``action_is_pad`` (B, horizon), ``imitated`` (B,)
bool (whether the sample's action chunk is to be imitated), ``task`` list[str].
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from honed.data.layout import NOT_IMITATED
from honed.data.stats import Stats, load_or_compute_stats
from honed.data.store import Episode, EpisodeStore, read_all
from honed.features import ACTION, IMAGE_PREFIX, Features


def imitated_frames(meta: dict[str, Any], length: int, where: str) -> np.ndarray:
    """(length,) bool: the frames of an episode that may start a training sample."""
    keep = np.ones(length, dtype=bool)
    ranges = meta.get(NOT_IMITATED, [])
    if not isinstance(ranges, list):
        raise ValueError(f"{where}: metadata {NOT_IMITATED!r} must be a list of [start, stop] frame ranges")
    for r in ranges:
        ok = (
            isinstance(r, list)
            and len(r) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in r)
        )
        if not ok or not 0 <= r[0] < r[1] <= length:
            raise ValueError(
                f"{where}: metadata {NOT_IMITATED!r} holds {r!r}; each entry must be [start, stop] "
                f"with 0 <= start < stop <= {length} (the episode's length). Fix or remove the entry."
            )
        keep[r[0] : r[1]] = False
    return keep


class EpisodeDataset(Dataset[dict[str, Any]]):
    """Random access to (observation window, action chunk) samples of a store's committed episodes."""

    def __init__(
        self,
        store: str | Path | EpisodeStore,
        n_obs_steps: int = 2,
        horizon: int = 16,
        episodes: list[int] | None = None,
        cameras: list[str] | None = None,
        stats: Stats | None = None,
        cache_mb: float = 2048,
        not_imitated_samples: bool = False,
    ):
        self.store = store if isinstance(store, EpisodeStore) else EpisodeStore.open(store)
        if n_obs_steps < 1 or horizon < 1:
            raise ValueError(f"n_obs_steps ({n_obs_steps}) and horizon ({horizon}) must be at least 1")
        self.n_obs_steps, self.horizon = n_obs_steps, horizon
        self.episode_ids = list(range(self.store.num_episodes)) if episodes is None else list(episodes)
        if not self.episode_ids:
            raise ValueError(f"{self.store.root}: no episodes to train on")
        self.features = self._select_features(cameras)
        self.image_keys = [k for k in self.features if k.startswith(IMAGE_PREFIX)]
        self.obs_keys = [k for k in self.store.info.numeric_keys if k != ACTION]
        self.stats = stats if stats is not None else load_or_compute_stats(self.store)
        entries = [self.store.index.episodes[e] for e in self.episode_ids]
        self.lengths = np.array([e.length for e in entries])
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.tasks = [e.task for e in entries]
        keep = np.concatenate(
            [imitated_frames(e.meta, e.length, f"{self.store.root} episode {e.id}") for e in entries]
        )
        self.imitated = keep
        """(frames,) bool over the selected episodes' frames: not inside a not_imitated range."""
        self.samples = np.arange(len(keep)) if not_imitated_samples else np.flatnonzero(keep)
        """Global frame (over the selected episodes) of each sample."""
        if not keep.any():
            raise ValueError(
                f"{self.store.root}: every frame of the selected episodes is marked {NOT_IMITATED}"
            )
        self.numeric = self._load_numeric()
        self._episodes: dict[int, Episode] = {}
        self.cache_bytes = int(cache_mb * 2**20)
        self.cached: dict[tuple[int, str], list[np.ndarray]] = {}
        """Encoded frames of (episode position, camera) held in memory, each frame a view of one read."""
        self._cached_bytes = 0

    def _select_features(self, cameras: list[str] | None) -> Features:
        feats = self.store.features
        if cameras is not None:
            unknown = set(cameras) - set(feats.cameras)
            if unknown:
                raise ValueError(f"cameras {sorted(unknown)} are not in the store; it has {feats.cameras}")
            keep = [k for k in feats if not k.startswith(IMAGE_PREFIX) or k[len(IMAGE_PREFIX) :] in cameras]
            return feats.select(keep)
        return feats

    def _load_numeric(self) -> dict[str, np.ndarray]:
        """Every numeric feature of the selected episodes, concatenated in memory (small next to images)."""
        columns: dict[str, list[np.ndarray]] = {k: [] for k in [*self.obs_keys, ACTION]}
        for e in self.episode_ids:
            episode = self.store.episode(e)
            for key in columns:
                columns[key].append(episode.array(key))
        return {k: np.concatenate(v) for k, v in columns.items()}

    def __len__(self) -> int:
        return len(self.samples)

    def locate(self, i: int) -> tuple[int, int]:
        """(position in ``episode_ids``, frame) of sample ``i``."""
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range 0..{len(self) - 1}")
        frame = int(self.samples[i])
        pos = int(np.searchsorted(self.starts, frame, side="right") - 1)
        return pos, frame - int(self.starts[pos])

    def _episode(self, pos: int) -> Episode:
        if pos not in self._episodes:
            self._episodes[pos] = self.store.episode(self.episode_ids[pos])
        return self._episodes[pos]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        """Samples ``indices``; the DataLoader calls this once per batch, so all of a batch's camera
        reads go to zarr together."""
        located = [self.locate(int(i)) for i in indices]
        windows = [self._history(pos, t) for pos, t in located]
        encoded = self._encoded_windows([pos for pos, _ in located], windows)
        samples = []
        for (pos, t), obs in zip(located, windows):
            sample = self._numeric_sample(pos, t, obs)
            episode, first = self._episode(pos), int(obs[0])
            for key in self.image_keys:
                frames = next(encoded)
                decoded = {j: episode.decode(key, frames[j - first]) for j in set(obs.tolist())}
                sample[key] = torch.from_numpy(
                    np.stack([decoded[j] for j in obs.tolist()])
                )  # (n_obs, H, W, 3)
            samples.append(sample)
        return samples

    def _encoded_windows(self, positions: list[int], windows: list[np.ndarray]) -> Iterator[list[np.ndarray]]:
        """The encoded frames of each sample's window, camera by camera, with every store read of the
        batch (whole episodes to cache, windows past the budget) sent to zarr together."""
        whole: dict[tuple[int, str], Any] = {}
        reads = []
        for pos, obs in zip(positions, windows):
            for key in self.image_keys:
                if (pos, key) in self.cached or (pos, key) in whole:
                    continue
                episode = self._episode(pos)
                size = int(episode.offsets(key)[-1])
                if self._cached_bytes + size <= self.cache_bytes:
                    whole[(pos, key)] = episode.encoded_range(key, 0, len(episode))
                    self._cached_bytes += size
                else:  # history is contiguous: one request per window
                    reads.append(episode.encoded_range(key, int(obs[0]), int(obs[-1]) + 1))
        results = read_all([*whole.values(), *reads])
        self.cached.update(zip(whole, results[: len(whole)]))
        uncached = iter(results[len(whole) :])
        for pos, obs in zip(positions, windows):
            for key in self.image_keys:
                frames = self.cached.get((pos, key))
                yield next(uncached) if frames is None else frames[int(obs[0]) : int(obs[-1]) + 1]

    def _history(self, pos: int, t: int) -> np.ndarray:
        """Frame indices of the observation window ending at ``t``, edge frame repeated, (n_obs,)."""
        return np.clip(np.arange(t - self.n_obs_steps + 1, t + 1), 0, int(self.lengths[pos]) - 1)

    def _numeric_sample(self, pos: int, t: int, obs: np.ndarray) -> dict[str, Any]:
        last, base = int(self.lengths[pos]) - 1, int(self.starts[pos])
        act_raw = np.arange(t, t + self.horizon)  # (H,)
        sample: dict[str, Any] = {k: torch.from_numpy(self.numeric[k][base + obs]) for k in self.obs_keys}
        sample[ACTION] = torch.from_numpy(self.numeric[ACTION][base + np.minimum(act_raw, last)])  # (H, A)
        sample["action_is_pad"] = torch.from_numpy(act_raw > last)  # (H,)
        sample["imitated"] = torch.tensor(bool(self.imitated[base + t]))
        sample["task"] = self.tasks[pos]
        return sample


def _init_worker(_: int) -> None:
    torch.set_num_threads(1)


def make_loader(
    dataset: EpisodeDataset, batch_size: int = 32, num_workers: int = 2, shuffle: bool = True, seed: int = 0
) -> DataLoader[dict[str, Any]]:
    """A DataLoader with the settings that suit this dataset (persistent workers, one thread each)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        worker_init_fn=_init_worker,
        generator=torch.Generator().manual_seed(seed),
        drop_last=False,
    )
