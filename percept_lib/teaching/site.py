"""A rendered site of the executed notebooks: one HTML page each (figures embedded) and an index page
with each notebook's title, learning objectives, run time and weights mode.

The site is for students: it renders the student edition (no solution code, no questionnaire answers)
unless the instructor edition is asked for.

    python -m percept_lib.teaching.site --out build/site                 # student edition, fast mode
    python -m percept_lib.teaching.site --out build/site --full          # the full versions
    python -m percept_lib.teaching.site --out build/site --instructor    # with solutions and answers
"""
from __future__ import annotations

import argparse
import html
import json
import re
import sys
import time
from pathlib import Path

from .editions import NOTEBOOK_DIR, execute, make_student_edition, notebooks, weights_problem


def notebook_summary(nb) -> dict:
    """Title (first level-1 heading) and learning objectives (the list under that heading, each item whole,
    continuation lines included, still in markdown)."""
    title, objectives = "", []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        if not title:
            m = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
            if m:
                title = m.group(1).strip()
        m = re.search(r"learning objectives[^\n]*\n(.*?)(?=^#|\Z)", cell.source, flags=re.I | re.M | re.S)
        if m and not objectives:
            for line in m.group(1).splitlines():
                if re.match(r"^\s*(?:[-*]|\d+\.)\s+", line):
                    objectives.append(re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", line).strip())
                elif line.strip() and objectives:
                    objectives[-1] += " " + line.strip()
    return {"title": title, "objectives": objectives}


def markdown_inline(text: str) -> str:
    """An objective's markdown (code, emphasis, links) as HTML, without the paragraph around it."""
    import mistune

    return re.sub(r"^<p>|</p>\s*$", "", mistune.html(text).strip())


def render_html(nb, path: Path) -> None:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    path.write_text(body, encoding="utf-8")


def build_site(out: Path, fast: bool = True, folder: Path = NOTEBOOK_DIR, run: bool = True,
               timeout: int = 900, instructor: bool = False) -> Path:
    """Execute (unless ``run=False``) and render every notebook of ``folder`` into ``out``; returns index.html.

    The student edition unless ``instructor``."""
    import nbformat

    from ..weights import RANDOM_BANNER, weights_mode

    out = Path(out)
    edition = "instructor" if instructor else "student"
    (out / "executed").mkdir(parents=True, exist_ok=True)
    (out / "source").mkdir(parents=True, exist_ok=True)
    entries = []
    for path in notebooks(folder):
        nb = nbformat.read(path, as_version=4)
        source = path
        if not instructor:
            source = out / "source" / path.name
            nbformat.write(make_student_edition(nb), source)
            nb = nbformat.read(source, as_version=4)
        executed = out / "executed" / path.name
        seconds = None
        if run:
            print(f"executing {path.name} ({edition} edition, {'fast' if fast else 'full'} mode)…", flush=True)
            seconds = execute(source, executed, {"fast": fast}, timeout=timeout, cwd=path.parent)
            print(f"  {seconds:.0f} s", flush=True)
            nb = nbformat.read(executed, as_version=4)
        page = path.with_suffix(".html").name
        render_html(nb, out / page)
        entries.append({"file": page, "notebook": path.name, "seconds": seconds,
                        "edition": edition,
                        "mode": ("fast" if fast else "full") if run else "not executed", **notebook_summary(nb)})
    weights = weights_mode()
    items = []
    for e in entries:
        objectives = "".join(f"<li>{markdown_inline(o)}</li>" for o in e["objectives"])
        runtime = f"{e['seconds']:.0f} s" if e["seconds"] is not None else "—"
        items.append(
            f'<section><h2><a href="{html.escape(e["file"])}">{html.escape(e["title"] or e["notebook"])}</a></h2>'
            f'<p class="meta">{html.escape(e["notebook"])} · {e["edition"]} edition · {html.escape(e["mode"])} · run time {runtime} · '
            f'weights: {html.escape(weights)}</p><ul>{objectives}</ul></section>')
    banner = "" if weights == "pretrained" else f'<p class="warn">{html.escape(RANDOM_BANNER)}.</p>'
    index = out / "index.html"
    index.write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>percept_lib notebooks</title>
<style>body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; }} .meta {{ color: #555; }}
.warn {{ background: #fff3cd; border: 2px solid #d39e00; padding: .5em; font-weight: bold; }}</style>
</head><body><h1>percept_lib — perceptual losses and image-quality metrics</h1>
<p>Built {time.strftime('%Y-%m-%d %H:%M')}.</p>{banner}
{''.join(items)}
</body></html>
""", encoding="utf-8")
    (out / "site.json").write_text(json.dumps(entries, indent=2))
    return index


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m percept_lib.teaching.site", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="build/site")
    parser.add_argument("--full", action="store_true", help="run the full versions, not fast mode")
    parser.add_argument("--instructor", action="store_true",
                        help="render the instructor edition (solutions and questionnaire answers)")
    args = parser.parse_args(argv)
    problem = weights_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    index = build_site(Path(args.out), fast=not args.full, instructor=args.instructor)
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
