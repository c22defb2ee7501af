"""Start from trained weights: `model.init` names where they come from, and they go into the config's model.

    built = build_model(config, num_classes=10)
    report = load_init(built.model, resolve_init(config.model.init))

Sources: a cnntrain checkpoint or run directory, a plain state_dict (`.pt`/`.pth`, read with
`weights_only=True`), a `.safetensors` file, or `torchvision:<weights>` (torchvision's weights API, read
from the torch hub cache; downloaded only when the network answers). The tensors are matched to the
model by structure (see match.py): torchvision's `layer1.0.conv1.weight` needs no renaming.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch

from cnntrain.config.loader import Config
from cnntrain.errors import CheckpointError, ConfigError
from cnntrain.model.builder import BuiltModel, build_model
from cnntrain.model.freeze import freeze_layers
from cnntrain.model.match import match_tensors
from cnntrain.model.torch_file import load_torch_file, refused_as_unsafe

TORCHVISION = "torchvision:"
RUN_CHECKPOINT = Path("checkpoints") / "best.pt"  # what a run directory stands for, as in --checkpoint RUN
_CONNECT_SECONDS = 3.0  # offline must fail fast: a name lookup with no network can hang much longer


@dataclass
class InitSource:
    """Where `model.init` points, resolved without reading a tensor or touching the network."""

    text: str  # as the config gives it
    path: Path  # the file; for torchvision weights, its place in the torch hub cache
    url: str | None = None  # torchvision weights: where the file comes from
    mean: list | None = None  # torchvision weights: the input normalisation they were trained with
    std: list | None = None
    crop_size: list | None = None  # torchvision weights: the image size they expect

    @property
    def normalization(self) -> dict | None:
        return {"mean": list(self.mean), "std": list(self.std)} if self.mean else None


@dataclass
class InitReport:
    """What `model.init` loaded: the run prints it and summary.json records `as_dict()`."""

    source: str
    file: str
    sha256: str
    loaded: int
    skipped: list = field(default_factory=list)  # {name, shape, reason}: left freshly initialised

    def as_dict(self) -> dict:
        return {"source": self.source, "file": self.file, "sha256": self.sha256, "loaded": self.loaded,
                "skipped": self.skipped}

    def lines(self) -> list[str]:
        head = f"model.init: {self.loaded} tensors loaded from {self.source} (sha256 {self.sha256[:12]})"
        return [head] + [f"  {s['name']} {s['shape']} left freshly initialised: {s['reason']}" for s in self.skipped]


def build_initialized(config: Config, *, num_classes: int | None = None,
                      device=None) -> tuple[BuiltModel, InitReport | None]:
    """A config's model as every command that builds one from a config wants it: `model.init` loaded,
    `train.freeze` applied."""
    source = init_source(config)
    built = build_model(sized_for_init(config, source), num_classes=num_classes, device=device)
    return built, initialize(built, config, source=source)


def init_source(config: Config) -> InitSource | None:
    """`model.init` resolved (None when unset), its channels checked against data.channels."""
    if not config.model.init:
        return None
    source = resolve_init(config.model.init)
    if source.mean and len(source.mean) != config.data.channels:
        raise ConfigError(f"model.init {source.text}: these weights take {len(source.mean)}-channel images but "
                          f"data.channels is {config.data.channels}; set data.channels: {len(source.mean)}")
    return source


def sized_for_init(config: Config, source: InitSource | None) -> Config:
    """The config a model for these weights is built from: torchvision weights that expect a size give
    images that size where `data.image_size` is null; a size the config sets wins."""
    if source is None or not source.crop_size or config.data.image_size is not None:
        return config
    return config.replace(data={"image_size": list(source.crop_size)})


def initialize(built: BuiltModel, config: Config, *, source: InitSource | None) -> InitReport | None:
    """Load the source's weights into the built model (none: keep its initialisation), then freeze."""
    report = load_init(built.model, source) if source is not None else None
    freeze_layers(built, config.train.freeze)
    return report


def given_normalization(config: Config, source: InitSource | None) -> dict | None:
    """data.mean/std when the config gives them, else the torchvision weights' own; None: the data's."""
    if config.data.mean is not None:
        return {"mean": list(config.data.mean), "std": list(config.data.std)}
    return source.normalization if source is not None else None


def resolve_init(text: str) -> InitSource:
    """The file (or torchvision weights) `model.init` names; a wrong name fails here, before any data loads."""
    if text.startswith(TORCHVISION):
        return _torchvision_source(text)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / RUN_CHECKPOINT).is_file() and (path / "checkpoints" / "last.pt").is_file():
            raise CheckpointError(f"model.init {text}: the run has no {RUN_CHECKPOINT.as_posix()} yet (no epoch has "
                                  f"finished); give {path / 'checkpoints' / 'last.pt'} to start from its weights "
                                  "as they are")
        path = path / RUN_CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"model.init {text}: no such file; give a checkpoint or run directory, a .pt/.pth "
                              "state_dict, a .safetensors file, or torchvision:<weights> such as "
                              "torchvision:resnet18.IMAGENET1K_V1")
    return InitSource(text, path)


def load_init(model: torch.nn.Module, source: InitSource) -> InitReport:
    """Copy the source's tensors into `model` (parameters and buffers, batch-norm statistics included).

    On the meta device only the match is checked: `cnntrain summary` says whether the weights fit.
    """
    tensors = read_tensors(source)
    target = model.state_dict(keep_vars=True)
    pairs, skipped = match_tensors(target, tensors, source.text, ordered=source.path.suffix != ".safetensors")
    with torch.no_grad():
        for name, value in pairs.items():
            if not target[name].is_meta:
                target[name].copy_(value)
    return InitReport(source.text, str(source.path.resolve()), _sha256(source.path), len(pairs), skipped)


def read_tensors(source: InitSource) -> dict:
    """name -> tensor, in the file's order, from any of the file kinds `model.init` takes."""
    if source.url is not None and not source.path.is_file():
        _download(source)
    if source.path.suffix == ".safetensors":
        return _read_safetensors(source)
    try:
        state = load_torch_file(source.path, map_location="cpu")
    except Exception as error:  # bad bytes surface as many types
        why = ("it holds Python objects that could run code; only plain tensors are read"
               if refused_as_unsafe(source.path, error) else "not a PyTorch file, or truncated")
        raise CheckpointError(f"model.init {source.path}: cannot read it: {why}") from None
    return _state_dict_of(state, source.path)


def _state_dict_of(state, path: Path) -> dict:
    """A plain state_dict, or the one inside a cnntrain checkpoint ("model") or a Lightning one ("state_dict")."""
    if isinstance(state, dict):
        for key in ("model", "state_dict"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
        return state
    raise CheckpointError(f"model.init {path}: holds no state_dict (a mapping of names to tensors); save one "
                          "with torch.save(model.state_dict(), path)")


def _read_safetensors(source: InitSource) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file  # deferred: only this kind of file needs it

    try:
        return load_file(source.path, device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"model.init {source.path}: not a readable .safetensors file ({error})") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- torchvision weights ----------------------------------------------------------------------------------------


def _torchvision_source(text: str) -> InitSource:
    weights = _torchvision_weights(text[len(TORCHVISION):])
    url = weights.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    transforms = weights.transforms()
    crop = getattr(transforms, "crop_size", None)
    return InitSource(text, path, url, list(transforms.mean), list(transforms.std), list(crop) if crop else None)


def _torchvision_weights(name: str):
    """`resnet18.IMAGENET1K_V1` (model.member, as torchvision's docs list them) or `ResNet18_Weights.DEFAULT`."""
    import torchvision.models  # deferred: a second to import, and only this kind of source needs it

    model, _, member = name.partition(".")
    try:
        if model.endswith("_Weights"):
            return torchvision.models.get_weight(name)
        return torchvision.models.get_model_weights(model.lower())[member or "DEFAULT"]
    except (KeyError, ValueError, AttributeError):
        raise ConfigError(f"model.init {TORCHVISION}{name}: torchvision has no such weights; write "
                          f"{TORCHVISION}<model>.<weights>, e.g. {TORCHVISION}resnet18.IMAGENET1K_V1 "
                          "(torchvision.models.list_models() names the models)") from None


def _download(source: InitSource) -> None:
    host = urlparse(source.url).hostname
    if not _reachable(_first_hop(source.url)):
        raise CheckpointError(f"model.init {source.text}: {source.path.name} is not in the torch hub cache and "
                              f"{host} cannot be reached; on a connected machine download {source.url} and place "
                              f"it at {source.path}")
    source.path.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(source.url, str(source.path), hash_prefix=_hash_prefix(source.path.name))


def _hash_prefix(filename: str) -> str | None:
    """torchvision's files end in the first digits of their SHA-256 (resnet18-f37072fd.pth)."""
    stem = filename.rsplit(".", 1)[0]
    tail = stem.rsplit("-", 1)[-1]
    return tail if "-" in stem and all(c in "0123456789abcdef" for c in tail) else None


def _first_hop(url: str) -> tuple[str | None, int]:
    """(host, port) a download connects to first: the HTTPS proxy when one is set, else the server."""
    from urllib.request import getproxies, proxy_bypass

    host = urlparse(url).hostname
    proxy = getproxies().get("https")
    if proxy and host and not proxy_bypass(host):
        parsed = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        return parsed.hostname, parsed.port or 80
    return host, 443


def _reachable(address: tuple[str | None, int]) -> bool:
    """Whether the address answers within a few seconds; in a thread, since a name lookup ignores timeouts."""
    if not address[0]:
        return False
    answer = []

    def connect():
        try:
            socket.create_connection(address, timeout=_CONNECT_SECONDS).close()
            answer.append(True)
        except OSError:
            pass

    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(_CONNECT_SECONDS + 1)
    return bool(answer)
