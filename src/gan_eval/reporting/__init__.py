"""Markdown reports, plots and CI quality gates built from the results table (named "reporting" so it is
not confused with the top-level reports/ output folder)."""

from gan_eval.reporting.baseline import Baseline, load_baseline, save_baseline
from gan_eval.reporting.class_balance import ClassBalance, class_balance, class_balance_text
from gan_eval.reporting.gate_config import GateConfig, gated_metrics, load_gate_config
from gan_eval.reporting.gate_output import (
    append_github_summary,
    describe_gated,
    gate_table,
    gates_markdown,
    raise_if_failed,
    write_junit,
)
from gan_eval.reporting.gates import GateResult, GateRun, evaluate_gates, gates_passed, run_gates
from gan_eval.reporting.markdown import summary_table, write_report
from gan_eval.results.query import select_evaluation

__all__ = [
    "Baseline",
    "ClassBalance",
    "GateConfig",
    "GateResult",
    "GateRun",
    "append_github_summary",
    "class_balance",
    "class_balance_text",
    "describe_gated",
    "evaluate_gates",
    "gate_table",
    "gates_markdown",
    "gated_metrics",
    "gates_passed",
    "load_baseline",
    "load_gate_config",
    "raise_if_failed",
    "run_gates",
    "save_baseline",
    "select_evaluation",
    "summary_table",
    "write_report",
    "write_junit",
]
