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
    names = {t.id for node in ast.parse(params[0].source).body
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
             if isinstance(node, (ast.Assign, ast.AnnAssign))}
    assert {"fast", "seed", "device"} <= names
    assert sum("solution" in t for t in tags) >= 2, "at least two exercises"
    assert sum("check" in t for t in tags) >= 2, "each exercise is checked"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    for heading in ("learning objectives", "prerequisites", "recap", "further reading"):
        assert heading in text, f"{path.name}: no '{heading}' section"
    assert "test_parameters" in nb.metadata.get("percept", {}), "metadata.percept.test_parameters"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_runs_with_non_default_parameters(path, tmp_path, notebook_env):
    nb = nbformat.read(path, as_version=4)
    params = dict(nb.metadata["percept"]["test_parameters"])
    params.setdefault("fast", True)
    classroom.execute(path, tmp_path / path.name, params, timeout=CELL_TIMEOUT)
    out = nbformat.read(tmp_path / path.name, as_version=4)
    errors = [o for c in out.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in out.cells if c.cell_type == "code" for o in c.outputs)
    assert "RANDOM WEIGHTS" in text, "the random-weights banner is shown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_student_edition_fails_exactly_on_the_stubbed_exercises(path, tmp_path, notebook_env):
    from nbclient import NotebookClient

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
    client = NotebookClient(student, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errored = [i for i, c in enumerate(student.cells) if c.cell_type == "code"
               and any(o.get("output_type") == "error" for o in c.outputs)]
    checks = [i for i, c in enumerate(student.cells) if "check" in c.metadata.get("tags", [])]
    assert errored == checks
    for i in checks:
        assert student.cells[i].outputs[-1]["ename"] == "NotImplementedError"
