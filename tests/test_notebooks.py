"""Notebooks as tests: papermill runs with non-default parameters, the student edition, stripped outputs.

The stored (default) parameters are executed by nbval in `make test` (`PERCEPT_FAST=1 pytest --nbval-lax
notebooks`). All runs use random weights (PERCEPT_WEIGHTS=random): no pretrained file can be had in CI.
"""
import ast
import os

import nbformat
import pytest

from percept_lib import classroom

NOTEBOOKS = classroom.notebooks()
pytestmark = pytest.mark.notebooks
CELL_TIMEOUT = int(os.environ.get("PERCEPT_NB_TIMEOUT", "600"))


def _ids(paths):
    return [p.stem for p in paths]


@pytest.fixture()
def notebook_env(monkeypatch):
    monkeypatch.setenv("PERCEPT_WEIGHTS", "random")
    monkeypatch.setenv("PERCEPT_FAST", "1")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_outputs_are_stripped_in_git(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; strip them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_structure(path):
    nb = nbformat.read(path, as_version=4)
    tags = [set(c.metadata.get("tags", [])) for c in nb.cells]
    params = [c for c, t in zip(nb.cells, tags) if "parameters" in t]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    names = {t.id for node in ast.parse(params[0].source).body if isinstance(node, (ast.Assign, ast.AnnAssign))
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target])}
    assert {"fast", "seed", "device"} <= names
    assert sum("solution" in t for t in tags) >= 2, "at least two exercises"
    assert sum("check" in t for t in tags) >= 2, "each exercise is checked"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    for heading in ("learning objectives", "prerequisites", "recap", "further reading"):
        assert heading in text, f"{path.name}: no '{heading}' section"
    assert "test_parameters" in nb.metadata.get("percept", {}), "metadata.percept.test_parameters"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_student_edition_runs_with_other_parameters_and_fails_exactly_on_the_stubs(path, tmp_path, notebook_env):
    """One run checks three things: the student edition has no solution left, it runs with the notebook's
    non-default test parameters (papermill), and only the check cells of the stubbed exercises fail.
    (The solution edition with the stored defaults is executed by nbval.)"""
    nb = nbformat.read(path, as_version=4)
    student = classroom.make_student_edition(nb)
    # Nothing of the solution remains: no line of a solution body appears in the student edition.
    student_code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            for node in ast.parse(cell.source).body:
                body = node.body[1:] if ast.get_docstring(node) else node.body
                for stmt in body:
                    line = ast.get_source_segment(cell.source, stmt).strip()
                    if len(line) > 12:
                        assert line not in student_code, f"solution line leaked: {line!r}"
    student_path = tmp_path / path.name
    nbformat.write(student, student_path)
    params = dict(nb.metadata["percept"]["test_parameters"])
    params.setdefault("fast", True)
    out_path = tmp_path / ("run_" + path.name)
    import papermill

    try:  # every cell runs (allow_errors); papermill then reports the failed check cells, as expected
        papermill.execute_notebook(str(student_path), str(out_path), parameters=params, kernel_name="python3",
                                   cwd=str(path.parent), execution_timeout=CELL_TIMEOUT, progress_bar=False,
                                   allow_errors=True)
    except papermill.PapermillExecutionError:
        pass
    out = nbformat.read(out_path, as_version=4)
    errored = [c.id for c in out.cells if c.cell_type == "code"
               and any(o.get("output_type") == "error" for o in c.outputs)]
    checks = [c.id for c in out.cells if "check" in c.metadata.get("tags", [])]
    assert errored == checks, "only the check cells of the stubbed exercises may fail"
    for c in out.cells:
        if c.id in checks:
            assert [o for o in c.outputs if o.get("output_type") == "error"][-1]["ename"] == "NotImplementedError"
    text = "".join(o.get("text", "") for c in out.cells if c.cell_type == "code" for o in c.outputs)
    assert "RANDOM WEIGHTS" in text, "the random-weights banner is shown"
    injected = [c for c in out.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, "papermill injected the non-default parameters"


def test_the_six_notebooks_in_order():
    assert [p.name for p in NOTEBOOKS] == [
        "01_mse_vs_perceptual.ipynb", "02_lpips.ipynb", "03_fid_sample_size.ipynb",
        "04_style_transfer.ipynb", "05_contrastive_sr.ipynb", "06_clip_score_pipeline.ipynb"]


def test_make_student_writes_every_notebook_without_solutions(tmp_path):
    written = classroom.build_student(tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for path in written:
        nb = nbformat.read(path, as_version=4)
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
        assert sum("NotImplementedError" in c.source for c in nb.cells if c.cell_type == "code") >= 2
