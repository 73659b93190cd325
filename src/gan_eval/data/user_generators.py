"""Generators a user wrote: a class and its state_dict, a file imported by path, a module in memory.

``--fake FILE.py:NAME`` imports ``FILE.py`` by path (no ``PYTHONPATH`` needed; its folder is importable while
it loads, so it may import its neighbours) and ``--fake package.module:NAME`` imports a module (the current
folder is importable, as under ``python -m``). ``NAME`` is

- an ``nn.Module`` subclass: built with ``--arch-args`` (JSON or ``key=value,...``) and loaded from
  ``--weights FILE`` (a state_dict, or a dict holding one: :mod:`gan_eval.data.state_dicts`);
  without ``--weights`` it is refused, since it would score random weights;
- a function returning a generator (a module or any callable ``[B, z] -> [B, C, H, W]``) or
  ``(generator, z_dim)``; ``--weights`` loads into the module it returns;
- an ``nn.Module`` instance.

The latent size comes from ``--z-dim``, else a ``latent_dim`` / ``z_dim`` / ``nz`` attribute or constructor
argument, else the input size of the first layer (a ``Linear`` gives ``[B, z]``; a ``ConvTranspose2d`` or
``Conv2d`` first layer gives ``[B, z, 1, 1]`` latents, as the DCGAN tutorial feeds them). Modules are sampled
in eval mode (batch norm uses its running statistics), under ``no_grad``; a module in memory is put back in
the mode it was in after every call, and never moved to another device.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_eval.data.state_dicts import load_weights_into, read_weights
from gan_eval.errors import UserError, describe_exception

#: ``FILE.py:NAME``: a Python file imported by path.
FILE_SPEC_RE = re.compile(r"^(?P<file>.+\.py):(?P<name>[A-Za-z_]\w*)$")
#: ``package.module:NAME``.
MODULE_SPEC_RE = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<name>[A-Za-z_]\w*)$")
#: Attribute and constructor-argument names that hold the latent size.
LATENT_NAMES = ("latent_dim", "z_dim", "nz", "noise_dim", "dim_z", "latent_size", "zdim")


def is_user_spec(spec: str) -> bool:
    """True for ``FILE.py:NAME`` and ``package.module:NAME`` (not for paths of other files)."""
    return bool(FILE_SPEC_RE.match(spec)) or (bool(MODULE_SPEC_RE.match(spec)) and not Path(spec).exists())


# ---------------------------------------------------------------- importing
def _loops_at_top_level(source: str) -> int | None:
    """The line of the first top-level ``for``/``while`` loop (a training loop that importing would run)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None  # the import reports it
    for node in tree.body:
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            return node.lineno
    return None


@contextlib.contextmanager
def _importable(folder: str) -> Iterator[None]:
    """``folder`` first on ``sys.path`` and ``sys.argv`` reduced to the program name while a user's file
    is imported: a script that parses its arguments at import (``argparse``) gets its defaults, not
    gan-eval's options."""
    saved_path, saved_argv = list(sys.path), list(sys.argv)
    sys.path.insert(0, folder)
    sys.argv = sys.argv[:1]
    try:
        yield
    finally:
        sys.path[:], sys.argv[:] = saved_path, saved_argv


def import_object(spec: str) -> tuple[Any, str]:
    """The object ``NAME`` of ``FILE.py:NAME`` or ``package.module:NAME`` and a short description of where
    it came from (``gen.py:Generator``, with the file's sha256 for a file). UserError for a missing file or
    module, a file that fails to import (its exception named), one that would run a training loop at
    import, or a missing name."""
    m = FILE_SPEC_RE.match(spec)
    if m:
        path = Path(m["file"]).expanduser()
        name = m["name"]
        if not path.is_file():
            raise UserError(f"{spec}: no such Python file {path}")
        source = path.read_bytes()
        line = _loops_at_top_level(source.decode("utf-8", errors="replace"))
        if line is not None:
            raise UserError(
                f"{spec}: {path.name} runs a loop at import (line {line}), e.g. its training loop; move it "
                'under `if __name__ == "__main__":` so gan-eval can import the generator class alone'
            )
        digest = hashlib.sha256(source).hexdigest()
        stem = re.sub(r"\W", "_", path.stem)
        mod_name = f"_gan_eval_user_{stem}_{digest[:12]}"
        module = sys.modules.get(mod_name)
        if module is None:
            loader_spec = importlib.util.spec_from_file_location(mod_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise UserError(f"{spec}: cannot import {path}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[mod_name] = module  # dataclasses and pickling look the module up by name
            try:
                with _importable(str(path.resolve().parent)):
                    loader_spec.loader.exec_module(module)
            except BaseException as e:  # noqa: BLE001 - the user's file failing (SystemExit too) is bad input
                sys.modules.pop(mod_name, None)
                raise UserError(f"{spec}: importing {path.name} failed ({describe_exception(e)})") from e
        where = f"{path.name}:{name}@{digest[:12]}"
    else:
        m = MODULE_SPEC_RE.match(spec)
        if m is None:
            raise UserError(f"{spec}: expected FILE.py:NAME or package.module:NAME")
        name = m["name"]
        try:
            with _importable(os.getcwd()):  # as under `python -m`: the current folder is importable
                module = importlib.import_module(m["module"])
        except ImportError as e:
            raise UserError(f"{spec}: cannot import module {m['module']!r} ({e})") from None
        except BaseException as e:  # noqa: BLE001 - the module's own code failed while importing
            raise UserError(
                f"{spec}: importing module {m['module']!r} failed ({describe_exception(e)})"
            ) from e
        where = spec
    if not hasattr(module, name):
        found = sorted(k for k, v in vars(module).items() if isinstance(v, type) and issubclass(v, nn.Module))
        hint = f"; its nn.Module classes: {', '.join(found[:8])}" if found else ""
        raise UserError(f"{spec}: {name!r} is not defined there{hint}")
    return getattr(module, name), where


# ---------------------------------------------------------------- constructor arguments
def parse_arch_args(text: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """``--arch-args``: a JSON object (``{"latent_dim": 64}``) or ``key=value,...`` whose values are read as
    JSON when they parse (numbers, true/false, lists) and as strings otherwise; a mapping is taken as is."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"--arch-args {text!r}: not valid JSON ({e})") from None
        if not isinstance(value, dict):
            raise UserError(f"--arch-args {text!r}: expected a JSON object")
        return value
    out: dict[str, Any] = {}
    for part in _split_top_level(text):
        key, eq, raw = part.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise UserError(f"--arch-args {text!r}: expected key=value,... or a JSON object, got {part!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw.strip()
    return out


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets: ``img_shape=[1,28,28],hidden=256`` -> two parts."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        depth += (ch in "[{(") - (ch in "]})")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


# ---------------------------------------------------------------- latent size and shape
def _first_layer(model: nn.Module) -> nn.Module | None:
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.ConvTranspose2d, nn.Conv2d, nn.Embedding)):
            return m
    return None


def latent_size(
    made: Any, *, z_dim: int | None, args: Mapping[str, Any], cls: type | None, where: str
) -> tuple[int, bool]:
    """``(z_dim, conv)``: the latent size (see the module docstring for the order) and whether latents go in
    as ``[B, z, 1, 1]`` (a convolutional first layer). UserError asking for ``--z-dim`` when nothing tells."""
    first = _first_layer(made) if isinstance(made, nn.Module) else None
    conv = isinstance(first, (nn.ConvTranspose2d, nn.Conv2d))
    if z_dim:
        return int(z_dim), conv
    for name in LATENT_NAMES:
        v = getattr(made, name, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v, conv
    for name in LATENT_NAMES:
        v = args.get(name)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v, conv
    if cls is not None:
        with contextlib.suppress(TypeError, ValueError):
            params = inspect.signature(cls).parameters
            for name in LATENT_NAMES:
                v = params[name].default if name in params else None
                if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                    return v, conv
    if isinstance(first, nn.Linear):
        return int(first.in_features), False
    if isinstance(first, (nn.ConvTranspose2d, nn.Conv2d)):
        return int(first.in_channels), True
    raise UserError(
        f"{where}: cannot tell the generator's latent size (no latent_dim/z_dim/nz attribute or argument, "
        "no Linear or ConvTranspose2d first layer); pass --z-dim N"
    )


class EvalModeCall:
    """``[B, z] -> images`` through ``module`` in eval mode, each submodule's mode restored after the call
    (the caller's module is left as it was found); ``conv``: feed ``[B, z, 1, 1]``."""

    def __init__(self, module: nn.Module, conv: bool) -> None:
        self.module, self.conv = module, conv

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        modes = [(m, m.training) for m in self.module.modules()]
        self.module.eval()
        try:
            return self.module(z.view(z.shape[0], -1, 1, 1) if self.conv else z)
        finally:
            for m, mode in modes:
                m.training = mode


def module_device(module: Any) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a callable without any)."""
    if isinstance(module, nn.Module):
        for t in (*module.parameters(), *module.buffers()):
            return t.device
    return torch.device("cpu")


def params_hash(module: Any) -> str:
    """sha256 (16 hex digits) of a module's state_dict names and bytes ("" for a plain callable)."""
    if not isinstance(module, nn.Module):
        return ""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- building
@dataclass(frozen=True)
class UserGenerator:
    """A user's generator ready to sample: ``call`` maps float32 ``[B, z_dim]`` to images; ``label`` is what
    the results table's ``fake`` column records; ``identity`` what the caches and fingerprints hash."""

    call: Callable[[torch.Tensor], Any]
    z_dim: int
    label: str
    identity: str
    info: dict[str, Any]
    device: torch.device


def build_user_generator(
    spec: str,
    *,
    weights: str | os.PathLike[str] | None = None,
    weights_key: str | None = None,
    arch_args: str | Mapping[str, Any] | None = None,
    z_dim: int | None = None,
    device: torch.device,
) -> UserGenerator:
    """``FILE.py:NAME`` / ``package.module:NAME`` (+ ``--weights``, ``--arch-args``) -> a generator on
    ``device`` in eval mode (see the module docstring)."""
    obj, where = import_object(spec)
    args = parse_arch_args(arch_args)
    loaded = read_weights(weights, weights_key) if weights is not None else None
    cls: type | None = None
    if isinstance(obj, type) and issubclass(obj, nn.Module):
        cls = obj
        if loaded is None:
            raise UserError(
                f"{spec}: {obj.__name__} is a class; without --weights FILE gan-eval would score randomly "
                "initialised weights (pass the state_dict you saved with torch.save(G.state_dict(), FILE))"
            )
        try:
            made: Any = obj(**args)
        except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's constructor failing is bad input
            shown = f" with --arch-args {json.dumps(args)}" if args else " with no arguments"
            raise UserError(f"{spec}: building {obj.__name__}{shown} failed ({describe_exception(e)})") from e
    elif isinstance(obj, type):
        raise UserError(f"{spec}: {obj.__name__} is a class but not a torch.nn.Module")
    elif isinstance(obj, nn.Module):
        if args:
            raise UserError(f"{spec}: is a module instance; --arch-args applies to a class")
        made = obj
    elif callable(obj):
        if args:
            raise UserError(f"{spec}: is a function; --arch-args applies to a class")
        try:
            made = obj()
        except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's factory failing is bad input, named as such
            raise UserError(
                f"{spec}: calling {spec.rpartition(':')[2]}() failed ({describe_exception(e)})"
            ) from e
        if isinstance(made, tuple) and len(made) == 2 and isinstance(made[1], int):
            made, found = made
            z_dim = z_dim or found
        if not callable(made):
            raise UserError(
                f"{spec}: returned {type(made).__name__}, expected a generator module or (module, z_dim)"
            )
    else:
        raise UserError(f"{spec}: is a {type(obj).__name__}, expected a generator class, function or module")
    if loaded is not None:
        if not isinstance(made, nn.Module):
            raise UserError(f"{spec}: --weights needs an nn.Module, got {type(made).__name__}")
        load_weights_into(made, loaded, spec)
    z, conv = latent_size(made, z_dim=z_dim, args=args, cls=cls, where=spec)
    if isinstance(made, nn.Module):
        made = made.to(device).eval()
    call: Callable[[torch.Tensor], Any] = EvalModeCall(made, conv) if isinstance(made, nn.Module) else made
    label = spec + (f"({json.dumps(args, sort_keys=True)})" if args else "")
    identity = f"user:{where}|args={json.dumps(args, sort_keys=True)}|z={z}|conv={conv}"
    info: dict[str, Any] = {}
    if loaded is not None:
        key = f"[{loaded.key}]" if loaded.key else ""
        label += f" weights={loaded.path}{key} sha256={loaded.sha256[:12]}"
        identity += f"|weights={loaded.sha256[:16]}{key}"
        info.update({k: v for k, v in (("epoch", loaded.epoch), ("step", loaded.step)) if v is not None})
    elif isinstance(made, nn.Module):
        identity += f"|params={params_hash(made)}"
    return UserGenerator(call, z, label, identity, info, device)
