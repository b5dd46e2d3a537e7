"""The JupyterLab experience in a real browser: what a student sees after `make lab`.

Starts JupyterLab from the project's environment on a loopback port with a token (on a copy of the
notebooks, so nothing of the user's is modified), drives Debian's headless Chromium through Playwright,
runs every cell of a notebook (random weights, fast mode), waits for the kernel to go idle, checks that no
cell shows an error, that the ipywidgets controls render as widgets (not as their text repr), changes a
widget through the page and checks that the figure it drives changed. Screenshots go to build/browser/.

Run with `make test-browser`.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# (notebook, widget control to change, value to pick)
CASES = [("01_mse_vs_perceptual.ipynb", "select", "noise"),
         ("03_fid_sample_size.ipynb", "slider", None)]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package (see .ci/run)")
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", work / "notebooks")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, PERCEPT_WEIGHTS="random", PERCEPT_FAST="1", PERCEPT_OFFLINE="1",
               JUPYTER_CONFIG_DIR=str(work / "jupyter_config"), JUPYTER_RUNTIME_DIR=str(work / "runtime"))
    log = open(work / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work / 'notebooks'}",
         "--ServerApp.disable_check_xsrf=False", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except Exception:
            if proc.poll() is not None:
                pytest.fail("JupyterLab exited:\n" + (work / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start within 60 s:\n" + (work / "lab.log").read_text()[-3000:])
    yield base, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


def _run_all_and_wait(page, timeout_s: float = 600) -> None:
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    # Wait until the kernel is connected and idle before running.
    page.wait_for_function("""() => {
        const s = document.querySelector('.jp-Notebook-ExecutionIndicator');
        return s && s.getAttribute('data-status') === 'idle';
    }""", timeout=120_000)
    page.click("text=Run", timeout=30_000)
    page.click("text=Run All Cells", timeout=30_000)
    deadline = time.time() + timeout_s
    time.sleep(2)
    while time.time() < deadline:
        busy = page.evaluate("""() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
            const s = document.querySelector('.jp-Notebook-ExecutionIndicator');
            return prompts.some(t => t.includes('*')) || (s && s.getAttribute('data-status') !== 'idle');
        }""")
        if not busy:
            return
        time.sleep(2)
    raise AssertionError(f"the notebook was still running after {timeout_s} s")


@pytest.mark.parametrize("notebook,control,value", CASES, ids=[c[0][:2] for c in CASES])
def test_notebook_runs_and_its_widget_redraws(lab, browser, notebook, control, value):
    base, token = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    stem = notebook.split(".")[0]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{base}/lab/tree/{notebook}?token={token}", timeout=120_000)
    _run_all_and_wait(page)
    page.screenshot(path=str(SHOTS / f"{stem}_after_run.png"))

    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] pre", has_text="Traceback")
    assert errors.count() == 0, errors.first.inner_text()[:2000]
    text = page.inner_text(".jp-Notebook")
    assert "Traceback (most recent call last)" not in text
    # Widgets render as widgets, not as their text repr.
    assert page.locator(".jupyter-widgets").count() > 0, "no ipywidgets control was rendered"
    for repr_text in ("Dropdown(", "FloatSlider(", "SelectionSlider(", "VBox(children"):
        assert repr_text not in text, f"a widget was shown as its text repr ({repr_text})"

    widget = page.locator(".jupyter-widgets.widget-vbox").first
    widget.scroll_into_view_if_needed()
    image = widget.locator("img").first
    before = image.get_attribute("src")
    assert before and before.startswith("data:image/png")
    if control == "select":
        widget.locator("select").first.select_option(value)
    else:
        handle = widget.locator(".ui-slider-handle, .noUi-handle").first
        handle.focus()
        page.keyboard.press("End")
    page.wait_for_function(
        "([el, before]) => { const img = el.querySelector('img'); return img && img.src !== before; }",
        arg=[widget.element_handle(), before], timeout=120_000)
    after = widget.locator("img").first.get_attribute("src")
    assert after != before
    widget.screenshot(path=str(SHOTS / f"{stem}_widget_changed.png"))
    context.close()
