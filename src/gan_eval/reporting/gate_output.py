"""How gate verdicts are shown: the console table, Markdown (report, GitHub step summary) and JUnit XML, each
naming the gated evaluation."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gan_eval.atomic import atomic_write
from gan_eval.errors import GateFailed
from gan_eval.reporting.gates import GateResult, GateRun, fmt

#: How the gated evaluation is named in every output, in this order.
GATED_FIELDS: tuple[str, ...] = (
    "run_id",
    "checkpoint",
    "fake",
    "epoch",
    "extractor",
    "protocol",
    "n_fake",
    "real",
    "precision",
    "seed",
    "fingerprint",
    "timestamp",
)


Outcome = GateRun | Sequence[GateResult]


def _unpack(outcome: Outcome) -> tuple[Sequence[GateResult], Mapping[str, Any] | None, tuple[str, ...]]:
    if isinstance(outcome, GateRun):
        return outcome.results, outcome.gated, outcome.notes
    return outcome, None, ()


def gated_fields(gated: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, value) pairs naming the gated evaluation, in ``GATED_FIELDS`` order; ``fake`` only when it is
    not a checkpoint, empty values left out."""
    out = []
    for k in GATED_FIELDS:
        v = gated.get(k)
        if k == "fake" and gated.get("checkpoint"):
            continue
        if v is None or v == "":
            continue
        out.append((k, str(v)))
    return out


def describe_gated(gated: Mapping[str, Any]) -> str:
    """One line naming the gated evaluation, e.g. ``run demo, checkpoint runs/demo/ckpt_epoch_005.pt (epoch
    5): mnist-lenet, protocol lenet-28, n_fake 10000 vs mnist, fp32, seed 0, fingerprint acc2873ac7ae28c5,
    evaluated 2025-01-01T00:00:00+00:00``."""
    g = dict(gated_fields(gated))
    what = f"checkpoint {g['checkpoint']}" if "checkpoint" in g else f"fake {g.get('fake', '?')}"
    head = f"run {g.get('run_id', '(none)')}, {what}" + (f" (epoch {g['epoch']})" if "epoch" in g else "")
    body = [
        f"extractor {g.get('extractor', '?')}",
        f"protocol {g.get('protocol', '?')}",
        f"n_fake {g.get('n_fake', '?')} vs {g.get('real', '?')}",
    ]
    body += [f"{k} {g[k]}" for k in ("precision", "seed", "fingerprint") if k in g]
    if "timestamp" in g:
        body.append(f"evaluated {g['timestamp']}")
    return f"{head}: " + ", ".join(body)


def _summary_line(results: Sequence[GateResult]) -> str:
    n_fail = sum(not r.passed for r in results)
    n_skip = sum(r.skipped for r in results)
    n_pass = len(results) - n_fail - n_skip
    verdict = "PASSED" if n_fail == 0 else "FAILED"
    return f"gates {verdict}: {n_pass} passed, {n_fail} failed, {n_skip} skipped"


def raise_if_failed(results: Outcome) -> None:
    """Raise GateFailed (exit code 1) naming the failed gates (and the gated evaluation), when any failed."""
    verdicts, gated, _ = _unpack(results)
    failed = [r for r in verdicts if not r.passed]
    if failed:
        about = f" ({describe_gated(gated)})" if gated else ""
        raise GateFailed(
            f"{len(failed)} of {len(verdicts)} gates failed{about}: " + "; ".join(r.message for r in failed)
        )


def _rows(results: Sequence[GateResult]) -> list[list[str]]:
    return [[r.status, r.metric, r.rule, fmt(r.threshold), fmt(r.value), r.message] for r in results]


_HEADERS = ["status", "metric", "rule", "threshold", "value", "message"]


def gate_table(results: Outcome) -> str:
    """A plain-text table of the verdicts for the terminal: a ``gated:`` line naming the evaluation (with a
    ``GateRun``), the table, a summary line. Notes (warnings) are not included: print them to stderr."""
    from tabulate import tabulate

    verdicts, gated, _ = _unpack(results)
    head = f"gated: {describe_gated(gated)}\n" if gated else ""
    return (
        head
        + tabulate(_rows(verdicts), headers=_HEADERS, tablefmt="simple", disable_numparse=True)
        + "\n"
        + _summary_line(verdicts)
    )


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def gates_markdown(results: Outcome) -> str:
    """The verdicts as GitHub Markdown: a summary line (✅ or ❌), the gated evaluation (a one-row table of
    ``GATED_FIELDS``, with a ``GateRun``), its notes as a warning block, then the verdict table."""
    from tabulate import tabulate

    verdicts, gated, notes = _unpack(results)
    icon = {"PASS": "✅ PASS", "FAIL": "❌ FAIL", "SKIP": "⏭️ SKIP"}
    rows = [[icon[r[0]], *r[1:5], _md(r[5])] for r in _rows(verdicts)]
    head = _summary_line(verdicts)
    mark = "❌" if any(not r.passed for r in verdicts) else "✅"
    parts = [f"{mark} {head[0].upper()}{head[1:]}\n"]  # not bold: in the report bold means "best"
    if gated:
        fields_ = gated_fields(gated)
        parts.append("Gated evaluation:\n")
        parts.append(
            tabulate(
                [[f"`{_md(v)}`" for _, v in fields_]],
                headers=[k for k, _ in fields_],
                tablefmt="github",
                disable_numparse=True,
            )
            + "\n"
        )
    if notes:
        parts.append("> [!WARNING]\n" + "\n".join(f"> {_md(n)}" for n in notes) + "\n")
    parts.append(tabulate(rows, headers=_HEADERS, tablefmt="github", disable_numparse=True) + "\n")
    return "\n".join(parts)


def write_junit(results: Outcome, path: Path | str, *, suite: str = "gan-eval gates") -> Path:
    """Write JUnit XML: one ``testcase`` per gate (``failure`` / ``skipped`` elements with the messages).

    With a ``GateRun`` the testsuite carries ``<properties>`` naming the gated evaluation (``GATED_FIELDS``,
    plus ``warning`` for each note) and a ``system-out`` line describing it; each failure's text names it
    too, so a CI test view shows what was gated."""
    import xml.etree.ElementTree as ET

    verdicts, gated, notes = _unpack(results)
    about = describe_gated(gated) if gated else ""
    root = ET.Element("testsuites")
    ts = ET.SubElement(
        root,
        "testsuite",
        {
            "name": suite,
            "tests": str(len(verdicts)),
            "failures": str(sum(not r.passed for r in verdicts)),
            "errors": "0",
            "skipped": str(sum(r.skipped for r in verdicts)),
            "time": "0",
        },
    )
    if gated:
        props = ET.SubElement(ts, "properties")
        for k, v in gated_fields(gated):
            ET.SubElement(props, "property", {"name": k, "value": v})
        for n in notes:
            ET.SubElement(props, "property", {"name": "warning", "value": n})
    for r in verdicts:
        tc = ET.SubElement(
            ts, "testcase", {"classname": "gan_eval.gates", "name": f"{r.metric} {r.rule}", "time": "0"}
        )
        if r.skipped:
            ET.SubElement(tc, "skipped", {"message": r.message})
        elif not r.passed:
            fail = ET.SubElement(tc, "failure", {"message": r.message, "type": "GateFailed"})
            fail.text = f"threshold {fmt(r.threshold)}, value {fmt(r.value)}: {r.message}" + (
                f"\ngated: {about}" if about else ""
            )
        else:
            ET.SubElement(tc, "system-out").text = r.message
    if gated:
        lines = [f"gated: {about}", *(f"warning: {n}" for n in notes)]
        ET.SubElement(ts, "system-out").text = "\n".join(lines)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return atomic_write(
        Path(path), lambda tmp: tree.write(tmp, encoding="utf-8", xml_declaration=True), checksum=False
    )


def append_github_summary(results: Outcome, *, title: str = "gan-eval quality gates") -> bool:
    """Append the Markdown verdicts (``gates_markdown``) to ``$GITHUB_STEP_SUMMARY`` when it is set; returns
    whether it wrote."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    with open(target, "a", encoding="utf-8") as f:
        f.write(f"## {title}\n\n{gates_markdown(results)}\n")
    return True
