"""Notebooks as tests: each notebook executed once (the instructor edition, with its non-default test
parameters, papermill), its student edition checked against that run, structure, stripped outputs.

The student edition differs from the instructor edition only in its solution cells (stubs that raise
NotImplementedError), its check cells (guarded: they report instead of raising) and the answers it drops;
so with no other cell calling a solution function (checked here), the instructor run shows that the student
edition runs to the end too. tests/test_classroom.py executes a student edition to show the guard reports.
`make test-nbval` runs the stored defaults with nbval. All runs use random weights (PERCEPT_WEIGHTS=random):
no pretrained file can be had in CI.
"""
import ast
import io
import os
import tokenize

import nbformat
import pytest

from percept_lib.teaching import editions

NOTEBOOKS = editions.notebooks()
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
    assert "## questionnaire" in text, f"{path.name}: ends with a questionnaire"
    assert any("answer" in t for t in tags), f"{path.name}: the questionnaire's answers (cells tagged 'answer')"
    assert any("finding" in t for t in tags), f"{path.name}: no finding cell states what this run shows"
    experiments = [c for c, t in zip(nb.cells, tags) if "solution" in t and c.metadata.get("experiment")]
    assert experiments, f"{path.name}: at least one predict-then-measure exercise (solution metadata 'experiment')"


def _comments(source: str) -> list[str]:
    return [tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT]


def _solution_names(nb) -> set[str]:
    return {node.name for c in nb.cells if "solution" in c.metadata.get("tags", [])
            for node in ast.parse(c.source).body}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_student_edition_keeps_no_solution_and_needs_none(path):
    nb = nbformat.read(path, as_version=4)
    student = editions.make_student_edition(nb)
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
    # Nor any comment of it: a stub is its signature, its docstring and the raise, without a comment
    # (a comment of the worked answer is part of the answer, e.g. "each layer gives (1 + margin) · d").
    stubs = {c.id: c.source for c in student.cells}
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            stub = stubs[cell.id]
            assert not _comments(stub), f"a comment survived in the stub of cell {cell.id}: {_comments(stub)}"
            for comment in _comments(cell.source):
                words = comment.lstrip("#").strip()
                assert len(words) < 8 or words not in student_code, f"solution comment leaked: {comment!r}"
    student_text = "\n".join(c.source for c in student.cells)
    for cell in nb.cells:
        if "answer" in cell.metadata.get("tags", []):
            assert cell.source not in student_text, "a questionnaire answer leaked into the student edition"
    # Only check cells may call what the student writes: anywhere else a stub would stop "Run All".
    names = _solution_names(nb)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or {"solution", "check"} & set(tags):
            continue
        used = {n.id for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Name)} & names
        assert not used, f"cell {cell.id} calls the exercise function(s) {sorted(used)} outside a check cell"
    # Every check cell is guarded in the student edition.
    checks = [c for c in student.cells if "check" in c.metadata.get("tags", [])]
    assert checks and all("_classroom.exercise(" in c.source for c in checks)
    assert "exercise_report" in student.cells[-1].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_with_other_parameters_and_its_findings_render(path, tmp_path, notebook_env):
    """The one execution of each notebook in `make test`: the instructor edition with the notebook's
    non-default test parameters (another seed among them). Every check passes, every finding cell
    rendered a finding from this run's numbers, and the random-weights banner is shown."""
    nb = nbformat.read(path, as_version=4)
    params = dict(nb.metadata["percept"]["test_parameters"])
    params.setdefault("fast", True)
    out_path = tmp_path / ("run_" + path.name)
    import papermill

    papermill.execute_notebook(str(path), str(out_path), parameters=params, kernel_name="python3",
                               cwd=str(path.parent), execution_timeout=CELL_TIMEOUT, progress_bar=False)
    out = nbformat.read(out_path, as_version=4)

    def text_of(cell):
        return "".join(o.get("text", "") for o in cell.outputs)

    for cell in out.cells:
        if "check" in cell.metadata.get("tags", []):
            assert "✓" in text_of(cell), f"check cell {cell.id} did not pass:\n{text_of(cell)}"
    for cell in out.cells:
        if "finding" in cell.metadata.get("tags", []):
            rendered = [o for o in cell.outputs if o.get("output_type") == "display_data"
                        and "Finding — this run" in o.get("data", {}).get("text/markdown", "")]
            assert rendered, f"finding cell {cell.id} rendered no finding"
            for note in rendered:   # each names the weights it used, or that no network is involved
                label = note["data"]["text/markdown"].split(":**")[0]
                assert "random weights" in label or "no network involved" in label, label
    text = "".join(text_of(c) for c in out.cells if c.cell_type == "code")
    assert "RANDOM WEIGHTS" in text, "the random-weights banner is shown"
    injected = [c for c in out.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, "papermill injected the non-default parameters"


def test_the_notebooks_in_order():
    assert [p.name for p in NOTEBOOKS] == [
        "01_mse_vs_perceptual.ipynb", "02_lpips.ipynb", "03_fid_sample_size.ipynb",
        "04_style_transfer.ipynb", "05_contrastive_sr.ipynb", "06_clip_score_pipeline.ipynb",
        "07_fidelity_diversity.ipynb"]


def test_make_student_writes_every_notebook_without_solutions(tmp_path):
    written = editions.build_student(tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for path in written:
        nb = nbformat.read(path, as_version=4)
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
        assert sum("NotImplementedError" in c.source for c in nb.cells if c.cell_type == "code") >= 2
        assert not any("answer" in c.metadata.get("tags", []) for c in nb.cells)
