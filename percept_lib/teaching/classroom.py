"""What a notebook calls: set-up (device, fast mode, weights banner), widgets, exercise checks and findings.

Conventions every notebook follows (the editions and tests in :mod:`percept_lib.teaching.editions` rely on them):

* a cell tagged ``parameters`` (papermill) sets at least ``fast``, ``seed`` and ``device``; ``fast`` defaults
  to ``fast_default()`` so that nbval, which runs the stored notebook, can be put in fast mode with
  ``PERCEPT_FAST=1``;
* a cell tagged ``solution`` holds the worked answer of an exercise (functions only, metadata ``exercise``
  names it); the next cell tagged ``check`` checks it with :func:`check_close` / :func:`check`, calling the
  student's function inside :func:`forbid` so that it cannot pass by calling the library function it rebuilds;
* a cell that states an outcome of this run calls :func:`finding` with text built from the computed values,
  and is tagged ``finding``; markdown states only what holds for any weights;
* the notebook ends with a ``## Questionnaire``; markdown cells tagged ``answer`` hold the answers and exist
  only in the instructor edition;
* ``notebook.metadata["percept"]["test_parameters"]`` holds one set of non-default parameters that the
  test suite also runs.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager


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
    """The library's one random-weights banner, plus what a student does to get the real results."""
    from ..weights import RANDOM_BANNER, weights_mode

    if weights_mode() == "random":
        return (f"{RANDOM_BANNER}. The networks are untrained: fetch the pretrained weights with "
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
            f'color:#5c4400">{text}</div>'))
    except ImportError:  # pragma: no cover - outside IPython
        pass
    print(text)


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


def interactive_figure(draw, button: str | None = None, **controls) -> None:
    """Show ``controls`` (ipywidgets) above the figure ``draw(**values)`` returns.

    The figure redraws on every change, or, when ``button`` names one (costly redraws: an optimisation,
    a training run), only when that button is pressed, so dragging a slider queues nothing. ``draw`` returns
    a matplotlib Figure. Executed headless, the cell still shows the initial figure.
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
    row = list(controls.values())
    if button is None:
        for w in controls.values():
            w.observe(render, names="value")
    else:
        run = widgets.Button(description=button, button_style="primary")
        run.on_click(render)
        row.append(run)
    box = widgets.VBox([widgets.HBox(row), out])
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
    print(f"✓ {exercise}: matches the expected value (largest difference {err:.2g}).")


@contextmanager
def forbid(*functions, namespace: dict | None = None, exercise: str = "This exercise"):
    """Inside the block, calling any of ``functions`` raises :class:`ExerciseFailed`.

    A check cell computes the expected value with the library first, then calls the student's function
    inside ``with forbid(library_function, namespace=globals(), exercise=...)``: an answer that merely calls
    the function it is meant to rebuild fails with a message that says so. Every name bound to one of
    ``functions`` in ``namespace`` and in the loaded ``percept_lib`` modules is replaced for the block;
    where one of ``functions`` is a class, so is every instance of it in ``namespace`` (an object an earlier
    cell built, e.g. ``perceptual.per_layer(...)``, is the library code all the same).
    """
    targets = {id(f): f for f in functions}
    classes = tuple(f for f in functions if isinstance(f, type))
    replaced = []

    class Refusal:
        """Stands in for a forbidden function or class: calling it, or reaching into it
        (``PerceptualLoss.seed001``), fails the exercise with the reason."""

        def __init__(self, name):
            self._name = name

        def _refuse(self):
            raise ExerciseFailed(f"✗ {exercise}: your answer uses {self._name}, the library code it is meant "
                                 "to rebuild. Write the steps yourself (tensor operations are fine).")

        def __call__(self, *args, **kwargs):
            self._refuse()

        def __getattr__(self, attr):
            self._refuse()

    holders = [namespace] if namespace is not None else []
    holders += [vars(m) for name, m in list(sys.modules.items())
                if m is not None and (name == "percept_lib" or name.startswith("percept_lib."))]
    for holder in holders:
        for key, value in list(holder.items()):
            if id(value) in targets and value is targets[id(value)]:
                replaced.append((holder, key, value))
                holder[key] = Refusal(getattr(value, "__name__", key))
    if namespace is not None and classes:
        for key, value in list(namespace.items()):
            if isinstance(value, classes):
                replaced.append((namespace, key, value))
                namespace[key] = Refusal(f"{key} (a {type(value).__name__})")
    try:
        yield
    finally:
        for holder, key, value in reversed(replaced):
            holder[key] = value


_EXERCISES: dict[str, str] = {}


@contextmanager
def exercise(name: str):
    """The student edition wraps each check cell in this block, so that "Run All" reaches the end.

    An exercise left as its stub is reported as not attempted, a wrong answer prints what the check said;
    :func:`exercise_report` lists every exercise's state at the end of the notebook.
    """
    try:
        yield
    except NotImplementedError:
        _EXERCISES[name] = "not attempted"
        print(f"◻ {name}: not attempted yet. Write the function above, then run this cell again.")
    except ExerciseFailed as failure:
        _EXERCISES[name] = "not yet right"
        print(failure)
    else:
        _EXERCISES[name] = "passed"


def exercise_report(names) -> dict[str, str]:
    """Print and return the state of each of ``names`` (the notebook's exercises), in order."""
    report = {name: _EXERCISES.get(name, "not run") for name in names}
    width = max((len(n) for n in report), default=0)
    print("Your exercises:")
    for name, state in report.items():
        mark = {"passed": "✓", "not yet right": "✗"}.get(state, "◻")
        print(f"  {mark} {name:<{width}}  {state}")
    return report


class Finding:
    """A conclusion of this run, rendered from its numbers (see :func:`finding`)."""

    def __init__(self, text: str, pretrained: str | None, source: str | None, weights: str):
        self.text, self.pretrained, self.source, self.weights = text, pretrained, source, weights

    def _repr_markdown_(self) -> str:
        lines = [f"**Finding — this run, {self.weights}:** {self.text}"]
        if self.pretrained:
            cite = f" ({self.source})" if self.source else ""
            lines.append(f"*With pretrained weights:* {self.pretrained}{cite}")
        return "\n\n".join(lines)

    def __repr__(self) -> str:
        return self._repr_markdown_().replace("**", "").replace("*", "")


NO_NETWORK = "no network involved (the same with any weights)"


def finding(text: str, *, pretrained: str | None = None, source: str | None = None,
            network: bool = True) -> None:
    """State what this run shows, in a sentence built from its computed values.

    ``text`` is the outcome as measured here (an f-string of the numbers; choose words such as "above" or
    "below" from the numbers too). Where the outcome depends on pretrained weights, ``pretrained`` says what
    the literature reports with them and ``source`` cites it; the rendered note names the weights this run
    used, so a student always sees which of the two they are reading. ``network=False`` marks a finding
    that no network's weights enter (sampled Gaussians, closed forms): it is labelled as such instead of
    "random weights (illustrative)". Displayed at once (as markdown in a notebook), so a cell may state
    several findings.
    """
    if not text or not text.strip():
        raise ValueError("finding: empty text; pass the sentence this run's numbers support")
    if not network and (pretrained or source):
        raise ValueError("finding: network=False says no weights enter this result, so there is nothing to say "
                         "about pretrained weights; drop pretrained=/source= or the network=False")
    from ..weights import label, weights_mode

    weights = label(weights_mode() == "pretrained") if network else NO_NETWORK
    note = Finding(text.strip(), pretrained, source, weights)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the notebook extra
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(note)
    else:
        print(repr(note))
