"""The notebooks as files: where they are, the student edition, and headless execution.

``python -m percept_lib.teaching student --out build/student`` writes the student edition:

* each solution function keeps its signature and docstring, and its body becomes
  ``raise NotImplementedError("Exercise …: …")`` — nothing of the solution remains;
* each check cell runs inside :func:`~percept_lib.teaching.classroom.exercise`, so "Run All" reaches the end
  and reports every exercise left undone instead of stopping at the first;
* the questionnaire's answers (markdown cells tagged ``answer``) are removed;
* a last cell prints the state of every exercise.

``python -m percept_lib.teaching run --out build/executed`` executes every notebook (the instructor
edition, fast mode unless ``--fast 0``) with papermill.
"""
from __future__ import annotations

import argparse
import ast
import copy
import io
import os
import sys
import textwrap
import time
import tokenize
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def cell_tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def stub_solution_source(source: str, exercise: str) -> str:
    """Replace each top-level function's body by ``raise NotImplementedError`` (signature, docstring kept).

    Only the code of the signature (decorators, ``def``, arguments) and the docstring survive: every comment,
    wherever it sits (after the colon, between arguments, before or after the docstring), is dropped,
    since a comment of the worked answer is part of the answer. Anything else in a solution cell (helper
    statements) is refused: a solution cell must define functions only, so that the student edition keeps
    the names the check cells call.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    comments = _comment_starts(source)
    out = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            raise ValueError(f"{exercise}: a solution cell may only define functions; found "
                             f"{type(node).__name__} at line {node.lineno}")
        start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
        end_row, end_col = _signature_colon(source, node)
        for row in range(start, end_row):
            text = lines[row][:end_col + 1] if row == end_row - 1 else lines[row]
            if row + 1 in comments:
                text = text[:comments[row + 1]]
            if text.strip():
                out.append(text.rstrip())
        first = node.body[0]
        on_def_line = first.lineno == end_row  # ``def f(x): return …`` on one line
        indent = " " * (node.col_offset + 4 if on_def_line else first.col_offset)
        if ast.get_docstring(node, clean=False) is not None:
            if on_def_line:
                out.append(indent + ast.get_source_segment(source, first))
            else:
                out.extend(lines[row][:comments.get(row + 1)].rstrip()
                           for row in range(first.lineno - 1, first.end_lineno))
        out.append(f'{indent}raise NotImplementedError("{exercise}: write {node.name}() — see the instructions above")')
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _comment_starts(source: str) -> dict[int, int]:
    """Line number (1-based) → column where that line's comment starts."""
    return {tok.start[0]: tok.start[1] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT}


def _signature_colon(source: str, node) -> tuple[int, int]:
    """(line, column) of the colon that ends ``node``'s ``def`` line(s): the first ``:`` outside brackets."""
    depth = 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.start[0] < node.lineno or (tok.start[0] == node.lineno and tok.start[1] < node.col_offset):
            continue
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.OP and tok.string == ":" and depth == 0:
            return tok.start
    raise ValueError(f"no colon ends the signature of {node.name}()")  # pragma: no cover - ast parsed it


def guarded_check_source(source: str, exercise: str) -> str:
    """A check cell's code inside ``exercise(...)``: an unattempted or wrong answer is reported, not raised."""
    body = textwrap.indent(source.rstrip() or "pass", "    ")
    return ("import percept_lib.teaching.classroom as _classroom\n"
            f"with _classroom.exercise({exercise!r}):\n{body}\n")


def exercise_names(notebook) -> list[str]:
    """The exercises of a notebook, in order (the ``exercise`` metadata of its solution cells)."""
    names, count = [], 0
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and cell_tags(cell) & {"solution", "exercise"}:
            count += 1
            names.append(cell.get("metadata", {}).get("exercise", f"Exercise {count}"))
    return list(dict.fromkeys(names))


def make_student_edition(notebook):
    """A copy of ``notebook`` (nbformat v4) for students: solutions stubbed, checks guarded, answers removed,
    outputs cleared, and a last cell reporting each exercise."""
    import nbformat

    nb = copy.deepcopy(notebook)
    names = exercise_names(notebook)
    current, count, cells = None, 0, []
    for cell in nb["cells"]:
        tags = cell_tags(cell)
        if "answer" in tags:
            continue
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            if "solution" in tags:
                count += 1
                current = cell.get("metadata", {}).get("exercise", f"Exercise {count}")
                cell["source"] = stub_solution_source(_source(cell), current)
                cell["metadata"]["tags"] = [t for t in cell["metadata"].get("tags", []) if t != "solution"] + ["exercise"]
            elif "check" in tags:
                if current is None:
                    raise ValueError(f"a check cell comes before any solution cell: {_source(cell)[:60]!r}")
                cell["source"] = guarded_check_source(_source(cell), current)
        cells.append(cell)
    if names:
        report = nbformat.v4.new_code_cell(
            "import percept_lib.teaching.classroom as _classroom\n"
            f"_classroom.exercise_report({names!r});", metadata={"tags": ["exercise-report"]})
        if nb.get("nbformat_minor", 0) < 5:  # cell ids arrived with nbformat 4.5
            report.pop("id", None)
        cells.append(report)
    nb["cells"] = cells
    return nb


def build_student(out: Path, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks(folder):
        target = out / path.name
        nbformat.write(make_student_edition(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


def execute(path: Path, out: Path, parameters: dict | None = None, timeout: int = 600,
            random_weights: bool | None = None, cwd: Path | None = None) -> float:
    """Run one notebook with papermill; returns the wall time in seconds."""
    import papermill

    if random_weights is not None:
        os.environ["PERCEPT_WEIGHTS"] = "random" if random_weights else "pretrained"
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(str(path), str(out), parameters=parameters or {}, kernel_name="python3",
                               cwd=str(cwd or path.parent), execution_timeout=timeout, progress_bar=False)
    return time.perf_counter() - start


def weights_problem() -> str | None:
    """One line saying why the notebooks cannot get their pretrained weights, or None when they can.

    Fetches what is missing up front (the notebooks would fetch it anyway), so that an offline machine
    learns in one line, before any notebook starts, what to do instead of a traceback from inside a cell.
    """
    from .. import weights

    if weights.weights_mode() == "random":
        return None
    for name, artifact in weights.ARTIFACTS.items():
        if not artifact.fetchable or weights.cached_path(name) is not None:
            continue
        try:
            weights.resolve(name)
        except weights.WeightsUnavailableError as err:  # its message already names the file and the fix
            return f"{err} (e.g. `PERCEPT_WEIGHTS=random make run`)"
        except Exception as err:  # a refused or broken download: the same two ways out
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return (f"pretrained weights '{name}' could not be fetched ({reason}). Fetch them with "
                    "`python -m percept_lib weights fetch --all`, or run with PERCEPT_WEIGHTS=random for "
                    "illustrative numbers (e.g. `PERCEPT_WEIGHTS=random make run`).")
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m percept_lib.teaching")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("student", help="write the student edition (solutions stubbed, answers removed)")
    s.add_argument("--out", default="build/student")
    r = sub.add_parser("run", help="execute every notebook headless (instructor edition)")
    r.add_argument("--out", default="build/executed")
    r.add_argument("--fast", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "student":
        for p in build_student(Path(args.out)):
            print(p)
        return 0
    problem = weights_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    for path in notebooks():
        seconds = execute(path, Path(args.out) / path.name, {"fast": bool(args.fast)})
        print(f"{path.name}: {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
