"""The playground in a real browser: headless Chromium driven by Selenium.

Uses the system's browser (Debian: ``apt-get install chromium chromium-driver``; other paths via
``RNNKIT_CHROMIUM`` and ``RNNKIT_CHROMEDRIVER``); nothing is downloaded. Without them the module
is skipped and says why. Every wait is for a DOM condition, bounded by ``TIMEOUT``. With
``RNNKIT_SCREENSHOTS=DIR`` each tab is saved as ``DIR/playground-<tab>.png`` (the README's
pictures come from ``RNNKIT_SCREENSHOTS=docs``).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("RNNKIT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RNNKIT_CHROMEDRIVER", "/usr/bin/chromedriver")
TIMEOUT = 60.0

_missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
if _missing:
    pytest.skip(
        f"browser tests of the playground need Chromium and chromedriver, missing "
        f"{', '.join(_missing)} (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from rnnkit.playground import start_in_thread  # noqa: E402

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1300,1000",
)


@pytest.fixture(scope="module")
def server():
    srv, thread = start_in_thread(0)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def browser(server):
    profile = tempfile.mkdtemp(prefix="rnnkit-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    driver.set_script_timeout(TIMEOUT)
    try:
        driver.get(server.url)
        wait(driver, lambda d: d.execute_script("return document.body.dataset.ready"), "the page")
        yield driver
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, f"errors in the browser console: {severe}"
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver, condition, what: str):
    return WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(
        condition, message=f"timed out after {TIMEOUT} s waiting for {what}"
    )


def api(server, path: str, body: object = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path.lstrip("/"), data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.load(response)


def screenshot(driver, tab: str) -> None:
    folder = os.environ.get("RNNKIT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"playground-{tab}.png"))


def by_id(driver, element_id: str):
    return driver.find_element(By.ID, element_id)


def set_value(driver, element_id: str, value: object) -> None:
    element = by_id(driver, element_id)
    element.clear()
    element.send_keys(str(value))


def painted_pixels(driver, element_id: str) -> int:
    """Pixels of a canvas that are not transparent or white: > 0 once something is drawn."""
    return driver.execute_script(
        """const c = document.getElementById(arguments[0]);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let k = 0; k < d.length; k += 4)
          if (d[k + 3] > 0 && (d[k] < 250 || d[k + 1] < 250 || d[k + 2] < 250)) n++;
        return n;""",
        element_id,
    )


def show_tab(driver, name: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"nav button[data-tab={name}]").click()
    wait(driver, lambda d: by_id(d, f"tab-{name}").is_displayed(), f"the {name} tab")


def test_build_a_gru_on_the_adding_problem_and_train_it(browser, server):
    Select(by_id(browser, "cell")).select_by_value("gru")
    wait(browser, lambda d: d.find_elements(By.ID, "opt-reset"), "the GRU's options")
    Select(by_id(browser, "opt-reset")).select_by_value("before")
    Select(by_id(browser, "task")).select_by_value("adding")
    set_value(browser, "hidden", 6)
    set_value(browser, "length", 20)
    by_id(browser, "build").click()
    wait(browser, lambda d: "gru" in by_id(d, "model-summary").text, "the new model's summary")
    model = api(server, "/api/model")
    assert model["cell"] == "gru"
    defaults = {"reset": "before", "bias": True, "recurrent_init": "uniform", "zoneout": 0.0}
    assert {k: model["options"][k] for k in defaults} == defaults  # the others at defaults too
    assert model["task"] == "adding" and model["hidden_size"] == 6
    assert "U_hn (r ⊙ h_{t-1})" in by_id(browser, "equations").text  # Cho's reset-before

    set_value(browser, "steps-n", 5)
    by_id(browser, "step").click()
    chart = by_id(browser, "loss-chart")
    wait(browser, lambda d: chart.get_attribute("data-points") == "5", "5 loss points")
    losses = api(server, "/api/status")["losses"]
    assert [p[0] for p in losses] == [1, 2, 3, 4, 5]
    assert float(chart.get_attribute("data-last-loss")) == losses[-1][1]
    assert by_id(browser, "step-count").text == "5"
    assert painted_pixels(browser, "loss-chart") > 100

    set_value(browser, "lr", 0.02)
    by_id(browser, "start").click()
    wait(browser, lambda d: int(by_id(d, "step-count").text) >= 150, "150 steps of live training")
    by_id(browser, "pause").click()
    wait(browser, lambda _: not api(server, "/api/status")["running"], "the pause")
    status = api(server, "/api/status")
    assert status["lr"] == 0.02
    # Paused, a click on Step adds exactly 5 steps, and the page shows the server's last point.
    by_id(browser, "step").click()
    done = status["step"] + 5
    wait(browser, lambda d: by_id(d, "step-count").text == str(done), f"step {done}")
    losses = api(server, "/api/status")["losses"]
    last = losses[-1]
    assert last[0] == done
    wait(browser, lambda _: chart.get_attribute("data-last-step") == str(done), "the last point")
    assert float(chart.get_attribute("data-last-loss")) == last[1]
    assert chart.get_attribute("data-points") == str(len(losses))  # each point once
    screenshot(browser, "train")


def test_step_through_time_with_gate_heatmaps_from_the_server(browser, server):
    show_tab(browser, "inside")
    wait(browser, lambda d: d.find_elements(By.ID, "v-gate-z-0"), "the table of values")
    trace = api(server, "/api/trace")
    heatmaps = browser.find_elements(By.CSS_SELECTOR, "canvas.heatmap")
    assert [h.get_attribute("data-name") for h in heatmaps] == ["x", "r", "z", "n", "h"]
    for h in heatmaps:
        assert h.is_displayed() and h.size["width"] > 100
    assert painted_pixels(browser, "gradflow") > 100
    for t in range(4):
        # the page numbers steps 1..T; the JSON's lists index them 0..T-1
        wait(browser, lambda d, t=t: by_id(d, "t-label").text == str(t + 1), f"step {t + 1}")
        for kind, name, unit in (("gate", "r", 0), ("gate", "z", 5), ("state", "h", 2)):
            cell = by_id(browser, f"v-{kind}-{name}-{unit}")
            expected = trace["gates" if kind == "gate" else "states"][name][unit][t]
            assert float(cell.get_attribute("data-value")) == expected
            assert cell.text == f"{expected:.3f}"
        by_id(browser, "t-next").click()
    diagram = by_id(browser, "diagram-inside")
    assert diagram.find_elements(By.CSS_SELECTOR, "rect[fill='#ffe082']")  # the current step
    norms = json.loads(by_id(browser, "gradflow").get_attribute("data-norms"))
    assert norms == api(server, "/api/gradflow")["norms"]
    assert len(norms) == trace["T"] == 20
    screenshot(browser, "inside")


def test_hopfield_recall_of_a_corrupted_pattern(browser, server):
    show_tab(browser, "hopfield")
    wait(browser, lambda d: d.find_elements(By.ID, "hf-preset-plus"), "the preset patterns")
    for name in ("T", "X", "O"):
        by_id(browser, f"hf-preset-{name}").click()
        by_id(browser, "hf-store").click()
    assert by_id(browser, "hf-stored").text == "3 pattern(s)"
    by_id(browser, "hf-preset-T").click()
    target = api(server, "/api/hopfield/presets")["T"]
    grid = by_id(browser, "hf-grid")
    assert grid.get_attribute("data-state") == ",".join(map(str, target))
    set_value(browser, "hf-noise", 15)
    by_id(browser, "hf-corrupt").click()
    corrupted = [int(v) for v in grid.get_attribute("data-state").split(",")]
    assert sum(a != b for a, b in zip(corrupted, target)) == 15
    by_id(browser, "hf-recall").click()
    energy = by_id(browser, "hf-energy")
    wait(browser, lambda _: energy.get_attribute("data-done") == "true", "the recall to finish")
    energies = json.loads(energy.get_attribute("data-energies"))
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(energies))
    assert energies[-1] < energies[0]
    assert grid.get_attribute("data-state") == ",".join(map(str, target))
    assert "a fixed point" in by_id(browser, "hf-status").text
    assert painted_pixels(browser, "hf-energy") > 100
    screenshot(browser, "hopfield")


def test_echo_state_fit_and_free_run(browser, server):
    show_tab(browser, "esn")
    set_value(browser, "esn-reservoir_size", 100)
    by_id(browser, "esn-run").click()
    chart = by_id(browser, "esn-chart")
    wait(browser, lambda _: chart.get_attribute("data-nrmse"), "the echo state answer")
    defaults = {k: v[3] for k, v in api(server, "/api/config")["esn"]["bounds"].items()}
    answer = api(server, "/api/esn", {**defaults, "reservoir_size": 100})
    assert float(chart.get_attribute("data-nrmse")) == answer["nrmse_free"]
    assert painted_pixels(browser, "esn-chart") > 100
    assert painted_pixels(browser, "esn-states") > 100
    screenshot(browser, "esn")
