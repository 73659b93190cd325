"""The demo's command runner: gan-eval commands in this process, with the script's exit codes."""

from __future__ import annotations

import pytest

from gan_eval import demo


def test_commands_run_in_process_with_the_cli_exit_codes(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(demo, "STAGES", [])
    assert demo._gan_eval("help", "fid", "--help") == 0
    missing = str(tmp_path / "nope.pt")
    assert demo._gan_eval("bad input", "compare", missing, check=False) == 2  # a UserError: exit code 2
    with pytest.raises(SystemExit) as e:
        demo._gan_eval("bad input", "compare", missing)
    assert e.value.code == 2
    out, err = capsys.readouterr()
    assert f"$ gan-eval compare {missing}" in out and "exit code 2" in out
    assert "no such checkpoint" in err
    assert [name for name, _ in demo.STAGES] == ["help", "bad input", "bad input"]
