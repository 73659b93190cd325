"""Generators as sources: gan-eval checkpoints, TorchScript generators and a user's generators
(``FILE.py:NAME`` / ``package.module:NAME``: a class with its ``--weights``, a function, a module; see
:mod:`gan_eval.data.user_generators`).

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
import io
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gan_eval.data.base import RANGE_TOLERANCE, Source, quantize, sample_latent
from gan_eval.data.checkpoint_format import read_checkpoint, read_checkpoint_bytes
from gan_eval.errors import UserError, describe_exception
from gan_eval.runtime import resolve_device

DEFAULT_RANGE = (-1.0, 1.0)
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
    #: False when ``value_range`` is the default (-1, 1) rather than given or recorded: then outputs that all
    #: lie in [0, 1] are refused (a sigmoid generator scored as tanh would be a wrong number, not an error)
    range_given: bool = True
    #: what the results table's ``fake`` column records ("" = the spec)
    label: str = ""

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
        except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's generator failing is bad input, named as such
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


def check_output_range(images: torch.Tensor, sampler: GeneratorSampler) -> None:
    """Refuse a first chunk all in [0, 1] while (-1, 1) is only assumed (not given or recorded): a sigmoid
    generator scored as tanh would give a wrong number, not an error. (Values out of range: ``sample``.)"""
    lo, hi = sampler.value_range
    if sampler.range_given or (lo, hi) != DEFAULT_RANGE:
        return
    tol = RANGE_TOLERANCE * (hi - lo)
    vmin, vmax = float(images.min()), float(images.max())
    if vmin >= -tol:
        raise UserError(
            f"{sampler.spec}: the generator's outputs lie in [{vmin:.4g}, {vmax:.4g}], all inside [0, 1], "
            "while --value-range -1,1 (tanh) is assumed; for a sigmoid/[0, 1] generator pass "
            "--value-range 0,1 (or --value-range -1,1 to confirm tanh)"
        )


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
    ``value_range`` (default ``(-1, 1)``, checked on the first chunk). ``z_dim`` is required. ``data``: the
    file's bytes, when read."""
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
        range_given=value_range is not None,
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
        self.spec, self.value_range = sampler.spec, sampler.value_range
        # the first chunk, as batches() will draw it: its shape, NaNs and range are checked before any pass
        probe = sampler.sample(min(self.latent_chunk, self.n), self._latent_generator())
        check_output_range(probe, sampler)
        self.shape = (int(probe.shape[1]), int(probe.shape[2]), int(probe.shape[3]))
        self.identity = (
            f"{sampler.identity}|n={self.n}|seed={self.seed}|chunk={self.latent_chunk}"
            f"|device={sampler.device.type}"
        )

    def __len__(self) -> int:
        return self.n

    @property
    def info(self) -> dict[str, Any]:
        """What the results table records about the generator: a checkpoint's path, epoch and step, and the
        ``fake`` label of a user's generator."""
        info = dict(self.sampler.info)
        if self.sampler.label:
            info["fake"] = self.sampler.label
        return info

    def _latent_generator(self) -> torch.Generator:
        return torch.Generator(device=self.sampler.device).manual_seed(self.seed)

    def _chunks(self) -> Iterator[torch.Tensor]:
        gen = self._latent_generator()
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
    weights: str | None = None,
    weights_key: str | None = None,
    arch_args: str | dict[str, Any] | None = None,
) -> GeneratorSampler:
    """A generator spec -> sampler: gan-eval checkpoint, TorchScript file, or a user's generator
    (``FILE.py:NAME`` / ``package.module:NAME`` with ``weights``, ``weights_key``, ``arch_args``; see
    :mod:`gan_eval.data.user_generators`)."""
    from gan_eval.data.user_generators import build_user_generator, is_user_spec

    if is_user_spec(spec):
        dev = resolve_device(device)
        user = build_user_generator(
            spec, weights=weights, weights_key=weights_key, arch_args=arch_args, z_dim=z_dim, device=dev
        )
        lo, hi = _value_range(value_range, spec)
        return GeneratorSampler(
            generator=user.call,
            z_dim=user.z_dim,
            distribution="normal",
            value_range=(lo, hi),
            device=dev,
            spec=spec,
            identity=f"{user.identity}|range={lo:g},{hi:g}|dist=normal",
            info=user.info,
            range_given=value_range is not None,
            label=user.label,
        )
    for given, option in ((weights, "--weights"), (weights_key, "--weights-key"), (arch_args, "--arch-args")):
        if given:
            raise UserError(
                f"{spec}: {option} applies to a generator class or function (--fake FILE.py:NAME or "
                "package.module:NAME); a checkpoint or TorchScript file carries its own weights"
            )
    path = Path(spec).expanduser()
    data = read_checkpoint_bytes(path)  # read once: the format, the dict and the sha256 all come from it
    if _is_torchscript_archive(data):
        return load_torchscript_sampler(path, z_dim=z_dim, device=device, value_range=value_range, data=data)
    sampler = load_checkpoint_sampler(path, device=device, use_ema=use_ema, data=data)
    if z_dim is not None and z_dim != sampler.z_dim:
        warnings.warn(
            f"--z-dim {z_dim} is ignored: {spec} records its latent size ({sampler.z_dim})", stacklevel=2
        )
    if value_range is not None and tuple(float(v) for v in value_range) != sampler.value_range:
        lo, hi = sampler.value_range
        warnings.warn(
            f"--value-range is ignored: {spec} records its output range ({lo:g},{hi:g})", stacklevel=2
        )
    return sampler


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
    weights: str | None = None,
    weights_key: str | None = None,
    arch_args: str | dict[str, Any] | None = None,
) -> GeneratorSource:
    """A generator spec as a :class:`Source` of ``n`` uint8 images (``n=None`` -> 10,000).

    The images do not depend on the consumer's batch size: latents are drawn and generated in chunks of
    :data:`LATENT_CHUNK` (see :class:`GeneratorSource`).

    Args:
        seed / sample_seed: the latent seed (``sample_seed`` wins when given; it is the name ``parse_source``
            forwards, whose own ``seed`` is the dataset-subset seed).
        device: ``cpu``, ``cuda`` or ``auto``.
        use_ema: use a checkpoint's EMA generator when present.
        z_dim, value_range: for TorchScript files and a user's generators (a checkpoint carries its own).
        weights, weights_key, arch_args: a user's generator class (``FILE.py:NAME``) and its state_dict.
    """
    sampler = load_sampler(
        spec,
        device=device,
        use_ema=use_ema,
        z_dim=z_dim,
        value_range=value_range,
        weights=weights,
        weights_key=weights_key,
        arch_args=arch_args,
    )
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
