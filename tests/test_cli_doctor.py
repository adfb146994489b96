"""`corrigo doctor` reports each part and fails when one is broken."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import corrigo, fenced, write_script


def test_doctor_all_ok_with_a_scripted_model(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.yaml", {"replies": {"solver": [fenced("x = 1")]}})
    done = corrigo("doctor", "--model", f"scripted:{script}", home=tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if line.strip()}
    assert lines["store"].startswith("ok") and "corrigo.db" in lines["store"]
    assert lines["sandbox"].startswith("ok") and "smoke test passed" in lines["sandbox"]
    assert lines["model"].startswith("ok") and "reachable" in lines["model"]
    assert lines["suites"].startswith("ok") and "none pulled" in lines["suites"]


def test_doctor_fails_when_an_instructions_suite_has_no_nltk_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    suite = home / "suites" / "ifeval"
    suite.mkdir(parents=True)
    (suite / "tasks.jsonl").write_text("{}\n")
    script = write_script(tmp_path / "s.yaml", {"replies": {"solver": [fenced("x = 1")]}})
    done = corrigo("doctor", "--model", f"scripted:{script}", home=home)
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if " suites " in line)
    assert "NLTK data missing: corrigo suites pull ifeval" in line


def test_doctor_fails_on_unreachable_model(tmp_path: Path) -> None:
    done = corrigo(
        "doctor",
        "--model",
        "openai:m",
        "--base-url",
        "http://127.0.0.1:9/v1",
        home=tmp_path / "home",
    )
    assert done.returncode == 1
    model_line = next(line for line in done.stdout.splitlines() if " model " in line)
    assert model_line.startswith("FAIL") and "cannot reach model server" in model_line
