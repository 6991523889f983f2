"""Language conditioning: a learned embedding per task string, or a frozen transformers text encoder.

``TextEncoder`` loads any encoder by hub name through transformers (``AutoModel``), or ``"tiny"``: a
two-layer random T5 encoder with the byte-level ByT5 tokenizer, which needs no download (tests and
machines without a hub). Its weights are saved inside the policy's ``model.safetensors`` and its
config and tokenizer files beside it, so a checkpoint loads without the hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from honed.errors import HubError, user_message

TINY = "tiny"
SAVED_DIR = "text_encoder"
"""Folder of a checkpoint holding the text model's config and tokenizer files."""


class TaskEmbedding(nn.Module):
    """One learned vector per task instruction seen in training."""

    def __init__(self, tasks: list[str], dim: int):
        super().__init__()
        if not tasks:
            raise ValueError("a learned task embedding needs the training tasks; the dataset lists none")
        self.tasks = list(tasks)
        self.index = {t: i for i, t in enumerate(self.tasks)}
        self.table = nn.Embedding(len(self.tasks), dim)
        self.out_dim = dim

    def forward(self, tasks: list[str]) -> Tensor:
        unknown = sorted({t for t in tasks if t not in self.index})
        if unknown:
            raise ValueError(
                f"task {unknown[0]!r} was not seen in training; a learned task embedding knows only "
                f"{self.tasks} (use language=text for new instructions)"
            )
        ids = torch.tensor([self.index[t] for t in tasks], device=self.table.weight.device)
        return self.table(ids)  # (B, dim)


def _tiny_parts() -> tuple[Any, Any]:
    import transformers

    sizes: dict[str, Any] = {"vocab_size": 384, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2,
                             "num_heads": 4, "architectures": ["T5EncoderModel"]}  # fmt: skip
    config = transformers.T5Config(**sizes)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = transformers.T5EncoderModel(config)
    return model, transformers.ByT5Tokenizer()


def _saved_parts(folder: Path) -> tuple[Any, Any]:
    """Architecture from the saved config (weights come from the policy's safetensors), tokenizer files."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    arch = (config.architectures or [""])[0]
    cls = getattr(transformers, arch, None)
    if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
        raise ValueError(
            f"{folder}/config.json names architecture {arch!r}, which is not a transformers model"
        )
    return cls(config), transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)


def _hub_parts(name: str) -> tuple[Any, Any]:
    """The text model and tokenizer ``name`` names on the Hugging Face hub (or in a local folder);
    a hub that cannot be reached, or a name it does not know, raise HubError naming text_model."""
    import transformers

    try:
        model = transformers.AutoModel.from_pretrained(name)
        tokenizer = transformers.AutoTokenizer.from_pretrained(name)
    except OSError as err:  # transformers reports unreachable hubs and unknown names as OSError
        reason = user_message(err) or " ".join(str(err).split())
        raise HubError(f"text_model={name} cannot be loaded: {reason}") from err
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()
    return model, tokenizer


class TextEncoder(nn.Module):
    """Frozen text model, mean-pooled over tokens, then a trainable projection to ``dim``."""

    def __init__(self, source: str, dim: int, saved: Path | None = None):
        super().__init__()
        if saved is not None:
            model, tokenizer = _saved_parts(saved)
        else:
            model, tokenizer = _tiny_parts() if source == TINY else _hub_parts(source)
        self.source = source
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.project = nn.Linear(int(model.config.hidden_size), dim)
        self.out_dim = dim
        self._cache: dict[str, Tensor] = {}
        self.register_load_state_dict_post_hook(lambda module, keys: self._cache.clear())

    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        self.model.eval()  # frozen: dropout stays off
        return self

    def save_parts(self, folder: Path) -> None:
        """Write the text model's config and tokenizer files (weights live in the policy's safetensors)."""
        self.model.config.architectures = [type(self.model).__name__]
        self.model.config.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    @torch.no_grad()
    def _embed(self, texts: list[str]) -> Tensor:
        device = self.project.weight.device
        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        mask = tokens["attention_mask"].to(device)  # (B, L)
        hidden = self.model(input_ids=tokens["input_ids"].to(device), attention_mask=mask).last_hidden_state
        return (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)  # (B, hidden)

    def forward(self, tasks: list[str]) -> Tensor:
        missing = sorted({t for t in tasks if t not in self._cache})
        if missing:
            self._cache.update(zip(missing, self._embed(missing)))
        pooled = torch.stack([self._cache[t] for t in tasks])  # (B, hidden)
        return self.project(pooled)  # (B, dim)
