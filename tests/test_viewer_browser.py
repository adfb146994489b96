"""The web viewer in a real browser: Debian's headless Chromium, driven by selenium.

The real server (``corrigo serve`` on a free loopback port, from tests/serve_helpers.py)
serves a store holding the refine story (the first candidate fails a visible test, the
reviewer names the bug, the refined one passes), a run whose code and output are
hostile HTML, and a small bench.
The browser signs in with the token, finds the story in the runs list with its
incorrect→correct mark, opens it and reads the diff, the failing test and the
critique; submits a slow run through the API and follows it to its outcome without
reloading; opens the bench page and sees its table and plot. Every page is saved as a
screenshot (paths printed; the last run's are copied to build/screenshots/).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

import corrigo
from corrigo.config import Settings
from tests.helpers import fenced, write_script
from tests.serve_helpers import TOKEN, demo_files, serve
from tests.test_story import CRITIQUE, story_script

ROOT = Path(__file__).resolve().parent.parent
WAIT = 90  # seconds an explicit wait may take before the test fails; never asserted on

HOSTILE_CODE = (
    "def longest(strings):\n"
    "    # </pre><script>window.pwned = 'script'</script>\n"
    "    return '<img src=x onerror=\"window.pwned=1\">'\n"
)
SLOW_WRONG = "def add(a, b):\n    return a - b\n"
SLOW_RIGHT = "def add(a, b):\n    return a + b\n"


# --- the data the pages show ---------------------------------------------------------------


#: A task whose visible test sleeps, so its run takes a few seconds.
SLOW_TASK = {
    "id": "slow/add",
    "prompt": 'def add(a, b):\n    """Return a + b."""\n',
    "entry_point": "add",
    "visible_tests": [
        {"name": "slow sum", "code": "import time\ntime.sleep(3)\nassert add(1, 2) == 3"}
    ],
    "hidden_tests": ["assert add(2, 5) == 7"],
}


def _slow_script(where: Path) -> Path:
    return write_script(
        where / "slow.yaml",
        {
            "model": "slow-script",
            "replies": {
                "solver": [fenced(SLOW_WRONG)],
                "reviewer": ["It subtracts; add instead."],
                "refiner": [fenced(SLOW_RIGHT)],
            },
        },
    )


async def _stored_runs(where: Path, settings: Settings) -> dict[str, str]:
    """The story, the hostile run and the bench, stored before the server starts."""
    story = story_script(where)
    [told] = await corrigo.run(
        "humaneval:HumanEval/12", strategy="refine", model=f"scripted:{story}", settings=settings
    )
    hostile = write_script(
        where / "hostile.yaml",
        {"model": "<b>bold-model</b>", "replies": {"solver": [fenced(HOSTILE_CODE)]}},
    )
    [bad] = await corrigo.run(
        "humaneval:HumanEval/12", strategy="single", model=f"scripted:{hostile}", settings=settings
    )
    report = await corrigo.run_bench(
        suite="humaneval:HumanEval/12",
        strategies=["single", "refine"],
        models=[f"scripted:{story}"],
        settings=settings,
        concurrency=1,
    )
    return {"story": told.run_id, "hostile": bad.run_id, "bench": report.bench.id}


# --- the browser -----------------------------------------------------------------------------


def _need_chromium() -> None:
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    subprocess.run(
        [str(ROOT / "scripts/apt-install.sh"), "chromium", "chromium-driver"], check=True
    )


def _browser() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",  # tests run as root in CI, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1600,1000",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


class Shots:
    """Full-page screenshots, numbered in the order taken."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.taken: list[Path] = []

    def take(self, driver: WebDriver, name: str) -> Path:
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {
            "x": 0,
            "y": 0,
            "width": size["width"],
            "height": min(size["height"], 6000),
            "scale": 1,
        }
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        path = self.directory / f"{len(self.taken) + 1:02d}-{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        self.taken.append(path)
        print(f"screenshot: {path}")
        return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    _need_chromium()
    where = tmp_path_factory.mktemp("viewer")
    store_url = f"sqlite:///{where}/serve.db"
    settings = Settings.from_env({"CORRIGO_HOME": str(where / "home"), "CORRIGO_STORE": store_url})
    ids = asyncio.run(_stored_runs(where, settings))
    files = demo_files(where / "demo")
    models = f"script=scripted:{files.script};slow=scripted:{_slow_script(where)}"
    # The slow task is the server's own suite: over HTTP a task's tests may only be literal
    # checks, and this one sleeps so that the page has a run to follow.
    live = where / "live.jsonl"
    live.write_text(json.dumps(SLOW_TASK) + "\n")
    env = {
        "CORRIGO_SERVE_MODELS": models,
        "CORRIGO_SERVE_SUITES": f"demo=jsonl:{files.suite};live=jsonl:{live}",
    }
    shots = Shots(tmp_path_factory.mktemp("screenshots"))
    with serve(where, files, store_url=store_url, env=env) as server:
        driver = _browser()
        try:
            yield {"url": server.url, "ids": ids, "driver": driver, "shots": shots}
        finally:
            driver.quit()
    out = ROOT / "build" / "screenshots"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for path in shots.taken:
        shutil.copy2(path, out / path.name)
    print(f"screenshots copied to {out}")


def _wait_for(driver: WebDriver, css: str, text: str | None = None) -> WebElement:
    def found(d: WebDriver) -> WebElement | bool:
        with contextlib.suppress(WebDriverException):
            for element in d.find_elements(By.CSS_SELECTOR, css):
                if text is None or text in element.text:
                    return element
        return False

    element: WebElement = WebDriverWait(driver, WAIT, poll_frequency=0.2).until(
        found, f"no {css!r}" + (f" showing {text!r}" if text else "")
    )
    return element


def _sign_in(site: dict[str, Any]) -> WebDriver:
    driver: WebDriver = site["driver"]
    driver.get(site["url"] + "/")
    if "/login" in driver.current_url:
        _wait_for(driver, "#token").send_keys(TOKEN)
        driver.find_element(By.ID, "sign-in").click()
        _wait_for(driver, "#runs")
    return driver


# --- the tests -------------------------------------------------------------------------------


def test_pages_ask_for_the_token_first(site: dict[str, Any]) -> None:
    driver: WebDriver = site["driver"]
    driver.delete_all_cookies()
    driver.get(f"{site['url']}/runs/{site['ids']['story']}")
    _wait_for(driver, "#token")
    assert "/login" in driver.current_url
    driver.find_element(By.ID, "token").send_keys("not-the-token")
    driver.find_element(By.ID, "sign-in").click()
    _wait_for(driver, "#login-error", "not accepted")
    site["shots"].take(driver, "login-refused")
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.ID, "sign-in").click()
    # Back where it was going, with the token in a cookie scripts cannot read.
    _wait_for(driver, "#rounds")
    assert driver.current_url.endswith(f"/runs/{site['ids']['story']}")
    cookie = driver.get_cookie("corrigo_token")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert driver.execute_script("return document.cookie") == ""


def test_runs_list_shows_the_story_with_its_flip(site: dict[str, Any]) -> None:
    driver = _sign_in(site)
    row = _wait_for(driver, f"tr.run-row[data-run-id='{site['ids']['story']}']")
    assert "HumanEval/12" in row.text and "refine" in row.text and "verified" in row.text
    mark = row.find_element(By.CSS_SELECTOR, ".flip")
    assert "fixed" in mark.get_attribute("class").split()
    assert mark.value_of_css_property("color") == "rgba(26, 127, 55, 1)"  # green
    site["shots"].take(driver, "runs")
    # Filters narrow the list: the story is a refine run, the hostile one is single.
    driver.get(f"{site['url']}/?strategy=single&task=HumanEval/12")
    _wait_for(driver, "#runs")
    shown = {
        r.get_attribute("data-run-id") for r in driver.find_elements(By.CSS_SELECTOR, ".run-row")
    }
    assert site["ids"]["hostile"] in shown and site["ids"]["story"] not in shown


def test_run_page_shows_rounds_diff_failing_test_and_critique(site: dict[str, Any]) -> None:
    driver = _sign_in(site)
    _wait_for(driver, f"a.run-link[href='/runs/{site['ids']['story']}']").click()
    _wait_for(driver, ".round[data-round='2']")
    rounds = driver.find_elements(By.CSS_SELECTOR, ".round")
    assert [r.get_attribute("data-round") for r in rounds] == ["1", "2"]
    # Side by side: round 2's column starts to the right of round 1's, at the same height.
    assert rounds[1].location["x"] > rounds[0].location["x"]
    assert rounds[1].location["y"] == rounds[0].location["y"]
    diff = _wait_for(driver, ".round[data-round='2'] pre.diff")
    removed = [e.text for e in diff.find_elements(By.CSS_SELECTOR, ".del")]
    added = [e.text for e in diff.find_elements(By.CSS_SELECTOR, ".add")]
    assert "-        if len(s) >= len(best):" in removed
    assert "+        if len(s) > len(best):" in added
    failing = _wait_for(driver, ".round[data-round='1'] table.tests tr.failed")
    assert "example 2: longest(['a', 'b', 'c'])" in failing.text
    assert "returned 'c', expected 'a'" in failing.text
    critique = _wait_for(driver, ".round[data-round='1'] .role-reviewer pre.critique")
    assert critique.text == CRITIQUE
    usage = driver.find_element(By.CSS_SELECTOR, ".role-solver .usage").text
    assert "story-script" in usage and " in / " in usage and "tokens" in usage
    outcome = _wait_for(driver, "#outcome")
    assert outcome.get_attribute("data-stop-reason") == "verified"
    assert "fixed" in outcome.find_element(By.CSS_SELECTOR, ".flip").get_attribute("class")
    site["shots"].take(driver, "run-story")


def test_hostile_code_and_output_are_shown_as_text(site: dict[str, Any]) -> None:
    driver = _sign_in(site)
    driver.get(f"{site['url']}/runs/{site['ids']['hostile']}")
    candidate = _wait_for(driver, ".role-solver details.candidate")
    assert "<script>window.pwned = 'script'</script>" in candidate.get_attribute("textContent")
    failing = _wait_for(driver, "table.tests tr.failed")
    assert '<img src=x onerror="window.pwned=1">' in failing.text
    assert "<b>bold-model</b>" in driver.find_element(By.CSS_SELECTOR, ".role-solver .usage").text
    assert driver.find_elements(By.CSS_SELECTOR, "main img, main b, main script") == []
    assert driver.execute_script("return window.pwned === undefined")
    site["shots"].take(driver, "run-hostile")


def test_a_live_run_is_followed_to_its_outcome(site: dict[str, Any]) -> None:
    driver = _sign_in(site)
    submitted = httpx.post(
        f"{site['url']}/v1/runs",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"tasks": "live", "strategy": "refine", "model": "slow"},
        timeout=WAIT,
    )
    assert submitted.status_code in (200, 201, 202), submitted.text
    [run_id] = submitted.json()["run_ids"]
    driver.get(f"{site['url']}/runs/{run_id}")
    first = _live_state(driver)
    status = first["status"]
    assert status in ("queued", "running"), f"the run was {status} before the page could follow it"
    assert first["outcome"] is None and first["live"]
    site["shots"].take(driver, "run-live-started")
    driver.execute_script("window.corrigoSamePage = true")
    # Steps arrive over the event stream and are drawn into the open page ...
    _until(driver, lambda state: state["failed_round1"], "round 1's failed verification")
    site["shots"].take(driver, "run-live-round1")
    # ... until the outcome, which appears without the page being reloaded.
    done = _until(driver, lambda state: state["outcome"], "the outcome")
    assert done["outcome"] == "verified" and done["status"] == "finished"
    assert done["same_page"] and done["added_round2"] and not done["live"]
    site["shots"].take(driver, "run-live-finished")


#: What the live page shows, read in one go (live.js may redraw between two reads).
LIVE_STATE = """
const q = (css) => document.querySelector(css);
return {
  status: q("#run-status") ? q("#run-status").textContent : null,
  outcome: q("#outcome") ? q("#outcome").dataset.stopReason : null,
  live: q("#live-note") !== null,
  failed_round1: q(".round[data-round='1'] .role-verifier .verdict.failed") !== null,
  added_round2: q(".round[data-round='2'] pre.diff .add") !== null,
  same_page: window.corrigoSamePage === true,
};
"""


def _live_state(driver: WebDriver) -> dict[str, Any]:
    state: dict[str, Any] = driver.execute_script(LIVE_STATE)
    return state


def _until(driver: WebDriver, condition: Any, what: str) -> dict[str, Any]:
    def met(d: WebDriver) -> dict[str, Any] | bool:
        state = _live_state(d)
        return state if condition(state) else False

    state: dict[str, Any] = WebDriverWait(driver, WAIT, poll_frequency=0.2).until(
        met, f"the page never showed {what}"
    )
    return state


def test_bench_page_shows_the_table_and_the_plot(site: dict[str, Any]) -> None:
    driver = _sign_in(site)
    bench = site["ids"]["bench"]
    driver.get(f"{site['url']}/benches")
    _wait_for(driver, f"a[href='/benches/{bench}']").click()
    table = _wait_for(driver, "#report")
    cells = {
        row.find_elements(By.TAG_NAME, "td")[0].text: [
            td.text for td in row.find_elements(By.TAG_NAME, "td")
        ]
        for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    }
    assert set(cells) == {"single", "refine"}
    headers = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    first, final, fixed = headers.index("first"), headers.index("final"), headers.index("i→c")
    assert cells["refine"][first].startswith("0.0%") and cells["refine"][final].startswith("100.0%")
    assert cells["refine"][fixed] == "1" and cells["single"][final].startswith("0.0%")
    plot = _wait_for(driver, "img#plot")
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return arguments[0].complete", plot), "the plot did not load"
    )
    assert driver.execute_script("return arguments[0].naturalWidth", plot) > 100
    site["shots"].take(driver, "bench")


def test_sign_in_stays_on_this_server_and_serves_only_its_own_files(site: dict[str, Any]) -> None:
    with httpx.Client(base_url=site["url"], timeout=WAIT) as http:
        assert http.get("/").headers["location"].startswith("/login?next=")
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            signed = http.post("/login", data={"token": TOKEN, "next": target})
            assert signed.status_code == 303 and signed.headers["location"] == "/"
        cross = http.post(
            "/login", data={"token": TOKEN}, headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403 and "set-cookie" not in cross.headers
        page = http.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert http.get("/static/live.js").status_code == 200
        for name in ("viewer.py", "..%2Fviewer.py", "%2E%2E%2Fauth.py"):
            assert http.get(f"/static/{name}").status_code == 404
