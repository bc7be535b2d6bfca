"""``python -m zoo`` list / describe / env / catalogue (issue #2, item 7 and 9)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zoo import catalogue
from zoo.cli import main


def test_list_shows_components(capsys):
    assert main(["list", "attention/*"]) == 0
    out = capsys.readouterr().out
    assert "attention/temporal" in out and "attention/spatial" in out


def test_list_by_kind(capsys):
    assert main(["list", "--kind", "attention_backend"]) == 0
    out = capsys.readouterr().out
    assert "attention_backend/math" in out and "attention/temporal" not in out


def test_list_with_no_match_exits_2(capsys):
    assert main(["list", "nothing/here*"]) == 2
    assert "nothing matches" in capsys.readouterr().err


def test_describe_component(capsys):
    assert main(["describe", "attention/temporal"]) == 0
    out = capsys.readouterr().out
    for part in ("paper:", "signature:", "num_heads", "tiny:", '"dim": 16'):
        assert part in out


def test_describe_unknown_suggests(capsys):
    assert main(["describe", "attention/temporl"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean" in err and err.count("\n") == 1


def test_env_lists_backends_with_reasons(capsys):
    assert main(["env", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "attention backends on cpu" in out
    assert "math" in out and "available" in out
    assert "unavailable: " in out  # CUDA-only kernels say why (no CUDA on CPU)


def test_bad_command_is_one_line_and_exit_2():
    proc = subprocess.run([sys.executable, "-m", "zoo", "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "invalid choice" in proc.stderr


def test_bad_option_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["env", "--device", "tpu"])
    assert info.value.code == 2


def test_committed_catalogue_is_up_to_date():
    committed = catalogue.DEFAULT_PATH.read_text() if catalogue.DEFAULT_PATH.exists() else ""
    assert committed == catalogue.render(), "docs/catalogue.md is stale: run `python -m zoo catalogue`"


def test_catalogue_lists_every_component():
    import components

    text = catalogue.render()
    for key in components.list_components():
        assert f"`{key}`" in text


def test_bench_passes_everything_through_to_the_benchmarks_cli(capsys):
    assert main(["bench", "no_such_suite"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_internal_error_is_one_line_and_debug_shows_the_traceback(capsys, monkeypatch):
    import zoo.cli as cli

    def broken(args):
        raise TypeError("an internal bug")

    monkeypatch.setattr(cli, "cmd_env", broken)
    assert main(["env"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "an internal bug" in err and "--debug" in err
    with pytest.raises(TypeError, match="an internal bug"):
        main(["--debug", "env"])


def test_a_subcommand_whose_import_fails_is_not_hidden(monkeypatch):
    import zoo.cli as cli

    monkeypatch.setitem(cli._MODULE_COMMANDS, "broken", ("zoo._no_such_module", "a command that cannot import"))
    with pytest.raises(ImportError):
        cli.build_parser()


def test_catalogue_outside_a_checkout_needs_a_path(monkeypatch, tmp_path, capsys):
    import argparse

    with pytest.raises(ValueError, match="--path is required"):
        catalogue.main(argparse.Namespace(check=False, path=None))
    out = tmp_path / "catalogue.md"
    assert catalogue.main(argparse.Namespace(check=False, path=out)) == 0
    assert out.read_text() == catalogue.render()
