"""Generators as sources: gan-eval checkpoints, TorchScript generators and ``package.module:function``.

Every form becomes a :class:`GeneratorSampler` (a generator plus its latent size, latent distribution and
declared output range), and a :class:`GeneratorSource` samples ``n`` images from it with a seeded
``torch.Generator``: the same seed gives the same images on the same device. Float outputs are quantized to
uint8 like saving a PNG (``floor(255 * (x - lo) / (hi - lo) + 0.5)``, clamped to 0..255; for ``(-1, 1)``
that is ``round(127.5 x + 127.5)``).

A gan-eval checkpoint (written by ``gan-eval train``; format: :mod:`gan_eval.data.checkpoint_format`) is read
once: its bytes give both the dict and the sha256 in the source's identity, and the source exposes the
checkpoint's epoch and step (``GeneratorSource.info``) for the results table. The training code is imported
only here, lazily, to rebuild the architecture.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gan_eval.data.base import Source, quantize, sample_latent
from gan_eval.data.checkpoint_format import read_checkpoint, read_checkpoint_bytes
from gan_eval.errors import UserError, describe_exception
from gan_eval.runtime import resolve_device

DEFAULT_RANGE = (-1.0, 1.0)
#: Generator outputs may exceed their declared range by this fraction of its width (float rounding).
RANGE_TOLERANCE = 1e-3
#: Images drawn when a generator is loaded, to check its output shape, NaNs and range up front.
PROBE_SAMPLES = 16
#: Latents are drawn from the seeded ``torch.Generator`` and fed to the generator in chunks of this many,
#: whatever batch size the extractor uses: the images (and so every metric) do not depend on --batch-size.
LATENT_CHUNK = 500


@dataclass(frozen=True)
class GeneratorSampler:
    """A generator and what is needed to sample it.

    ``generator`` maps float32 ``[B, z_dim]`` on ``device`` to float ``[B, C, H, W]`` in ``value_range``.
    """

    generator: Callable[[torch.Tensor], torch.Tensor]
    z_dim: int
    distribution: str
    value_range: tuple[float, float]
    device: torch.device
    spec: str
    identity: str
    info: dict[str, Any] = field(default_factory=dict)  # a checkpoint's path, epoch and step

    def latent(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """float32 ``[n, z_dim]``: standard normal, or uniform on ``[-1, 1]``."""
        return sample_latent(n, self.z_dim, self.distribution, gen, self.device)

    @torch.no_grad()
    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """float ``[n, C, H, W]``, checked: UserError for a generator that raises, a wrong shape, NaN/inf, or
        values out of range. The UserError of a generator that raises keeps that exception as its cause
        (shown with ``--debug``)."""
        z = self.latent(n, gen)
        try:
            out = self.generator(z)
        except Exception as e:  # noqa: BLE001 - the user's generator failing is bad input, named as such
            hint = "" if self.identity.startswith("checkpoint:") else "; is --z-dim right?"
            raise UserError(
                f"{self.spec}: the generator failed on latents float32 [{n}, {self.z_dim}] "
                f"({describe_exception(e)}){hint}"
            ) from e
        if isinstance(out, (tuple, list)):  # some generators return (images, extras)
            out = out[0]
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            raise UserError(
                f"{self.spec}: the generator returned {type(out).__name__}, expected a float tensor"
            )
        if out.ndim != 4 or out.shape[0] != n or out.shape[1] not in (1, 3):
            raise UserError(
                f"{self.spec}: the generator returned shape {tuple(out.shape)} for {n} latents; "
                f"expected [{n}, C, H, W] with C = 1 or 3"
            )
        if not torch.isfinite(out).all():
            raise UserError(f"{self.spec}: the generator produced NaN or infinite values")
        lo, hi = self.value_range
        tol = RANGE_TOLERANCE * (hi - lo)
        vmin, vmax = float(out.min()), float(out.max())
        if vmin < lo - tol or vmax > hi + tol:
            raise UserError(
                f"{self.spec}: the generator produced values in [{vmin:.4g}, {vmax:.4g}], "
                f"outside its declared output range [{lo:g}, {hi:g}] "
                "(pass the right --value-range, or add a tanh/clamp)"
            )
        return out


# ---------------------------------------------------------------- gan-eval checkpoints
def _build_from_checkpoint(ckpt: dict[str, Any], where: str, use_ema: bool) -> tuple[torch.nn.Module, bool]:
    from gan_eval.train.models import GENERATORS, build_generator  # lazy: the core does not need train/

    arch = ckpt["generator_arch"]
    if arch["name"] not in GENERATORS:
        raise UserError(
            f"{where}: unknown generator architecture {arch['name']!r}; known: {sorted(GENERATORS)}"
        )
    try:
        model = build_generator(arch["name"], dict(arch["args"]))
    except (TypeError, ValueError) as e:
        raise UserError(
            f"{where}: cannot build generator {arch['name']!r} from args {arch['args']} ({e})"
        ) from None
    ema = use_ema and ckpt.get("generator_ema") is not None
    state = ckpt["generator_ema"] if ema else ckpt["generator"]
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(
            f"{where}: generator weights do not match architecture {arch['name']!r} "
            f"({str(e).splitlines()[0]})"
        ) from None
    return model, ema


def load_checkpoint_sampler(
    path: str | Path, *, device: str | torch.device = "cpu", use_ema: bool = True, data: bytes | None = None
) -> GeneratorSampler:
    """The generator of a gan-eval checkpoint, rebuilt from its own metadata, in eval mode on ``device``.

    Uses the EMA weights when the checkpoint has them and ``use_ema`` is True. ``data``: the file's bytes,
    when the caller has read them already (the file is read once).
    """
    path = Path(path)
    read = read_checkpoint(path, data=data)
    ckpt = read.ckpt
    model, ema = _build_from_checkpoint(ckpt, str(path), use_ema)
    dev = resolve_device(device)
    lo, hi = (float(v) for v in ckpt["output_range"])
    return GeneratorSampler(
        generator=model.to(dev).eval(),
        z_dim=int(ckpt["latent"]["dim"]),
        distribution=str(ckpt["latent"].get("distribution", "normal")),
        value_range=(lo, hi),
        device=dev,
        spec=str(path),
        identity=f"checkpoint:{read.sha256[:16]}|ema={ema}",
        info=read.info,
    )


# ---------------------------------------------------------------- TorchScript and callables
def _value_range(value_range: Sequence[float] | None, spec: str) -> tuple[float, float]:
    if value_range is None:
        return DEFAULT_RANGE
    from gan_eval.limits import check_value_range

    return check_value_range(f"{spec}: --value-range", value_range)


def load_torchscript_sampler(
    path: str | Path,
    *,
    z_dim: int | None,
    device: str | torch.device = "cpu",
    value_range: Sequence[float] | None = None,
    distribution: str = "normal",
    data: bytes | None = None,
) -> GeneratorSampler:
    """A TorchScript generator (``torch.jit.save``) mapping ``[B, z_dim]`` to ``[B, C, H, W]`` in
    ``value_range`` (default ``(-1, 1)``). ``z_dim`` is required. ``data``: the file's bytes, when read."""
    path = Path(path)
    if data is None:
        if not path.is_file():
            raise UserError(f"{path}: no such generator file")
        data = path.read_bytes()
    if not z_dim or z_dim <= 0:
        raise UserError(f"{path}: a TorchScript generator needs its latent size: pass --z-dim N")
    dev = resolve_device(device)
    try:
        with warnings.catch_warnings():  # torch.jit is deprecated upstream but still the portable format
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(io.BytesIO(data), map_location=dev)
    except Exception as e:  # noqa: BLE001 - any failure to read a user's file is a bad file
        raise UserError(
            f"{path}: truncated or corrupt TorchScript file ({str(e).splitlines()[0][:200]})"
        ) from None
    lo, hi = _value_range(value_range, str(path))
    return GeneratorSampler(
        generator=model.eval(),
        z_dim=int(z_dim),
        distribution=distribution,
        value_range=(lo, hi),
        device=dev,
        spec=str(path),
        identity=f"torchscript:{hashlib.sha256(data).hexdigest()[:16]}|z={z_dim}|range={lo:g},{hi:g}"
        f"|dist={distribution}",
    )


def _params_hash(module: Any) -> str:
    h = hashlib.sha256()
    if isinstance(module, torch.nn.Module):
        for name, t in module.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def load_callable_sampler(
    spec: str,
    *,
    z_dim: int | None = None,
    device: str | torch.device = "cpu",
    value_range: Sequence[float] | None = None,
    distribution: str = "normal",
) -> GeneratorSampler:
    """``package.module:function``: called with no arguments, it returns a generator (an ``nn.Module`` or any
    callable ``[B, z_dim] -> [B, C, H, W]``) or ``(generator, z_dim)``. The latent size comes from ``z_dim``,
    else the tuple, else the generator's ``z_dim``/``latent_dim`` attribute."""
    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(f"{spec}: cannot import module {module_name!r} ({e})") from None
    except Exception as e:  # noqa: BLE001 - the module's own code failed while importing
        raise UserError(f"{spec}: importing module {module_name!r} failed ({describe_exception(e)})") from e
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise UserError(f"{spec}: module {module_name!r} has no function {func_name!r}")
    try:
        made = factory()
    except Exception as e:  # noqa: BLE001 - the user's factory failing is bad input, named as such
        raise UserError(f"{spec}: calling {func_name}() failed ({describe_exception(e)})") from e
    found_z = None
    if isinstance(made, tuple) and len(made) == 2:
        made, found_z = made
    if not callable(made):
        raise UserError(
            f"{spec}: returned {type(made).__name__}, expected a generator module or (module, z_dim)"
        )
    z = z_dim or found_z or getattr(made, "z_dim", None) or getattr(made, "latent_dim", None)
    if not isinstance(z, int) or z <= 0:
        raise UserError(
            f"{spec}: cannot tell the generator's latent size; pass --z-dim N or return (module, z_dim)"
        )
    dev = resolve_device(device)
    if isinstance(made, torch.nn.Module):
        made = made.to(dev).eval()
    lo, hi = _value_range(value_range, spec)
    return GeneratorSampler(
        generator=made,
        z_dim=z,
        distribution=distribution,
        value_range=(lo, hi),
        device=dev,
        spec=spec,
        identity=f"callable:{spec}@{_params_hash(made)}|z={z}|range={lo:g},{hi:g}|dist={distribution}",
    )


# ---------------------------------------------------------------- the source
class GeneratorSource(Source):
    """``n`` images sampled from a generator, uint8 ``[B, C, H, W]``.

    Latents are drawn in chunks of ``latent_chunk`` (default :data:`LATENT_CHUNK`) from a ``torch.Generator``
    on the sampler's device seeded with ``seed``, and the generator is called on exactly those chunks; the
    uint8 images are then re-batched. So every call of :meth:`batches` yields the same images (on the same
    device), whatever ``batch_size`` the consumer (the extractor) asks for.
    """

    kind = "generator"

    def __init__(
        self, sampler: GeneratorSampler, *, n: int, seed: int = 0, latent_chunk: int = LATENT_CHUNK
    ) -> None:
        if n <= 0:
            raise UserError(f"{sampler.spec}: the number of samples must be positive, got {n}")
        if latent_chunk <= 0:
            raise UserError(f"{sampler.spec}: the latent chunk size must be positive, got {latent_chunk}")
        self.sampler, self.n, self.seed, self.latent_chunk = sampler, int(n), int(seed), int(latent_chunk)
        self.spec = sampler.spec
        probe_gen = torch.Generator(device=sampler.device).manual_seed(seed + 0x5EED)
        probe = sampler.sample(min(PROBE_SAMPLES, self.n), probe_gen)
        self.shape = (int(probe.shape[1]), int(probe.shape[2]), int(probe.shape[3]))
        self.identity = (
            f"{sampler.identity}|n={self.n}|seed={self.seed}|chunk={self.latent_chunk}"
            f"|device={sampler.device.type}"
        )

    def __len__(self) -> int:
        return self.n

    @property
    def info(self) -> dict[str, Any]:
        """What the results table records about the generator: a checkpoint's path, epoch and step."""
        return dict(self.sampler.info)

    def _chunks(self) -> Iterator[torch.Tensor]:
        gen = torch.Generator(device=self.sampler.device).manual_seed(self.seed)
        for start in range(0, self.n, self.latent_chunk):
            out = self.sampler.sample(min(self.latent_chunk, self.n - start), gen)
            if tuple(out.shape[1:]) != self.shape:
                raise UserError(
                    f"{self.spec}: the generator changed its output shape to {tuple(out.shape[1:])}"
                )
            yield quantize(out, self.sampler.value_range).cpu()

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        pending: list[torch.Tensor] = []
        count = 0
        for chunk in self._chunks():
            pending.append(chunk)
            count += chunk.shape[0]
            while count >= batch_size:
                joined = torch.cat(pending) if len(pending) > 1 else pending[0]
                yield joined[:batch_size]
                rest = joined[batch_size:]
                pending, count = ([rest] if rest.shape[0] else []), int(rest.shape[0])
        if count:
            yield torch.cat(pending) if len(pending) > 1 else pending[0]

    def describe(self) -> str:
        c, h, w = self.shape
        return (
            f"{self.spec}: {self.n} samples (seed {self.seed}), {c}x{h}x{w} uint8 ({self.sampler.identity})"
        )


def load_sampler(
    spec: str,
    *,
    device: str | torch.device = "cpu",
    use_ema: bool = True,
    z_dim: int | None = None,
    value_range: Sequence[float] | None = None,
) -> GeneratorSampler:
    """A generator spec -> sampler: gan-eval checkpoint, TorchScript file or ``package.module:function``."""
    path = Path(spec).expanduser()
    if path.exists() or "/" in spec or path.suffix.lower() in (".pt", ".pth", ".ckpt"):
        data = read_checkpoint_bytes(path)  # read once: the format, the dict and the sha256 all come from it
        if _is_torchscript_archive(data):
            return load_torchscript_sampler(
                path, z_dim=z_dim, device=device, value_range=value_range, data=data
            )
        return load_checkpoint_sampler(path, device=device, use_ema=use_ema, data=data)
    return load_callable_sampler(spec, z_dim=z_dim, device=device, value_range=value_range)


def _is_torchscript_archive(data: bytes) -> bool:
    """TorchScript archives are zips with ``code/`` and ``constants.pkl``; torch.save's have neither."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return False
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return any("/code/" in n or n.endswith("constants.pkl") for n in z.namelist())


def generator_source(
    spec: str,
    *,
    n: int | None = 10_000,
    seed: int = 0,
    device: str | torch.device = "cpu",
    use_ema: bool = True,
    z_dim: int | None = None,
    value_range: Sequence[float] | None = None,
    sample_seed: int | None = None,
) -> GeneratorSource:
    """A generator spec as a :class:`Source` of ``n`` uint8 images (``n=None`` -> 10,000).

    The images do not depend on the consumer's batch size: latents are drawn and generated in chunks of
    :data:`LATENT_CHUNK` (see :class:`GeneratorSource`).

    Args:
        seed / sample_seed: the latent seed (``sample_seed`` wins when given; it is the name ``parse_source``
            forwards, whose own ``seed`` is the dataset-subset seed).
        device: ``cpu``, ``cuda`` or ``auto``.
        use_ema: use a checkpoint's EMA generator when present.
        z_dim, value_range: for TorchScript and callables (a checkpoint carries its own).
    """
    sampler = load_sampler(spec, device=device, use_ema=use_ema, z_dim=z_dim, value_range=value_range)
    return GeneratorSource(
        sampler,
        n=10_000 if n is None else int(n),
        seed=int(seed if sample_seed is None else sample_seed),
    )


__all__ = [
    "LATENT_CHUNK",
    "GeneratorSampler",
    "GeneratorSource",
    "generator_source",
    "load_checkpoint_sampler",
    "load_sampler",
]
