"""Bad input: one line on stderr, exit code 2, no traceback, nothing stored."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import corrigo, fenced, write_script


@pytest.fixture
def script(tmp_path: Path) -> Path:
    return write_script(tmp_path / "s.yaml", {"replies": {"solver": [fenced("def f(): pass")]}})


def _assert_clean_failure(done: subprocess.CompletedProcess[str], home: Path, needle: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert needle in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    listed = corrigo("runs", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_unknown_task_id(tmp_path: Path, script: Path) -> None:
    home = tmp_path / "home"
    done = corrigo("run", "humaneval:HumanEval/999", "--model", f"scripted:{script}", home=home)
    _assert_clean_failure(done, home, "unknown task id 'HumanEval/999'")


def test_malformed_jsonl(tmp_path: Path, script: Path) -> None:
    home = tmp_path / "home"
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"id": "a", "prompt": "p", "entry_point": "f"}\n{"id": "b", oops}\n')
    done = corrigo("run", f"jsonl:{tasks}", "--model", f"scripted:{script}", home=home)
    _assert_clean_failure(done, home, "tasks.jsonl:2: not valid JSON")


def test_unknown_strategy(tmp_path: Path, script: Path) -> None:
    home = tmp_path / "home"
    done = corrigo(
        "run",
        "humaneval[:1]",
        "--strategy",
        "telepathy",
        "--model",
        f"scripted:{script}",
        home=home,
    )
    _assert_clean_failure(
        done,
        home,
        "unknown strategy 'telepathy' (known: single, refine, self_debug, reflexion, best_of_n, multi_agent, tree_search, intrinsic)",
    )


def test_unknown_model_provider(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = corrigo("run", "humaneval[:1]", "--model", "oracle:delphi", home=home)
    _assert_clean_failure(done, home, "unknown model provider 'oracle'")


def test_bad_role_override(tmp_path: Path, script: Path) -> None:
    home = tmp_path / "home"
    done = corrigo(
        "run", "humaneval[:1]", "--model", f"scripted:{script}", "--role", "critic=x:y", home=home
    )
    _assert_clean_failure(done, home, "unknown role(s) ['critic']")


def test_missing_script_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = corrigo("run", "humaneval[:1]", "--model", f"scripted:{tmp_path}/nope.yaml", home=home)
    _assert_clean_failure(done, home, "cannot read model script")


def test_unreachable_model_url(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = corrigo(
        "run",
        "humaneval[:1]",
        "--model",
        "openai:some-model",
        "--base-url",
        "http://user:hunter2@127.0.0.1:9/v1",
        home=home,
    )
    _assert_clean_failure(done, home, "cannot reach model server at http://127.0.0.1:9/v1")
    assert "hunter2" not in done.stderr


def test_no_model_configured(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = corrigo("run", "humaneval[:1]", home=home)
    _assert_clean_failure(done, home, "no model configured")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        (
            "postgresql://corrigo:s3cret@127.0.0.1:1/corrigo",
            "cannot open store postgresql://corrigo:***@127.0.0.1:1/corrigo",
        ),
        ("mongodb://127.0.0.1/x", "unknown URL scheme 'mongodb'"),
        ("sqlite:///{tmp}/a-file/corrigo.db", "cannot open store sqlite:///"),
    ],
)
def test_store_that_cannot_be_opened(tmp_path: Path, script: Path, url: str, needle: str) -> None:
    home = tmp_path / "home"
    (tmp_path / "a-file").write_text("not a directory")
    url = url.format(tmp=tmp_path)
    done = corrigo(
        "run", "humaneval[:1]", "--model", f"scripted:{script}", "--store", url, home=home
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[0].startswith("error: ")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert needle in done.stderr
    assert "s3cret" not in done.stderr
    assert "Traceback" not in done.stderr
    assert not (home / "corrigo.db").exists()


def test_unknown_command_option_is_a_usage_error(tmp_path: Path) -> None:
    done = corrigo("run", "humaneval[:1]", "--no-such-flag", home=tmp_path / "home")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"entry_point": "add numbers"}, "entry_point is not a Python identifier ('add numbers')"),
        (
            {"hidden_tests": [{"name": "big", "code": "assert f(1 == 1"}]},
            "a hidden test does not compile (test 'big', line 1: '(' was never closed)",
        ),
    ],
)
def test_task_that_cannot_run(
    tmp_path: Path, script: Path, fields: dict[str, object], needle: str
) -> None:
    home = tmp_path / "home"
    tasks = tmp_path / "tasks.jsonl"
    good = {"id": "a", "prompt": "p", "entry_point": "f", "visible_tests": ["assert f() is None"]}
    tasks.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "b", **fields}) + "\n")
    done = corrigo("run", f"jsonl:{tasks}", "--model", f"scripted:{script}", home=home)
    assert not (home / "corrigo.db").exists()  # checked before a store was opened
    _assert_clean_failure(done, home, f"{tasks}:2: {needle}")
