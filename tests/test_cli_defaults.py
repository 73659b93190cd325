"""docs/cli_defaults.md (every command's options and defaults) is generated from the CLI and kept current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli_defaults.py"


def _module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("cli_defaults", DOC)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_defaults_table_is_current_and_shared_options_agree():
    mod = _module()
    text = mod.render()
    assert mod.OUT.read_text() == text, "docs/cli_defaults.md is out of date: run python docs/cli_defaults.py"
    shared = text.split("## Shared options at a glance", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in shared.splitlines() if line.startswith("| `--")}
    # options that must mean the same everywhere (issue 22.3): one default across every command
    for opt in ("--seed", "--precision", "--json", "--no-ema", "--value-range", "--z-dim", "--weights-key"):
        assert rows[f"`{opt}`"].count("**") == 2 or opt == "--seed", rows[f"`{opt}`"]
    assert "**auto** (compare, eval, fid, gate, human new, is, kid, pr, sample, stats, train)" in text
