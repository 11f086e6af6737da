"""The `navtms` command itself: every subcommand is listed and has working help; errors exit 2."""
import subprocess
import sys

import pytest

from navtms.cli import _command_modules, build_parser, main

EXPECTED = {"demo", "plan", "targets", "register", "calibrate-camera", "track", "replay", "navigate", "bench"}


def test_main_commands_are_present():
    names = {m.NAME for m in _command_modules()}
    assert EXPECTED <= names, f"missing: {EXPECTED - names}"


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for m in _command_modules():
        assert m.NAME in out


@pytest.mark.parametrize("name", sorted(m.NAME for m in _command_modules()))
def test_each_command_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    assert "usage: navtms " + name in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


@pytest.mark.slow
def test_unknown_command_is_an_error():
    r = subprocess.run([sys.executable, "-m", "navtms", "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "invalid choice" in r.stderr


@pytest.mark.slow
def test_library_error_is_one_sentence_and_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "navtms", "plan", str(tmp_path / "missing.nii.gz"),
                        "--target", "dlpfc-fox2012", "--out", str(tmp_path / "plan")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "missing.nii.gz" in r.stderr
    assert not (tmp_path / "plan").exists()


def test_negative_coordinates_need_no_equals_sign():
    from navtms.cli import join_negative_values

    assert join_negative_values(["register", "--target", "-38,44,26", "--fle-mm", "2"]) == \
        ["register", "--target=-38,44,26", "--fle-mm", "2"]
    assert join_negative_values(["x", "--offset", "-3"]) == ["x", "--offset", "-3"]  # argparse takes plain numbers
    assert join_negative_values(["x", "--target=-1,2,3"]) == ["x", "--target=-1,2,3"]
