"""The JupyterLab experience in a real browser: what a student sees after `make lab`.

For notebook 01 and notebook 02, on a fresh copy of the notebooks (outputs cleared; JupyterLab's autosave
never touches the repository), with random weights and fast mode (PERCEPT_WEIGHTS=random, PERCEPT_FAST=1 in
JupyterLab's environment), the test

1. opens the notebook in JupyterLab (started by the fixtures in lab_fixtures.py: loopback port, token) in
   Debian's headless Chromium driven by Playwright;
2. runs all cells through the menu bar (Run > Run All Cells) and waits until every code cell has an
   execution count, no cell is queued or running, and the kernel is idle (both the notebook's execution
   indicator and the server's REST API say so);
3. checks that no cell shows an error, in the page (no traceback, no widget error) and in the notebook as
   saved by JupyterLab (no ``error`` output, every code cell executed);
4. checks that the `classroom.interactive_figure` output is rendered as a live ipywidgets widget (a VBox
   with the expected dropdowns and slider, and an Output widget holding the figure as an ``<img>``), not as
   its text repr nor as its static fallback PNG;
5. changes every control through the page (picks another option of each dropdown, moves the slider with
   the keyboard) and checks after each change that the figure in the Output widget was redrawn.

Screenshots go to build/browser/: ``<notebook>_after_run.png`` (the page, scrolled to the widget, after the
run), ``<notebook>_widget_initial.png`` and ``<notebook>_widget_<n>_<control>.png`` (the widget after each
change), and ``<notebook>_failure.png`` / ``.html`` when something goes wrong.

Run with `make test-browser` (or `pytest -m browser tests/browser -p no:cacheprovider`).
PERCEPT_BROWSER_TIMEOUT (seconds, default 900) bounds the run of one notebook.
"""
from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import pytest

# The fixtures live beside this file in lab_fixtures.py, not in a conftest.py: a second module named
# `conftest` would shadow tests/conftest.py for the tests that import helpers from it.
from lab_fixtures import browser_context, chromium, lab  # noqa: F401  (pytest fixtures)

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "browser"
RUN_TIMEOUT = float(os.environ.get("PERCEPT_BROWSER_TIMEOUT", "900"))
REDRAW_TIMEOUT = 180.0

# (notebook, number of Dropdowns, number of sliders in its interactive figure)
CASES = [("01_mse_vs_perceptual.ipynb", 1, 1),
         ("02_lpips.ipynb", 2, 1)]

pytestmark = pytest.mark.browser

# What a widget looks like when the front end cannot render it.
REPR_TEXTS = ("VBox(children", "HBox(children", "Dropdown(", "FloatSlider(", "Output(",
              "Interactive figure (its initial state", "Error displaying widget", "Loading widget...")

# JavaScript run in the page. The notebook panel is the visible one.
JS_STATE = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    if (!panel) return {panel: false};
    const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
    const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
    return {
        panel: true,
        prompts: prompts,
        status: indicator ? indicator.getAttribute('data-status') : null,
    };
}"""


def _state(page) -> dict:
    return page.evaluate(JS_STATE)


def _describe(state: dict) -> str:
    prompts = state.get("prompts", [])
    return (f"kernel indicator {state.get('status')!r}; {len(prompts)} code cells, prompts "
            f"{' '.join(prompts) if prompts else '(none)'}")


def _wait(predicate, timeout: float, what: str, interval: float = 1.0, describe=None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                                 + (f" ({describe()})" if describe else ""))
        time.sleep(interval)


def _kernel_idle(lab, notebook: str) -> bool:
    sessions = [s for s in lab.api("/api/sessions") if s.get("path") == notebook]
    return bool(sessions) and all(s["kernel"]["execution_state"] == "idle" for s in sessions)


def _wait_kernel_idle(lab, page, notebook: str, timeout: float, what: str) -> None:
    """The notebook's execution indicator and the server agree that the kernel is idle, nothing queued."""
    def idle():
        s = _state(page)
        return (s["panel"] and s["status"] == "idle" and not any("*" in p for p in s["prompts"])
                and _kernel_idle(lab, notebook))
    _wait(idle, timeout, what, describe=lambda: _describe(_state(page)))


def _run_all(page) -> None:
    """Run > Run All Cells, through JupyterLab's menu bar."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*Run\s*$")).click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^\s*Run All Cells\s*$"))
    page.locator(".lm-Menu .lm-Menu-item", has=label).click()


def _save_and_read(lab, page, notebook: str) -> dict:
    """Save the notebook in JupyterLab (its own Save command) and read it back through the REST API."""
    before = lab.api(f"/api/contents/{notebook}?content=0")["last_modified"]
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    _wait(lambda: lab.api(f"/api/contents/{notebook}?content=0")["last_modified"] != before, 60,
          f"JupyterLab to save {notebook}")
    return lab.api(f"/api/contents/{notebook}?type=notebook&content=1")["content"]


def _source(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def _problems(nb: dict) -> tuple[list[str], list[str]]:
    """Errors and unexecuted code cells; and what the cells wrote to stderr (warnings), as text."""
    problems, stderr = [], []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        first = _source(cell).strip()
        first = first.splitlines()[0][:80] if first else ""
        if cell.get("execution_count") is None:
            problems.append(f"cell {i} was not executed: {first!r}")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i} ({first!r}) raised {out.get('ename')}: {out.get('evalue')}")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = out["text"] if isinstance(out["text"], str) else "".join(out["text"])
                stderr.append(f"cell {i}: {text.strip()[:300]}")
    return problems, stderr


def _figure_src(box) -> str | None:
    img = box.locator(".widget-output img")
    return img.first.get_attribute("src") if img.count() else None


def _wait_redraw(lab, page, notebook: str, box, before: str, what: str) -> str:
    """Wait until the Output widget shows a new image and the kernel is idle again; the new image's src."""
    _wait(lambda: (_figure_src(box) or before) != before, REDRAW_TIMEOUT, f"the figure to redraw after {what}",
          interval=0.5)
    _wait_kernel_idle(lab, page, notebook, REDRAW_TIMEOUT, f"the kernel to go idle after {what}")
    time.sleep(1.0)  # let the last display message land
    return _figure_src(box)


@contextlib.contextmanager
def _diagnose(lab, env, page, stem: str, console: list[str]):
    """On failure: screenshot + page HTML under build/browser/, and a message with the JupyterLab log."""
    try:
        yield
    except Exception as e:
        extra = []
        with contextlib.suppress(Exception):
            page.screenshot(path=str(SHOTS / f"{stem}_failure.png"))
            extra.append(f"screenshot: {SHOTS / f'{stem}_failure.png'}")
        with contextlib.suppress(Exception):
            (SHOTS / f"{stem}_failure.html").write_text(page.content())
            extra.append(f"page HTML: {SHOTS / f'{stem}_failure.html'}")
        with contextlib.suppress(Exception):
            extra.append("page state: " + _describe(_state(page)))
        if console:
            extra.append("browser console errors:\n  " + "\n  ".join(console[-20:]))
        if env.blocked:
            extra.append("blocked requests (not to the local server):\n  " + "\n  ".join(env.blocked[-20:]))
        raise AssertionError(lab.explain(f"{stem}: {type(e).__name__}: {e}\n" + "\n".join(extra))) from e


@pytest.mark.parametrize("notebook,n_dropdowns,n_sliders", CASES, ids=[c[0].split("_")[0] for c in CASES])
def test_notebook_runs_and_its_widget_redraws(lab, browser_context, notebook, n_dropdowns, n_sliders):
    SHOTS.mkdir(parents=True, exist_ok=True)
    stem = Path(notebook).stem
    page = browser_context.context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(f"page error: {e}"))
    t0 = time.monotonic()
    try:
        with _diagnose(lab, browser_context, page, stem, console):
            # 1. Open the notebook; wait for its kernel.
            page.goto(lab.url(notebook, workspace=f"test-{stem}"), timeout=180_000)
            page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell",
                                   timeout=180_000)
            _wait_kernel_idle(lab, page, notebook, 180, "the kernel to start")
            n_code = len(_state(page)["prompts"])
            assert n_code > 0, "the notebook shows no code cells"

            # 2. Run all cells; wait for every code cell to be executed and the kernel to be idle.
            _run_all(page)
            _wait(lambda: any("*" in p for p in _state(page)["prompts"])
                  or all(re.fullmatch(r"\[\d+\]:", p) for p in _state(page)["prompts"]),
                  60, "Run All Cells to start", describe=lambda: _describe(_state(page)))

            # Run All queues every code cell at once ([*]); it is over when none is left (a cell that raises
            # stops the run: the cells after it go back to [ ]).
            def finished():
                s = _state(page)
                return not any("*" in p for p in s["prompts"]) and s["status"] == "idle"
            _wait(finished, RUN_TIMEOUT, f"all {n_code} code cells of {notebook} to run", interval=2,
                  describe=lambda: _describe(_state(page)))
            _wait_kernel_idle(lab, page, notebook, 120, "the kernel to go idle after Run All")
            run_s = time.monotonic() - t0

            # 3. No cell shows an error: in the page, and in the notebook JupyterLab saves.
            panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            nb = _save_and_read(lab, page, notebook)
            problems, stderr = _problems(nb)
            assert not problems, "\n".join(problems)
            tracebacks = panel.locator(".jp-OutputArea-output", has_text="Traceback")
            assert tracebacks.count() == 0, "a cell shows an error:\n" + tracebacks.first.inner_text()[-3000:]
            text = "\n".join(panel.locator(".jp-OutputArea").all_inner_texts())  # every cell's outputs
            prompts = _state(page)["prompts"]
            assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), f"code cells not executed: {prompts}"

            # 4. The interactive figure is a live widget, not its text repr or the fallback PNG.
            for repr_text in REPR_TEXTS:
                assert repr_text not in text, f"a widget is shown as text ({repr_text!r}) instead of rendered"
            calls = [i for i, c in enumerate(nb["cells"])
                     if c["cell_type"] == "code" and "interactive_figure(" in _source(c)]
            assert len(calls) == 1, f"cells {calls} call interactive_figure(), one expected"
            cells = panel.locator(".jp-Notebook .jp-Cell")  # windowing is off: every cell is in the page
            assert cells.count() == len(nb["cells"]), f"{cells.count()} cells in the page, {len(nb['cells'])} in the notebook"
            cell = cells.nth(calls[0])
            outputs = cell.locator(".jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output")
            kinds = [o.get_attribute("data-mime-type") or o.get_attribute("class") for o in outputs.all()]
            assert outputs.count() == 1, f"the interactive_figure() cell shows {outputs.count()} outputs: {kinds}"
            box = outputs.locator(":scope > .jupyter-widgets.widget-vbox")
            assert box.count() == 1, ("the interactive_figure() cell's output is not a rendered ipywidgets VBox "
                                      f"(output: {kinds}; text: {outputs.inner_text()[:300]!r})")
            box.scroll_into_view_if_needed()
            box.wait_for(state="visible")
            dropdowns = box.locator(".widget-hbox .widget-dropdown select")
            sliders = box.locator(".widget-hbox .widget-slider")
            assert dropdowns.count() == n_dropdowns, f"{dropdowns.count()} dropdowns rendered, {n_dropdowns} expected"
            assert sliders.count() == n_sliders, f"{sliders.count()} sliders rendered, {n_sliders} expected"
            _wait(lambda: _figure_src(box), 60, "the figure in the Output widget")
            src = _figure_src(box)
            assert src.startswith("data:image/png"), f"the Output widget's image is not an inline PNG: {src[:60]}"
            page.screenshot(path=str(SHOTS / f"{stem}_after_run.png"))
            box.screenshot(path=str(SHOTS / f"{stem}_widget_initial.png"))

            # 5. Change every control through the page; the figure must be redrawn each time.
            step = 0
            for i in range(n_dropdowns):
                select = dropdowns.nth(i)
                current = select.input_value()
                options = [o.strip() for o in select.locator("option").all_inner_texts()]
                choice = next(o for o in options if o != current)
                select.select_option(label=choice)
                what = f"dropdown {i + 1} changed from {current!r} to {choice!r}"
                src = _wait_redraw(lab, page, notebook, box, src, what)
                assert select.input_value() == choice, what + f" but it shows {select.input_value()!r}"
                step += 1
                box.screenshot(path=str(SHOTS / f"{stem}_widget_{step}_dropdown.png"))
            for i in range(n_sliders):
                slider = sliders.nth(i)
                readout = slider.locator(".widget-readout")
                current = readout.inner_text().strip()
                handle = slider.locator(".noUi-handle").first
                at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
                handle.focus()
                page.keyboard.press("Home" if at_max else "End")  # one step to the slider's other end
                what = f"slider {i + 1} moved from {current} to its {'minimum' if at_max else 'maximum'}"
                src = _wait_redraw(lab, page, notebook, box, src, what)
                assert readout.inner_text().strip() != current, what + " but its readout did not change"
                step += 1
                box.screenshot(path=str(SHOTS / f"{stem}_widget_{step}_slider.png"))

            # Nothing went wrong while redrawing.
            text = "\n".join(panel.locator(".jp-OutputArea").all_inner_texts())
            assert "Traceback (most recent call last)" not in text, "a redraw raised an error"
            assert not browser_context.blocked, f"the page tried to reach the network: {browser_context.blocked}"
            print(f"{notebook}: ran {n_code} code cells in {run_s:.0f} s; widget checked in "
                  f"{time.monotonic() - t0 - run_s:.0f} s; screenshots in {SHOTS}")
            for line in stderr:
                print(f"  stderr of {line}")
    finally:
        lab.shutdown_sessions(notebook)  # free the CPU for the next notebook
        page.close()
