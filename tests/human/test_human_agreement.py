"""Metric-human agreement (Spearman, Kendall, exact p-values, one comparable setup at a time), the report's
section on it, and human rows in ``compare``-style rankings and gates like any metric."""

from __future__ import annotations

import math
import re
from itertools import permutations

import pandas as pd
import pytest
from typer.testing import CliRunner

from gan_eval.cli import app
from gan_eval.human.agreement import rank_correlation, smallest_p, study_agreements
from gan_eval.reporting import write_report
from gan_eval.results import append_results
from gan_eval.results.table import make_rows

HUMAN = [0.10, 0.30, 0.20, 0.40, 0.45]  # hype_inf of arms a0..a4
FID = [50.0, 20.0, 30.0, 12.0, 10.0]  # the same order, lower is better
IS = [9.0, 2.0, 5.0, 3.0, 1.0]  # roughly the reverse


def _spearman_by_hand(x: list[float], y: list[float]) -> float:
    """Spearman's rho of untied data: 1 - 6 sum d^2 / (n (n^2 - 1))."""
    rx = {v: i for i, v in enumerate(sorted(x))}
    ry = {v: i for i, v in enumerate(sorted(y))}
    n = len(x)
    d2 = sum((rx[a] - ry[b]) ** 2 for a, b in zip(x, y, strict=True))
    return 1 - 6 * d2 / (n * (n * n - 1))


def test_correlations_and_exact_p_values_against_enumeration():
    """rho from the textbook formula; the p-value counts, over all 5! orders, those at least as extreme."""
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0]
    c = rank_correlation(x, y)
    assert c.spearman == pytest.approx(_spearman_by_hand(x, y)) and c.n == 5 and c.p_method == "exact"
    rhos = [_spearman_by_hand(x, list(p)) for p in permutations(y)]
    at_least = sum(r >= c.spearman - 1e-12 for r in rhos) / len(rhos)
    assert c.spearman_p == pytest.approx(min(1.0, 2 * at_least))
    concordant = sum((x[i] - x[j]) * (y[i] - y[j]) > 0 for i in range(5) for j in range(i))
    assert c.kendall == pytest.approx((2 * concordant - 10) / 10)
    perfect = rank_correlation([1, 2, 3], [10, 20, 30])
    assert (perfect.spearman, perfect.spearman_p, perfect.kendall_p) == (
        1.0,
        pytest.approx(1 / 3),
        pytest.approx(1 / 3),
    )
    assert smallest_p(4) == pytest.approx(1 / 12) and smallest_p(5) == pytest.approx(1 / 60)
    flat = rank_correlation([0.3, 0.3, 0.3], [1, 2, 3])
    assert math.isnan(flat.spearman) and math.isnan(flat.kendall_p)


def _table(tmp_path, human=HUMAN, fid=FID, is_=IS, n_arms=5) -> pd.DataFrame:
    base = dict(real="mnist:test", precision="fp32", seed=0, device="cpu", run_id="run")
    frames = []
    for k in range(n_arms):
        fake = f"runs/x/ckpt_epoch_{k:03d}.pt"
        lenet = {**base, "fake": fake, "extractor": "mnist-lenet", "protocol": "lenet-28", "epoch": k}
        frames.append(
            make_rows({"fid": fid[k], "is_mean": is_[k]},
                      meta={**lenet, "n_real": 10000, "n_fake": 10000, "checkpoint": fake.split("/")[-1]})
        )  # fmt: skip
        # another setup (fewer samples) that ranks the other way: never mixed with the first
        frames.append(
            make_rows({"fid": 100 - fid[k]}, meta={**lenet, "n_real": 10000, "n_fake": 500})
        )  # fmt: skip
        if k < 2:  # a third setup that measured two arms only
            frames.append(
                make_rows({"fid": fid[k]}, meta={**base, "fake": fake, "n_real": 10000, "n_fake": 10000,
                          "extractor": "inception", "protocol": "pytorch-fid"})
            )  # fmt: skip
        frames.append(
            make_rows(
                {"hype_inf": human[k], "hype_fake_error": 2 * human[k], "hype_real_error": 0.0},
                cis={"hype_inf": (human[k] - 0.05, human[k] + 0.05)},
                meta={**base, "fake": fake, "n_real": 200, "n_fake": 200, "extractor": "human",
                      "protocol": "hype-inf", "precision": "n/a", "device": "people", "run_id": "study",
                      "checkpoint": fake.split("/")[-1], "epoch": k, "n_ratings": 300, "n_raters": 3},
            )
        )  # fmt: skip
    df = pd.concat(frames, ignore_index=True)
    append_results(df, tmp_path / "results.csv")
    return df


def test_each_metric_of_each_setup_against_the_people(tmp_path):
    (st,) = study_agreements(_table(tmp_path))
    assert st.run_id == "study" and st.n == 5 and list(st.arms.values())[0] == "ckpt_epoch_000.pt"
    found = {(m.metric, m.setup.split("n_fake ")[1]): m for m in st.metrics}
    assert set(found) == {("fid", "10000"), ("is_mean", "10000"), ("fid", "500")}
    fid = found[("fid", "10000")]
    assert fid.correlation.spearman == pytest.approx(1.0) and fid.correlation.kendall == pytest.approx(1.0)
    assert fid.correlation.spearman_p == pytest.approx(1 / 60) and not fid.higher_is_better
    assert found[("fid", "500")].correlation.spearman == pytest.approx(-1.0)  # its own setup and ranking
    assert found[("is_mean", "10000")].correlation.spearman == pytest.approx(_spearman_by_hand(HUMAN, IS))
    assert st.skipped == ["fid (inception, pytorch-fid, n_fake 10000): 2 of 5 arms measured"]


def test_the_report_puts_each_ranking_beside_the_peoples(tmp_path):
    df = _table(tmp_path)
    text = write_report(df, tmp_path / "r.md").read_text()
    section = text[text.index("## People vs metrics: study") :]
    assert "| arm " in section and "hype_inf ↑ (rank)" in section and "fid ↓ [1] (rank)" in section
    assert "| ckpt_epoch_004.pt | 0.450 [0.400, 0.500] (1) | 10 (1)" in section
    assert "bootstrap over the raters (3 per arm)" in section and "Spearman ρ" in section
    assert re.search(
        r"\| fid +\| mnist-lenet, lenet-28, n_fake 10000 +\| \+1\.00 +\| 0\.0167 +\| \+1\.00", section
    )
    assert "no correlation can be significant" not in section
    assert "2 of 5 arms measured" in section
    small = write_report(_table(tmp_path / "s", n_arms=3), tmp_path / "small.md").read_text()
    assert "smallest two-sided p-value any ranking can reach is 2/3! = 0.333" in small
    assert "no correlation can be significant at the 5 % level" in small
    runner = CliRunner()
    r = runner.invoke(
        app,
        ["report", "--results", str(tmp_path / "results.csv"), "-o", str(tmp_path / "c.md"), "--no-samples"],
    )
    assert r.exit_code == 0, r.stderr
    assert "## People vs metrics: study" in (tmp_path / "c.md").read_text()


@pytest.mark.parametrize("value, code", [(0.45, 0), (0.2, 1)])
def test_a_gate_on_hype_inf_holds_like_any_metric(tmp_path, value, code):
    """``hype_inf >= 0.3`` passes for the latest arm at 0.45 and fails (exit 1) at 0.2."""
    human = [*HUMAN[:4], value]
    _table(tmp_path, human=human)
    gate = tmp_path / "gate.toml"
    gate.write_text(
        '[evaluation]\nextractor = "human"\nprotocol = "hype-inf"\nn_fake = 200\n\n'
        "[absolute]\nhype_inf = { min = 0.3 }\nhype_real_error = { max = 0.5 }\n"
    )
    runner = CliRunner()
    r = runner.invoke(
        app, ["gate", "--config", str(gate), "--results", str(tmp_path / "results.csv"), "--run", "study"]
    )
    assert r.exit_code == code, r.stdout + r.stderr
    assert "hype_inf" in r.stdout and ("FAIL" in r.stdout) == (code == 1)
