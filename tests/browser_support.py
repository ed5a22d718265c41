"""JupyterLab and Chromium for the browser tests: a private server, a sandboxed browser, a notebook page.

The server runs on 127.0.0.1 with a random token and port, on a temporary copy of the
notebooks, with HOME and every Jupyter/IPython directory pointed into a temporary folder,
so a test run never writes to the committed notebooks or to the user's home.
News, update checks and the extension manager's index are switched off; Chromium runs
with its background networking off and resolves no host name but 127.0.0.1, so nothing
leaves the machine, and a page that tries (a CDN, a web font) is reported.

The page helper does what a learner does (open the notebook, Run > Run All Cells, wait,
click and type in widgets) and, when something does not appear in time, fails with a
message naming the test, the notebook and the condition it waited for, the page's console
errors, and a screenshot in test-artifacts/ named after the test.

Under load (a busy core, the other engineers' tests) everything is slower but nothing may
flake, so: no fixed sleeps, only waits on a condition the page shows; generous time-outs
(a passing test never waits them out); the server's port and the kernels' channels are
chosen so nothing else can take them between choice and use (``LabServer``).

References: JupyterLab's DOM classes (jp-Notebook, jp-InputPrompt, jp-OutputArea-output),
ipywidgets' (widget-slider, widget-button, widget-label), Playwright's sync API.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, NoReturn

from waiting import scaled, wait_until

try:
    from playwright.sync_api import Error as PlaywrightError  # TimeoutError is a subclass
except ImportError:  # the tests skip (or fail in CI) before anything here runs
    PlaywrightError = Exception  # type: ignore[misc, assignment]

if TYPE_CHECKING:  # pragma: no cover
    from playwright.sync_api import Locator

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "INSTALL_HINT",
    "browser_required",
    "missing_browser",
    "LabServer",
    "LoadedLab",
    "NotebookPage",
    "VIEWPORT",
    "launch_chromium",
    "WAIT",
    "OPEN",
    "RUN_ALL",
]

# Time-outs in milliseconds. A passing run never waits them out; they only bound a failing one,
# so they are set for a loaded machine (two cores, one of them busy), not for an idle one,
# and scaled by LABKIT_TIMEOUT_FACTOR (tests/waiting.py) for a slower one.
WAIT = round(scaled(60) * 1000)  # for one thing to appear or change on the page after an action
OPEN = round(scaled(120) * 1000)  # JupyterLab's page, and a kernel started and idle
RUN_ALL = round(scaled(300) * 1000)  # a whole notebook; a kernel run allows 300 s per cell

# Debian's package (Playwright's own browser download does not work here); LABKIT_CHROMIUM may name another.
CHROMIUM = Path(os.environ.get("LABKIT_CHROMIUM", "/usr/bin/chromium"))
# Headless, sandbox off (containers run as root), and no traffic of Chromium's own:
# without the last four flags it tries to reach Google's services and gets refused.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # and the page's: every host name but the server's fails to resolve (see NotebookPage.blocked)
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
INSTALL_HINT = "install it with: sudo apt-get install chromium (Debian's package, /usr/bin/chromium)"

# Settings a learner could set in Settings > Settings Editor; here they keep the run quiet and offline.
LAB_SETTINGS = {
    # no "Would you like to receive news?" toast over the notebook, no request to jupyter.org
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # the copy of the notebooks is thrown away; saving it only adds disk writes
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}


def browser_required() -> bool:
    """In CI the browser tests must run: a missing browser is a failure, not a skip."""
    return any(os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")
               for name in ("LABKIT_REQUIRE_BROWSER", "CI"))


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing; install the test extras: pip install -e '.[test]'"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM}; {INSTALL_HINT}"
    return None


def launch_chromium(playwright, home: Path):
    """Debian's Chromium, headless, with a fresh profile and HOME inside the test's folder."""
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(home)}
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, env=env
    )


def current_test() -> str:
    """The running test's name (from pytest's PYTEST_CURRENT_TEST), fit for a file name."""
    node = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    name = node.rsplit("::", 1)[-1] or "browser-test"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


# --- the server


class LabServer:
    """JupyterLab on a temporary copy of ``notebooks``; use as a context manager.

    The server is always shut down on exit (terminate, wait, kill), also when start-up fails.

    No port is chosen in advance. Finding a free port by binding and closing it leaves a
    gap of seconds (a loaded machine starting JupyterLab) in which another socket may take
    it, and the kernels' five ZeroMQ ports are chosen that way by jupyter_client too, each
    gap as long as a kernel takes to start; Chromium's own connections draw their local
    ports from the same range. So the server binds port 0 and reports the port the system
    gave it (in its jpserver-<pid>.json), and the kernels talk to the server over Unix
    sockets in a private folder (``KernelManager.transport=ipc``), which nothing else can take.
    """

    def __init__(self, notebooks: Path, workdir: Path, *, python: str = sys.executable, timeout: float = 180):
        self.source = notebooks
        self.workdir = workdir
        self.python = python
        self.timeout = timeout
        self.root = workdir / "notebooks"
        self.log_path = workdir / "jupyterlab.log"
        self.home = workdir / "home"
        self.token = secrets.token_hex(24)
        self.port = 0  # known once the server has bound it
        self.process: subprocess.Popen | None = None
        # The kernels' sockets live here; a Unix socket's path must stay under 108 bytes,
        # so this is a short folder of its own rather than one inside pytest's deep tmp_path.
        self.runtime = Path(tempfile.mkdtemp(prefix="labkit-jr-"))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str) -> str:
        # reset: start from an empty workspace, not the tabs the previous test left open
        return f"{self.base_url}/lab/tree/{name}?reset&token={self.token}"

    def __enter__(self) -> "LabServer":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _environment(self) -> dict[str, str]:
        dirs = {
            "HOME": self.home,
            "JUPYTER_CONFIG_DIR": self.workdir / "jupyter-config",
            "JUPYTER_DATA_DIR": self.workdir / "jupyter-data",
            "JUPYTER_RUNTIME_DIR": self.runtime,
            "IPYTHONDIR": self.workdir / "ipython",
            "MPLCONFIGDIR": self.workdir / "matplotlib",
        }
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        settings = dirs["JUPYTER_CONFIG_DIR"] / "lab" / "user-settings"
        for plugin, values in LAB_SETTINGS.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), "utf-8")
        env = {**os.environ, **{key: str(value) for key, value in dirs.items()}}
        env.pop("JUPYTER_TOKEN", None)  # ours is on the command line
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self) -> None:
        shutil.copytree(self.source, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        env = self._environment()
        # jupyter_server itself finds port 0's port and binds it a moment later, at the start of
        # its event loop; should another socket take it in that moment, it exits saying so: start again.
        for attempt in range(3):
            self.port = 0
            for stale in self.runtime.glob("jpserver-*.json"):
                stale.unlink()
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    self._command(), cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            try:
                self._wait_ready()
                return
            except RuntimeError:
                if attempt == 2 or "no available port could be found" not in self.log_tail():
                    raise
                self.process = None

    def _command(self) -> list[str]:
        command = [
            self.python, "-m", "jupyter", "lab",
            "--no-browser",
            "--ServerApp.open_browser=False",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port=0",  # the system picks a free one; _wait_ready reads which
            "--ServerApp.port_retries=0",
            "--KernelManager.transport=ipc",  # kernel channels on Unix sockets: no port to lose
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: NotebookPage reads the cells' state
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root
            command.append("--ServerApp.allow_root=True")
        return command

    def _server_port(self) -> int:
        """The port in the server's jpserver-<pid>.json (0 until it has written one)."""
        for info in self.runtime.glob("jpserver-*.json"):
            try:
                return int(json.loads(info.read_text("utf-8"))["port"])
            except (OSError, ValueError, KeyError):  # being written: look again
                pass
        return 0

    def _wait_ready(self) -> None:
        """Until the server has said its port and answers /api/status with the token; fails if it dies or runs out of time."""
        def what() -> str:
            where = f"/api/status on port {self.port}" if self.port else "with its port (no jpserver-*.json)"
            return f"JupyterLab to answer {where}:\n{self.log_tail()}"

        wait_until(self._answers, timeout=self.timeout, interval=0.25, what=what)

    def _answers(self) -> bool:
        """One look at the server: its port once it has written it, then /api/status; raises if it has exited."""
        if self.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
        if not self.port:
            self.port = self._server_port()
        if not self.port:
            return False
        request = urllib.request.Request(f"{self.base_url}/api/status", headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def _api(self, method: str, path: str):
        request = urllib.request.Request(f"{self.base_url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self, path: str | None = None) -> None:
        """End every notebook session and its kernel (or only those of the notebook at ``path``), so the
        next test has the CPU to itself."""
        for session in self._api("GET", "sessions"):
            if path is None or session.get("path") == path:
                self._api("DELETE", f"sessions/{session['id']}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM: jupyter_server shuts its kernels down and exits
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(self.runtime, ignore_errors=True)


def write_notebook(path: Path, title: str, cells: list) -> None:
    """A notebook for a browser test: a "# title" cell, then ``cells`` (a code string each, or an nbformat
    cell), on the python3 kernel JupyterLab starts without asking."""
    import nbformat

    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {title}")]
    notebook.cells += [nbformat.v4.new_code_cell(c) if isinstance(c, str) else c for c in cells]
    nbformat.write(notebook, path)


# --- the page

VIEWPORT = {"width": 1280, "height": 1000}  # the harness's usual window: a laptop's, with room for the output


class LoadedLab:
    """One server's JupyterLab, kept loaded in one page from test to test.

    Loading JupyterLab's page costs Chromium about 7 s of CPU (7.4-10 s per load in a fresh
    context, measured with this harness on 00-welcome; no less in a reused context), and
    opening a notebook in the loaded app under 1 s. So the tests of one server open their
    notebooks in the app already loaded, as a learner opens a second notebook. Between
    tests the test's notebook is closed unsaved and its kernel shut down, and the page's
    error records start afresh (each test gets its own :class:`NotebookPage`); a notebook
    another fixture holds open stays open. After a test that failed, or a reset that finds
    a dialog open, the page is closed and the next test loads JupyterLab afresh.
    """

    # Close the test's notebook without saving (a learner's edits are thrown away, so no dialog asks),
    # shutting its kernel down first; say whether the page is clean: no dialog open. The layout stays as
    # a fresh load shows it (the file browser open), which docmanager:open keeps.
    RESET = """async (path) => {
        const app = window.jupyterapp;
        if (!app) return false;
        for (const widget of [...app.shell.widgets("main")]) {
            if (!widget.context || widget.context.path !== path) continue;
            if (widget.sessionContext) await widget.sessionContext.shutdown();
            widget.context.model.dirty = false;
            widget.dispose();
        }
        return document.querySelector(".jp-Dialog") === null;
    }"""

    def __init__(self, browser, server: LabServer, artifacts: Path):
        self.browser = browser
        self.server = server
        self.artifacts = artifacts
        self.page = None

    def open(self, name: str, test: str, viewport: dict = VIEWPORT) -> NotebookPage:
        """``name`` open in JupyterLab, its kernel idle, the window ``viewport`` in size."""
        if self.page is None:
            context = self.browser.new_context(viewport=viewport)
            context.set_default_timeout(WAIT)
            self.page = context.new_page()
            notebook = NotebookPage(self.page, self.server, name, self.artifacts, test=test)
            notebook.open()
        else:
            self.page.set_viewport_size(viewport)
            notebook = NotebookPage(self.page, self.server, name, self.artifacts, test=test)
            notebook.open_in_app()
        return notebook

    def release(self, notebook: NotebookPage, *, failed: bool) -> None:
        """The test is over: keep the page for the next one, emptied, unless something went wrong."""
        notebook.detach()
        if self.page is not None and not failed:
            try:
                clean = self.page.evaluate(self.RESET, notebook.name)
            except PlaywrightError:
                clean = False
            if not clean:
                self.close()
        else:
            self.close()
        self.server.shutdown_kernels(notebook.name)

    def close(self) -> None:
        page, self.page = self.page, None
        if page is not None:
            page.context.close()

    @contextlib.contextmanager
    def notebooks_for(self, test: str, failed: Callable[[], bool],
                      run_all: Callable[["NotebookPage"], None]) -> Iterator[Callable[[str], "NotebookPage"]]:
        """A test's ``run(name)``: open the notebook, then ``run_all`` it. On leaving, every notebook the test
        opened is released (the page closed if ``failed()`` says the test failed)."""
        import pytest

        opened: list[NotebookPage] = []

        def run(name: str) -> NotebookPage:
            if not (self.server.root / name).exists():
                pytest.fail(f"notebooks/{name} does not exist", pytrace=False)
            opened.append(self.open(name, test))
            run_all(opened[-1])
            return opened[-1]

        try:
            yield run
        finally:
            for notebook in opened:
                self.release(notebook, failed=failed())


class NotebookPage:
    """One notebook open in JupyterLab, driven as a learner would.

    It records the page's console errors and uncaught exceptions. Every wait and every
    action (``click``, ``fill``, ``type_text``, ``select``, or any Playwright call inside
    ``with page.step(what):``) goes through ``fail`` when it runs out or breaks, which names
    the test, the notebook and the condition, saves a screenshot named after the test and
    lists those errors and any traceback shown in the notebook.
    """

    PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    PROMPTS = f"{PANEL} .jp-CodeCell .jp-InputPrompt"
    KERNEL_STATUS = "#jp-main-statusbar [title^='Change kernel']"  # "Python 3 (ipykernel) | Idle"

    def __init__(self, page, server: LabServer, name: str, artifacts: Path, test: str | None = None):
        self.page = page
        self.server = server
        self.name = name
        self.artifacts = artifacts
        self.test = test or current_test()  # names the failure message and the screenshots
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.blocked: list[str] = []  # requests that tried to leave the machine
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("requestfailed", self._on_request_failed)

    def detach(self) -> None:
        """Stop recording the page's errors: the page goes on to another test (LoadedLab)."""
        self.page.remove_listener("console", self._on_console)
        self.page.remove_listener("pageerror", self._on_page_error)
        self.page.remove_listener("requestfailed", self._on_request_failed)

    def _on_page_error(self, error) -> None:
        self.errors.append(f"uncaught: {error}")

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.errors.append(message.text)
        elif message.type == "warning" and "terminals" not in message.text:  # we turned terminals off
            self.warnings.append(message.text)

    def _on_request_failed(self, request) -> None:
        if not request.url.startswith(self.server.base_url):
            self.blocked.append(request.url)

    @property
    def notebook(self):
        return self.page.locator(f"{self.PANEL} .jp-Notebook")

    # --- opening and running

    def open(self, timeout: float = OPEN) -> None:
        """Open the notebook's URL and wait for its kernel."""
        with self.step("loading JupyterLab's page"):
            self.page.goto(self.server.notebook_url(self.name), timeout=timeout)
        self.wait_visible(self.notebook.locator(".jp-Cell").first, "the notebook's first cell", timeout)
        self.wait_kernel_idle(timeout)

    def open_in_app(self, timeout: float = OPEN) -> None:
        """Open the notebook in the JupyterLab app this page already shows (File > Open, as a learner
        opens a second notebook) and wait for its kernel."""
        with self.step("opening the notebook in the loaded JupyterLab"):
            self.page.evaluate("async (path) => { await window.jupyterapp.commands.execute('docmanager:open', {path}); }",
                               self.name)
        self.wait_visible(self.notebook.locator(".jp-Cell").first, "the notebook's first cell", timeout)
        self.wait_kernel_idle(timeout)

    def wait_kernel_idle(self, timeout: float = OPEN) -> None:
        """Until the status bar reads '<kernel> | Idle'.

        Not the toolbar's circle: it says idle before the kernel exists, and a Run All
        clicked then asks the learner to select a kernel.
        """
        script = """(selector) => {
            const item = document.querySelector(selector);
            return item !== null && /\\| Idle$/.test(item.textContent) && !item.textContent.startsWith("No Kernel");
        }"""
        self._wait_function(script, self.KERNEL_STATUS, "the kernel to be idle", timeout)

    # Each code cell of the open notebook as [execution count, execution state], read from the
    # notebook's model (the server exposes the app as window.jupyterapp); null if it is not open yet.
    # Not from the prompts on the page: a cell whose source is hidden (the exercises' check
    # cells) shows an empty placeholder prompt, neither its count nor the [*] of a queued cell.
    CODE_CELLS = """(name) => {
        const app = window.jupyterapp;
        if (!app) return "no app";
        for (const panel of app.shell.widgets("main")) {
            if (panel.context && panel.context.path === name && panel.content && panel.content.model) {
                return [...panel.content.model.cells].filter(c => c.type === "code")
                    .map(c => [c.executionCount, c.executionState || "idle"]);
            }
        }
        return null;
    }"""

    def code_cells(self) -> list[tuple[int | None, str]]:
        """Each code cell's execution count (None if it has not run) and state ("running" while queued or running)."""
        with self.step("reading the notebook's cells"):
            cells = self.page.evaluate(self.CODE_CELLS, self.name)
        if not isinstance(cells, list):
            self.fail(f"cannot read the notebook's cells ({cells}): is the server run with "
                      "--LabApp.expose_app_in_browser=True?")
        return [(count, state) for count, state in cells]

    def run_all(self, timeout: float = RUN_ALL) -> None:
        """Run > Run All Cells; wait until the run is over and check that every code cell ran."""
        self.click(self.page.get_by_role("menuitem", name="Run", exact=True), "the Run menu")
        self.click(self.page.get_by_role("menuitem", name="Run All Cells", exact=True), "Run > Run All Cells")
        # Over when no code cell is queued or running and the kernel is idle: then either every
        # code cell has its execution count, or one raised and Run All stopped there.
        script = f"""([name, status]) => {{
            const cells = ({self.CODE_CELLS})(name);
            const kernel = document.querySelector(status);
            return Array.isArray(cells) && cells.some(c => c[0] !== null) && !cells.some(c => c[1] === "running")
                && kernel !== null && /\\| Idle$/.test(kernel.textContent);
        }}"""
        self._wait_function(script, [self.name, self.KERNEL_STATUS], "Run All Cells to finish", timeout)
        cells = self.code_cells()
        not_run = [n for n, (count, _) in enumerate(cells, start=1) if count is None]
        if not_run:
            self.fail(f"Run All Cells stopped early: code cells {not_run} of {len(cells)} did not run")

    # --- finding and waiting

    def widget(self, css_class: str) -> "Locator":
        """A labkit widget by the class its module gives it (e.g. ``labkit-contract-builder``)."""
        return self.notebook.locator(f".{css_class}")

    def output_with(self, inner) -> "Locator":
        """The cell output that contains ``inner`` (a locator), e.g. the one holding a widget's button."""
        return self.notebook.locator(".jp-OutputArea-output").filter(has=inner)

    def button(self, label: str, scope=None):
        """The widget button labelled ``label``.

        By its text, not its role: a button with an icon has the icon's glyph in its
        accessible name, and a role selector skips cells scrolled out of view.
        """
        pattern = re.compile(rf"^\s*{re.escape(label)}\s*$")
        return (scope or self.page).locator("button.jupyter-button", has_text=pattern)

    def widget_with_button(self, label: str):
        """The cell output holding the widget button labelled ``label``."""
        return self.output_with(self.button(label))

    def wait_visible(self, locator, what: str, timeout: float = WAIT):
        """``locator`` once attached, scrolled to and visible; fails naming ``what`` if it does not appear in time.

        Cells far from the viewport are not laid out (JupyterLab's content-visibility
        windowing), so their widgets count as hidden, even to role selectors, until
        scrolled to, as a learner would.
        """
        deadline = time.monotonic() + timeout / 1000
        failure: BaseException | None = None
        while time.monotonic() < deadline:
            left = max(1, round((deadline - time.monotonic()) * 1000))
            try:
                locator.first.wait_for(state="attached", timeout=left)
                locator.first.scroll_into_view_if_needed(timeout=left)
                locator.first.wait_for(state="visible", timeout=min(left, 5_000))
                return locator
            except PlaywrightError as error:  # e.g. re-rendered (detached) while we scrolled: try again
                failure = error
        self.fail(f"{what} did not appear within {timeout / 1000:.0f} s", failure)

    def wait_text(self, locator, pattern: str, what: str, timeout: float = WAIT) -> str:
        """Wait until ``locator``'s text matches the regular expression ``pattern`` (``.`` matches newlines too)."""
        from playwright.sync_api import expect

        try:
            expect(locator).to_have_text(re.compile(pattern, re.DOTALL), timeout=timeout)
            return locator.text_content(timeout=timeout)
        except (AssertionError, PlaywrightError) as error:
            failure = error
        self.fail(f"{what}: its text did not match {pattern!r} within {timeout / 1000:.0f} s", failure)

    def wait_class(self, locator, css_class: str, what: str, timeout: float = WAIT) -> None:
        """Wait until ``locator`` (one element) has the class ``css_class``."""
        from playwright.sync_api import expect

        try:
            expect(locator).to_have_class(re.compile(rf"(^|\s){re.escape(css_class)}(\s|$)"), timeout=timeout)
            return
        except (AssertionError, PlaywrightError) as error:
            failure = error
        self.fail(f"{what}: did not get the class {css_class!r} within {timeout / 1000:.0f} s", failure)

    def wait_count(self, locator, count: int, what: str, timeout: float = WAIT) -> None:
        """Wait until ``locator`` matches exactly ``count`` elements."""
        from playwright.sync_api import expect

        try:
            expect(locator).to_have_count(count, timeout=timeout)
            return
        except (AssertionError, PlaywrightError) as error:
            failure = error
        self.fail(f"{what}: waited {timeout / 1000:.0f} s for {count} of them", failure)

    # --- acting

    @contextlib.contextmanager
    def step(self, what: str):
        """Playwright calls inside fail like a wait does: naming ``what``, with a screenshot."""
        try:
            yield
        except PlaywrightError as error:
            self.fail(f"{what} failed", error)

    def click(self, locator, what: str, timeout: float = WAIT) -> None:
        """Click the first element ``locator`` matches, once it is visible (scrolled to as a learner would)."""
        self.wait_visible(locator, what, timeout)
        with self.step(f"clicking {what}"):
            locator.first.click(timeout=timeout)

    def fill(self, locator, text: str, what: str, timeout: float = WAIT) -> None:
        """Replace the text of an input or text area (one input event, as a paste would)."""
        self.wait_visible(locator, what, timeout)
        with self.step(f"filling in {what}"):
            locator.first.fill(text, timeout=timeout)

    def type_text(self, locator, text: str, what: str, *, at: str | None = None, timeout: float = WAIT) -> None:
        """Type ``text`` key by key into an input or text area, with the caret before ``at`` (default: at the end)."""
        self.wait_visible(locator, what, timeout)
        with self.step(f"typing into {what}"):
            value = locator.first.input_value(timeout=timeout)
            where = len(value) if at is None else value.find(at)
            if where < 0:
                self.fail(f"{what} does not contain {at!r} to type before: {value!r}")
            locator.first.evaluate("(el, at) => { el.focus(); el.setSelectionRange(at, at); }", where)
            locator.first.press_sequentially(text, delay=30, timeout=timeout)

    def select(self, locator, option: str, what: str, timeout: float = WAIT) -> None:
        """Choose ``option`` in a drop-down."""
        self.wait_visible(locator, what, timeout)
        with self.step(f"choosing {option!r} in {what}"):
            locator.first.select_option(option, timeout=timeout)

    def check(self, condition: bool, message: str) -> None:
        """An assertion that fails like a wait does: with a screenshot and the console errors."""
        if not condition:
            self.fail(message)

    def finish(self, show=None) -> Path:
        """The screenshot after the interaction (``show`` scrolled into view); fails on console errors
        and on requests that tried to leave the machine."""
        with self.step("taking the screenshot after the interaction"):
            path = self.screenshot("after", show=show)
        if self.errors:
            self.fail(f"the page logged {len(self.errors)} error(s) to the browser console")
        if self.blocked:  # the workbook must work offline: no CDN, no web fonts, no phoning home
            self.fail(f"the page tried to reach {len(self.blocked)} URL(s) outside the server")
        return path

    def _wait_function(self, script: str, arg, what: str, timeout: float) -> None:
        try:
            self.page.wait_for_function(script, arg=arg, timeout=timeout, polling=100)
            return
        except PlaywrightError as error:
            failure = error
        self.fail(f"waited {timeout / 1000:.0f} s for {what}", failure)

    # --- evidence

    def screenshot(self, label: str, show=None) -> Path:
        """A PNG of the page in test-artifacts/, named after the test; ``show`` is scrolled into view first."""
        if show is not None:
            show.first.scroll_into_view_if_needed()
        self.artifacts.mkdir(parents=True, exist_ok=True)
        path = self.artifacts / f"{self.test}-{label}.png"
        self.page.screenshot(path=str(path))
        return path

    def tracebacks(self) -> list[str]:
        """Error outputs shown in the notebook (each cut to its last lines)."""
        outputs = self.notebook.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        return ["\n".join(text.splitlines()[-12:]) for text in outputs.all_text_contents()]  # innerText is "" off screen

    def fail(self, message: str, error: BaseException | None = None) -> NoReturn:
        """Fail the test with ``message``, a screenshot, the console errors and the notebook's tracebacks."""
        import pytest

        details = [f"{self.test} ({self.name}): {message}"]
        if error is not None:
            details.append(f"  ({str(error).splitlines()[0]})")
        try:
            details.append(f"screenshot: {self.screenshot('failure')}")
            tracebacks = self.tracebacks()
            dialogs = self.page.locator(".jp-Dialog").all_inner_texts()
        except PlaywrightError as shot_error:  # the page itself may be gone
            details.append(f"no screenshot: {str(shot_error).splitlines()[0]}")
            tracebacks, dialogs = [], []
        details.append("browser console errors:" + "".join(f"\n  {e}" for e in self.errors[-20:]) if self.errors
                       else "browser console errors: none")
        if self.warnings:
            details.append("browser console warnings:" + "".join(f"\n  {w}" for w in self.warnings[-10:]))
        if self.blocked:
            details.append("requests to other hosts (blocked): " + ", ".join(self.blocked[:10]))
        if dialogs:
            details.append("open dialog: " + " | ".join(" ".join(d.split()) for d in dialogs))
        if tracebacks:
            details.append("errors shown in the notebook:\n" + "\n---\n".join(tracebacks))
        pytest.fail("\n".join(details), pytrace=False)
