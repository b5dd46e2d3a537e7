"""The set-up stays in step: pyproject.toml is the single source of dependencies."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_installs_the_project_with_the_makefile_extras():
    env = (ROOT / "environment.yml").read_text()
    pip_lines = re.findall(r"^\s*-\s+(-e\s+.*)$", env, flags=re.M)
    assert len(pip_lines) == 1, "environment.yml should install the project itself, once, with pip"
    extras = set(re.search(r"\[([^\]]+)\]", pip_lines[0]).group(1).split(","))
    make_extras = set(re.search(r"pip install -e '\.\[([^\]]+)\]'", (ROOT / "Makefile").read_text()).group(1).split(","))
    assert extras == make_extras
    assert extras <= set(_pyproject()["project"]["optional-dependencies"])


def test_environment_yml_pins_no_package_of_its_own():
    env = (ROOT / "environment.yml").read_text()
    dependencies = re.split(r"^dependencies:", env, flags=re.M)[1]
    conda_deps = [d.rstrip(":") for d in re.findall(r"^  - ([A-Za-z0-9_.\-]+:?)", dependencies, flags=re.M)]
    # Only the interpreter and pip come from conda; everything else comes from pyproject.toml.
    assert {_name(d) for d in conda_deps} <= {"python", "pip"}, conda_deps


def test_declared_dependencies_cover_what_the_issue_lists():
    project = _pyproject()["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    for name in ["torch", "torchvision", "numpy", "scipy", "pillow", "scikit-image", "matplotlib", "tqdm",
                 "open-clip-torch", "timm", "lpips"]:
        assert name in runtime, name
    for name in ["jupyterlab", "ipywidgets", "papermill", "nbval", "pytest", "pytorch-fid", "clean-fid", "torchmetrics"]:
        assert name in extras, name
    # Reference packages are for tests only, never runtime dependencies.
    assert not runtime & {"pytorch-fid", "clean-fid", "torchmetrics", "piq"}
    # Ranges, not pins.
    assert not any("==" in r for r in project["dependencies"])


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_the_wheel_holds_every_subpackage_and_py_typed(tmp_path):
    """A non-editable install gets what the source tree has: every package (pipeline included) and py.typed."""
    import subprocess
    import sys
    import zipfile

    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("percept_lib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "percept_lib").rglob("__init__.py")}
    assert {f"{p}/__init__.py" for p in packages} <= names
    assert "percept_lib/py.typed" in names and "percept_lib/pipeline/extraction.py" in names
