"""The classroom machinery on a small notebook built here: student edition, checks, execution."""
import nbformat
import pytest

from percept_lib.teaching import classroom, editions

SOLUTION = '''import math  # not allowed in a solution cell
'''

GOOD_SOLUTION = '''# Hint: one matrix product.
def gram(features):  # flatten first
    """Gram matrix of C×(H·W) features, normalized by the element count."""  # by C·H·W
    # the channels are the rows
    c = features.shape[0]
    flat = features.reshape(c, -1)
    return flat @ flat.T / flat.numel()


@staticmethod  # neighbour differences
def tv(x,  # summed absolute
       ):
    # abs of x[1:] − x[:-1], summed
    return float(abs(x[1:] - x[:-1]).sum())


def double(x): return 2 * x  # twice x
'''


def _notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("fast = True", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(GOOD_SOLUTION, metadata={"tags": ["solution"], "exercise": "Exercise 1"}),
        nbformat.v4.new_code_cell(
            "import torch\nfrom percept_lib.teaching.classroom import check_close\n"
            "f = torch.arange(6.).reshape(2, 3)\n"
            "check_close(gram(f), f @ f.T / 6, 'Exercise 1')", metadata={"tags": ["check"]}),
        nbformat.v4.new_code_cell("print('the lesson goes on')"),
    ]
    return nb


def test_student_edition_stubs_solutions_and_keeps_signatures():
    nb = _notebook()
    student = editions.make_student_edition(nb)
    src = student["cells"][1]["source"]
    assert "def gram(features):" in src and "Gram matrix of C×(H·W)" in src
    assert 'raise NotImplementedError("Exercise 1: write gram()' in src
    assert "def tv(x,\n       ):" in src and "@staticmethod" in src
    assert 'def double(x):\n    raise NotImplementedError("Exercise 1: write double()' in src
    # Nothing of the solution remains, comments included.
    for fragment in ("reshape", "flat.T", "numel", "abs", "x[1:]", "2 * x", "#", "Hint", "flatten", "C·H·W",
                     "rows", "neighbour", "summed", "twice"):
        assert fragment not in src
    compile(src, "stub", "exec")
    assert "solution" not in student["cells"][1]["metadata"]["tags"]
    # The original is untouched.
    assert "flat.T" in nb["cells"][1]["source"]


def test_solution_cells_may_only_define_functions():
    with pytest.raises(ValueError, match="may only define functions"):
        editions.stub_solution_source(SOLUTION, "Exercise 2")


def test_checks_pass_on_solution_and_fail_exactly_on_stubs(tmp_path):
    from nbclient import NotebookClient

    nb = _notebook()
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert "✓ Exercise 1" in nb.cells[2].outputs[0]["text"]

    student = editions.make_student_edition(_notebook())
    NotebookClient(student, timeout=120, kernel_name="python3").execute()  # Run All reaches the end
    assert "◻ Exercise 1: not attempted yet" in student.cells[2].outputs[0]["text"]
    assert student.cells[3].outputs[0]["text"] == "the lesson goes on\n"
    report = student.cells[-1].outputs[0]["text"]
    assert "Exercise 1" in report and "not attempted" in report


def test_student_edition_reports_a_wrong_answer_and_goes_on():
    nb = _notebook()
    student = editions.make_student_edition(nb)
    student.cells[1].source = "def gram(features):\n    return features @ features.T\n"  # forgot the division
    from nbclient import NotebookClient

    NotebookClient(student, timeout=120, kernel_name="python3").execute()
    assert "✗ Exercise 1: largest difference" in student.cells[2].outputs[0]["text"]
    assert "not yet right" in student.cells[-1].outputs[0]["text"]


def test_answers_exist_only_in_the_instructor_edition():
    nb = _notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("## Questionnaire\n1. Why?"))
    nb.cells.append(nbformat.v4.new_markdown_cell("**Answer.** Because.", metadata={"tags": ["answer"]}))
    student = editions.make_student_edition(nb)
    text = "\n".join(c.source for c in student.cells)
    assert "Questionnaire" in text and "Because" not in text
    assert len(nb.cells) == 6  # the original keeps its answer


def test_forbid_refuses_the_library_function_inside_the_block_only():
    from percept_lib.losses import gram_matrix
    import percept_lib.losses.style as style_module
    import torch

    namespace = {"gram_matrix": gram_matrix}
    exec("def lazy(f):\n    return gram_matrix(f)\n", namespace)
    f = torch.rand(1, 2, 3, 3)
    with pytest.raises(classroom.ExerciseFailed, match="uses gram_matrix"):
        with classroom.forbid(gram_matrix, namespace=namespace, exercise="Exercise 1"):
            namespace["lazy"](f)
    with pytest.raises(classroom.ExerciseFailed):  # reached through the module too
        with classroom.forbid(gram_matrix, namespace={}, exercise="Exercise 1"):
            style_module.gram_matrix(f)
    from percept_lib.losses import StyleLoss

    with pytest.raises(classroom.ExerciseFailed, match="uses StyleLoss"):  # a class: reaching into it fails too
        with classroom.forbid(StyleLoss, namespace={}, exercise="Exercise 1"):
            style_module.StyleLoss.mro
    # Restored afterwards, everywhere.
    assert namespace["gram_matrix"] is gram_matrix and style_module.gram_matrix is gram_matrix
    torch.testing.assert_close(namespace["lazy"](f), gram_matrix(f))


def test_forbid_a_class_refuses_its_instances_built_before_the_block():
    """An object an earlier cell built (``perceptual.per_layer(x, y)``) is the library code too."""
    import torch
    from percept_lib.losses import TotalVariationLoss

    tv = TotalVariationLoss()
    namespace = {"tv": tv, "kept": torch.nn.Identity()}
    exec("def by_call(x):\n    return tv(x)\n\ndef by_method(x):\n    return tv.forward(x)\n", namespace)
    x = torch.rand(1, 3, 8, 8)
    for shortcut in ("by_call", "by_method"):
        with pytest.raises(classroom.ExerciseFailed, match=r"Exercise 2: your answer uses tv \(a TotalVariationLoss\)"):
            with classroom.forbid(TotalVariationLoss, namespace=namespace, exercise="Exercise 2"):
                namespace[shortcut](x)
    with classroom.forbid(TotalVariationLoss, namespace=namespace, exercise="Exercise 2"):
        assert isinstance(namespace["kept"], torch.nn.Identity)  # instances of other classes stay usable
    assert namespace["tv"] is tv
    torch.testing.assert_close(namespace["by_method"](x), tv(x))


def test_finding_names_the_weights_and_the_literature(monkeypatch, capsys):
    monkeypatch.setenv("PERCEPT_WEIGHTS", "random")
    classroom.finding("the blur scores 0.31, above noise's 0.12", pretrained="blur ranks first",
                      source="Zhang et al. 2018")
    out = capsys.readouterr().out
    assert "this run, random weights (illustrative): the blur scores 0.31" in out
    assert "With pretrained weights: blur ranks first (Zhang et al. 2018)" in out
    with pytest.raises(ValueError, match="empty text"):
        classroom.finding("  ")


def test_a_finding_without_a_network_says_so_in_either_weights_mode(monkeypatch, capsys):
    for mode in ("random", "pretrained"):
        monkeypatch.setenv("PERCEPT_WEIGHTS", mode)
        classroom.finding("FID∞ = 0.01, the truth 0", network=False)
        out = capsys.readouterr().out
        assert "Finding — this run, no network involved (the same with any weights): FID∞ = 0.01" in out
        assert "random" not in out and "pretrained" not in out
    with pytest.raises(ValueError, match="network=False .* drop pretrained="):
        classroom.finding("FID∞ = 0.01", network=False, pretrained="the same")


def test_check_close_messages(capsys):
    classroom.check_close([1.0, 2.0], [1.0, 2.0], "Exercise 3")
    assert "✓ Exercise 3" in capsys.readouterr().out
    with pytest.raises(classroom.ExerciseFailed, match="largest difference 0.5"):
        classroom.check_close([1.0, 2.5], [1.0, 2.0], "Exercise 3")
    with pytest.raises(classroom.ExerciseFailed, match="shape"):
        classroom.check_close([1.0], [1.0, 2.0], "Exercise 3")


def test_fast_default_and_banner(monkeypatch):
    monkeypatch.setenv("PERCEPT_FAST", "1")
    assert classroom.fast_default() is True
    monkeypatch.setenv("PERCEPT_FAST", "0")
    assert classroom.fast_default() is False
    monkeypatch.setenv("PERCEPT_WEIGHTS", "random")
    assert "illustrative" in classroom.weights_banner_text()
    monkeypatch.delenv("PERCEPT_WEIGHTS")
    assert classroom.weights_banner_text() is None
    assert classroom.resolve_device("cpu") == "cpu"


def test_asking_for_a_missing_gpu_is_a_clear_error(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert classroom.resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="no CUDA GPU"):
        classroom.resolve_device("cuda")


def test_running_the_notebooks_offline_without_weights_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PERCEPT_WEIGHTS", raising=False)
    monkeypatch.setenv("PERCEPT_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert editions.main(["run", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "PERCEPT_WEIGHTS=random" in err and "weights fetch" in err
    assert not (tmp_path / "out").exists()  # nothing started
