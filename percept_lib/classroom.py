"""Classroom machinery: notebook set-up (device, fast mode, weights banner), exercise checks, the student
edition, and headless execution of the notebooks.

Conventions every notebook follows:

* a cell tagged ``parameters`` (papermill) sets at least ``fast``, ``seed`` and ``device``; ``fast`` defaults
  to ``fast_default()`` so that nbval, which runs the stored notebook, can be put in fast mode with
  ``PERCEPT_FAST=1``;
* a cell tagged ``solution`` holds the worked answer of an exercise (functions only); a cell tagged
  ``check`` checks it with :func:`check_close` / :func:`check`;
* ``notebook.metadata["percept"]["test_parameters"]`` holds one set of non-default parameters that the
  test suite also runs.

``python -m percept_lib.classroom student --out build/student`` writes the student edition, where each
solution function keeps its signature and docstring and its body becomes
``raise NotImplementedError("Exercise …: …")`` — nothing of the solution remains.
"""
from __future__ import annotations

import argparse
import ast
import copy
import os
import sys
import time
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


# ----------------------------------------------------------------------------------------------------
# In the notebook
# ----------------------------------------------------------------------------------------------------

def fast_default() -> bool:
    """``fast`` for the parameters cell: True when ``PERCEPT_FAST=1`` (CI, nbval), else False."""
    return os.environ.get("PERCEPT_FAST", "0") not in ("", "0", "false", "False")


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but no CUDA GPU is available here; use device='cpu' or 'auto'")
    return device


def setup(seed: int = 0, device: str = "auto", fast: bool = False) -> str:
    """Seed everything, pick the device, show the weights banner; returns the device string."""
    import warnings

    import numpy as np
    import torch

    # The banner says it once for the whole notebook; no need to repeat it for every model built.
    warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
    torch.manual_seed(seed)
    np.random.seed(seed)
    if fast:
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    dev = resolve_device(device)
    show_weights_banner()
    print(f"device: {dev}   fast mode: {fast}   seed: {seed}")
    return dev


def weights_banner_text() -> str | None:
    from .weights import weights_mode

    if weights_mode() == "random":
        return ("RANDOM WEIGHTS (PERCEPT_WEIGHTS=random): the networks are untrained, so every number and "
                "figure below is illustrative only. Fetch the pretrained weights with "
                "`python -m percept_lib weights fetch --all` for the real results.")
    return None


def show_weights_banner() -> None:
    text = weights_banner_text()
    if text is None:
        return
    try:
        from IPython.display import HTML, display

        display(HTML(
            '<div style="background:#fff3cd;border:2px solid #d39e00;padding:10px;font-weight:bold;'
            f'color:#5c4400">⚠ {text}</div>'))
    except ImportError:  # pragma: no cover - outside IPython
        pass
    print("⚠ " + text)


class _WidgetWithFallback:
    """A widget whose display bundle also carries a PNG of its first figure.

    JupyterLab renders the live widget (its renderer outranks image/png); anything without a widget
    manager — papermill output, nbconvert HTML, GitHub's viewer — shows the PNG instead of a text repr.
    """

    def __init__(self, widget, png: bytes):
        self.widget, self.png = widget, png

    def _repr_mimebundle_(self, include=None, exclude=None):
        import base64

        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data = dict(data)
        data["image/png"] = base64.b64encode(self.png).decode("ascii")
        data["text/plain"] = "Interactive figure (its initial state is shown where widgets cannot run)."
        return data


def interactive_figure(draw, **controls) -> None:
    """Show ``controls`` (ipywidgets) above the figure ``draw(**values)`` returns; redraw on every change.

    ``draw`` returns a matplotlib Figure. Executed headless, the cell still shows the initial figure.
    """
    import io

    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    out = widgets.Output()

    def render(change=None):
        fig = draw(**{name: w.value for name, w in controls.items()})
        with out:
            out.clear_output(wait=True)
            display(fig)
        png = io.BytesIO()
        fig.savefig(png, format="png", bbox_inches="tight")
        plt.close(fig)
        return png.getvalue()

    first = render()
    for w in controls.values():
        w.observe(render, names="value")
    box = widgets.VBox([widgets.HBox(list(controls.values())), out])
    display(_WidgetWithFallback(box, first))


class ExerciseFailed(AssertionError):
    """A check did not pass: the message says what was expected and how to debug it."""


def check(condition: bool, exercise: str, hint: str) -> None:
    if not condition:
        raise ExerciseFailed(f"✗ {exercise}: not yet. {hint}")
    print(f"✓ {exercise}: passed.")


def check_close(actual, expected, exercise: str, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Compare an exercise's answer with the library's, with a friendly message either way."""
    import numpy as np
    import torch

    def as_array(v):
        if isinstance(v, torch.Tensor):
            return v.detach().double().cpu().numpy()
        return np.asarray(v, dtype=np.float64)

    try:
        a, e = as_array(actual), as_array(expected)
    except NotImplementedError:
        raise
    if a.shape != e.shape:
        raise ExerciseFailed(f"✗ {exercise}: your result has shape {a.shape}, expected {e.shape}.")
    if not np.all(np.isfinite(a)):
        raise ExerciseFailed(f"✗ {exercise}: your result contains NaN or Inf.")
    err = float(np.max(np.abs(a - e))) if a.size else 0.0
    if not np.allclose(a, e, atol=atol, rtol=rtol):
        raise ExerciseFailed(f"✗ {exercise}: largest difference {err:.3g} (tolerance {atol:g}). "
                             "Compare your steps with the explanation above.")
    print(f"✓ {exercise}: matches the library (largest difference {err:.2g}).")


# ----------------------------------------------------------------------------------------------------
# The student edition
# ----------------------------------------------------------------------------------------------------

def _cell_tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def stub_solution_source(source: str, exercise: str) -> str:
    """Replace each top-level function's body by ``raise NotImplementedError`` (signature, docstring kept).

    Anything else in a solution cell (helper statements) is removed: a solution cell must define
    functions only, so that the student edition keeps the names the check cells call.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    out = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            raise ValueError(f"{exercise}: a solution cell may only define functions; found "
                             f"{type(node).__name__} at line {node.lineno}")
        header_end = node.body[0].lineno - 1  # lines before the body: decorators and signature
        start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
        out.extend(lines[start:header_end])
        indent = " " * node.body[0].col_offset
        doc = ast.get_docstring(node, clean=False)
        if doc is not None:
            out.extend(lines[node.body[0].lineno - 1: node.body[0].end_lineno])
        out.append(f'{indent}raise NotImplementedError("{exercise}: write {node.name}() — see the instructions above")')
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def make_student_edition(notebook):
    """A copy of ``notebook`` (an nbformat v4 notebook) with every solution stubbed and outputs cleared."""
    nb = copy.deepcopy(notebook)
    count = 0
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        if cell["cell_type"] == "code" and "solution" in _cell_tags(cell):
            count += 1
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            exercise = cell.get("metadata", {}).get("exercise", f"Exercise {count}")
            cell["source"] = stub_solution_source(source, exercise)
            cell["metadata"]["tags"] = [t for t in cell["metadata"].get("tags", []) if t != "solution"] + ["exercise"]
    return nb


def notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def build_student(out: Path, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    import nbformat

    for path in notebooks(folder):
        target = out / path.name
        nbformat.write(make_student_edition(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


# ----------------------------------------------------------------------------------------------------
# Headless execution
# ----------------------------------------------------------------------------------------------------

def execute(path: Path, out: Path, parameters: dict | None = None, timeout: int = 600,
            random_weights: bool | None = None) -> float:
    """Run one notebook with papermill; returns the wall time in seconds."""
    import papermill

    if random_weights is not None:
        os.environ["PERCEPT_WEIGHTS"] = "random" if random_weights else "pretrained"
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(str(path), str(out), parameters=parameters or {}, kernel_name="python3",
                               cwd=str(path.parent), execution_timeout=timeout, progress_bar=False)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m percept_lib.classroom")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("student", help="write the student edition (solutions stubbed)")
    s.add_argument("--out", default="build/student")
    r = sub.add_parser("run", help="execute every notebook headless")
    r.add_argument("--out", default="build/executed")
    r.add_argument("--fast", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "student":
        for p in build_student(Path(args.out)):
            print(p)
        return 0
    for path in notebooks():
        seconds = execute(path, Path(args.out) / path.name, {"fast": bool(args.fast)})
        print(f"{path.name}: {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
