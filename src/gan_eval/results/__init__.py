"""The long-format results table (one row per metric value); see ``gan_eval.results.table`` for the schema.

For notebooks: ``from gan_eval.results import load_results; df = load_results("reports/results.csv")``.
"""

from gan_eval.results.store import append_results, load_results
from gan_eval.results.table import (
    COLUMNS,
    FINGERPRINT_COLUMNS,
    SCHEMA,
    Column,
    check_comparable,
    compute_fingerprint,
    fingerprint_columns,
    make_rows,
)

__all__ = [
    "COLUMNS",
    "FINGERPRINT_COLUMNS",
    "SCHEMA",
    "Column",
    "append_results",
    "check_comparable",
    "compute_fingerprint",
    "fingerprint_columns",
    "load_results",
    "make_rows",
]
