"""The rendered site: every notebook appears on the index, every link resolves, figures are embedded."""
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from percept_lib.teaching import editions
from percept_lib.teaching.site import build_site, notebook_summary


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))


def _links(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text())
    return parser


def _tiny_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 01 — A tiny lesson\n\n## Learning objectives\n- plot a line\n"
                                      "- read a `title` and its\n  **whole** sentence\n\n## Prerequisites\nNone.\n"),
        nbformat.v4.new_code_cell("fast = False\nseed = 0\ndevice = 'auto'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots(); ax.plot([1, 2]); ax.set_title('t'); ax.set_xlabel('x'); ax.set_ylabel('y')\n"
            "plt.show()"),
        nbformat.v4.new_code_cell("def double(x):\n    return x * 2  # SECRET-SOLUTION-LINE\n",
                                  metadata={"tags": ["solution"], "exercise": "Exercise 1"}),
        nbformat.v4.new_code_cell("from percept_lib.teaching.classroom import check\n"
                                  "check(double(2) == 4, 'Exercise 1', 'double it')", metadata={"tags": ["check"]}),
        nbformat.v4.new_markdown_cell("## Questionnaire\n1. What is twice two?"),
        nbformat.v4.new_markdown_cell("Four, SECRET-ANSWER.", metadata={"tags": ["answer"]}),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "01_tiny.ipynb"
    nbformat.write(nb, path)
    return path


def test_summary_reads_title_and_objectives(tmp_path):
    nb = nbformat.read(_tiny_notebook(tmp_path), as_version=4)
    assert notebook_summary(nb) == {"title": "01 — A tiny lesson",
                                    "objectives": ["plot a line", "read a `title` and its **whole** sentence"]}


def test_built_site_links_resolve_and_figures_are_embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("PERCEPT_WEIGHTS", "random")
    src = tmp_path / "nb"
    src.mkdir()
    _tiny_notebook(src)
    index = build_site(tmp_path / "site", fast=True, folder=src)
    parsed = _links(index)
    assert parsed.links == ["01_tiny.html"]
    text = index.read_text()
    assert "01 — A tiny lesson" in text and "plot a line" in text and "run time" in text
    assert "<code>title</code> and its <strong>whole</strong> sentence" in text  # markdown rendered, not cut
    assert "RANDOM WEIGHTS" in text
    page = _links(tmp_path / "site" / "01_tiny.html")
    assert any(src.startswith("data:image/png;base64,") for src in page.images)


def test_every_notebook_of_the_suite_appears_on_the_index(tmp_path):
    index = build_site(tmp_path / "site", run=False)
    links = _links(index).links
    assert links == [p.with_suffix(".html").name for p in editions.notebooks()]
    for link in links:
        assert (tmp_path / "site" / link).is_file()


def test_the_site_is_the_student_edition_unless_the_instructor_asks(tmp_path, monkeypatch):
    monkeypatch.setenv("PERCEPT_WEIGHTS", "random")
    src = tmp_path / "nb"
    src.mkdir()
    _tiny_notebook(src)
    build_site(tmp_path / "student", fast=True, folder=src)
    page = (tmp_path / "student" / "01_tiny.html").read_text()
    assert "SECRET-SOLUTION-LINE" not in page and "SECRET-ANSWER" not in page
    assert "not attempted yet" in page  # executed to the end, the exercise reported
    assert "student edition" in (tmp_path / "student" / "index.html").read_text()
    build_site(tmp_path / "instructor", fast=True, folder=src, instructor=True)
    page = (tmp_path / "instructor" / "01_tiny.html").read_text()
    assert "SECRET-SOLUTION-LINE" in page and "SECRET-ANSWER" in page and "✓ Exercise 1" in page
