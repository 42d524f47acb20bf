"""Outputs go to regular files in folders that exist, whole or not at all."""

from __future__ import annotations

import os

import pytest
from conftest import INSTANCES
from typer.testing import CliRunner

from allocator.io.atomic import writable, write_json_atomic, write_text_atomic
from allocator.io.errors import InputError
from cli.main import app


@pytest.fixture
def target(tmp_path):
    return tmp_path / "plan.json"


def test_a_regular_file_is_replaced_whole(target):
    write_text_atomic(target, "old\n")
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["plan.json"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.symlink_to(p.parent / "elsewhere"), "is a symbolic link"),
        (lambda p: os.mkfifo(p), "is a device, pipe or socket"),
    ],
    ids=["folder", "symlink", "fifo"],
)
def test_anything_but_a_regular_file_is_refused(target, make, message):
    make(target)
    with pytest.raises(InputError, match=message):
        write_text_atomic(target, "x")


def test_a_missing_folder_is_not_created(tmp_path):
    target = tmp_path / "missing" / "plan.json"
    with pytest.raises(InputError, match=r"folder .* does not exist; create it first"):
        write_text_atomic(target, "x")
    assert not (tmp_path / "missing").exists()


def test_every_target_is_checked_before_anything_is_written(tmp_path):
    with pytest.raises(InputError) as raised:
        writable(tmp_path / "fine.json", tmp_path, tmp_path / "no" / "x.md")
    assert len(raised.value.problems) == 2


def test_a_device_is_never_replaced():
    with pytest.raises(InputError, match="is a device"):
        write_text_atomic("/dev/null", "x")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_a_non_finite_number_leaves_no_file(target):
    with pytest.raises(ValueError):
        write_json_atomic(target, {"x": float("nan")})
    assert list(target.parent.iterdir()) == []


def test_solve_checks_its_outputs_before_solving(tmp_path):
    plan = tmp_path / "tiny.plan.json"
    result = CliRunner().invoke(
        app,
        ["solve", str(INSTANCES / "tiny.yaml"), "-o", str(plan), "--report", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "is a folder; an output is written only to a regular file" in result.output
    assert not plan.exists()  # nothing is written when one output cannot be
