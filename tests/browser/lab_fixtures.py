"""Fixtures of the browser test: a JupyterLab server on a copy of the notebooks, and Debian's Chromium.

JupyterLab runs from the project's environment (``sys.executable -m jupyterlab``) on 127.0.0.1 with a random
token, with its own config, data, runtime, settings and workspace directories under a temporary folder, so
nothing of the user's is read or modified and nothing is left running. Chromium is the system's (Debian's
``chromium`` package) driven by Playwright through ``executable_path``: Playwright never downloads a browser,
and every request that does not go to the local server is aborted (and reported).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PERCEPT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT = float(os.environ.get("PERCEPT_LAB_START_TIMEOUT", "180"))

# JupyterLab user settings for the test: no news / update check (no network), and every cell attached to
# the DOM (windowing off), so that checks over all cells see all cells.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_copy(src: Path, dst: Path) -> None:
    """Copy the notebooks folder, with every code cell's outputs and execution count cleared."""
    import nbformat

    shutil.copytree(src, dst)
    for path in dst.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, path)


class Lab:
    """A running JupyterLab server: its URL, token, folders and log, and a small REST client."""

    def __init__(self, work: Path):
        self.work = work
        self.notebooks = work / "notebooks"
        self.runtime = work / "runtime"
        self.log_path = work / "lab.log"
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as e:
            return f"(no JupyterLab log: {e})"
        return text[-chars:]

    def explain(self, message: str) -> str:
        return f"{message}\n\n--- tail of the JupyterLab log ({self.log_path}) ---\n{self.log_tail()}"

    def api(self, path: str, method: str = "GET", timeout: float = 30):
        req = urllib.request.Request(f"{self.base}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def url(self, notebook: str, workspace: str) -> str:
        # A workspace of its own per page: nothing restored from an earlier page.
        return f"{self.base}/lab/workspaces/{workspace}/tree/{notebook}?token={self.token}"

    def shutdown_sessions(self, notebook: str | None = None) -> None:
        """Shut down the kernel of ``notebook`` (every kernel when None)."""
        try:
            for s in self.api("/api/sessions"):
                if notebook is None or s.get("path") == notebook:
                    self.api(f"/api/sessions/{s['id']}", method="DELETE")
        except Exception:  # the server may be gone already
            pass

    def start(self) -> None:
        self.notebooks.parent.mkdir(parents=True, exist_ok=True)
        _fresh_copy(ROOT / "notebooks", self.notebooks)
        config = self.work / "config"
        for rel, values in USER_SETTINGS.items():
            path = config / "lab" / "user-settings" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # the kernel must use matplotlib's inline backend
        env.update(
            PERCEPT_WEIGHTS="random", PERCEPT_FAST="1", PERCEPT_OFFLINE="1", HF_HUB_OFFLINE="1",
            JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(self.work / "data"),
            JUPYTER_RUNTIME_DIR=str(self.runtime),
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            PYDEVD_DISABLE_FILE_VALIDATION="1",
        )
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--ServerApp.port_retries=0", "--ServerApp.allow_root=True",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.notebooks}",
               "--ServerApp.terminals_enabled=False",
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly", "--LabApp.expose_app_in_browser=True"]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.work, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                pytest.fail(self.explain(f"JupyterLab exited with status {self.proc.returncode} at start-up"),
                            pytrace=False)
            try:
                self.api("/api/status", timeout=5)
                self.api("/api/kernelspecs", timeout=5)
                return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(self.explain(f"JupyterLab did not answer on {self.base} within {START_TIMEOUT:.0f} s"),
                            pytrace=False)
            time.sleep(1)

    def _own_kernels(self) -> list[int]:
        """Kernel processes of this server: their command line names a connection file in our runtime dir."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(self.runtime) in cmdline and "kernel" in cmdline:
                pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.shutdown_sessions()
            self.proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pid in self._own_kernels():  # a kernel the server failed to stop
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self._log.close()
        self.proc = None


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package "
                    "(`apt-get install chromium`; .ci/run does it) or set PERCEPT_CHROMIUM", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="module")
def lab(tmp_path_factory, chromium):
    server = Lab(tmp_path_factory.mktemp("lab"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory, chromium, lab):
    """A Chromium context with a fresh user-data dir; requests to anything but the local server are aborted."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []

    def guard(route):
        if route.request.url.startswith(lab.base + "/") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000}, timeout=120_000)
        context.route("**/*", guard)
        context.set_default_timeout(120_000)
        try:
            yield SimpleNamespace(context=context, blocked=blocked)
        finally:
            context.close()
