"""Browser tests: a real JupyterLab (a live server subprocess) driven in Debian's Chromium.

Use it from a test module with::

    pytestmark = pytest.mark.browser
    pytest_plugins = ["browser"]

    def test_something(lab):          # a page logged in to a fresh JupyterLab
        lab.open()                     # /lab, ready
        lab.open_notebook("a.ipynb")   # a notebook of lab.server.root, kernel idle
        lab.run_all_cells()
        lab.wait_kernel_idle()

Fixtures:

- ``lab_server``: a :class:`LabServer` (module scope): ``jupyter server`` with the WPS and
  JupyterLab extensions, a token, a free port, a temporary root with its own pywps.cfg and
  workdir, JupyterLab settings and workspaces, and no news or update checks.
- ``browser``: Chromium (one per test): ``/usr/bin/chromium`` (or ``$CHROMIUM``), headless.
- ``page``: a fresh browser context and page; its console is kept (``page.console_lines``).
- ``lab``: a :class:`Lab` on ``page`` and ``lab_server``.

Without Chromium or Playwright the tests skip, except under ``CI=true``, where they fail:
CI must run them (scripts/test.sh installs Debian's chromium; playwright is in the test
extra; ``playwright install`` is never used).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from live import LiveServer, wait_until

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-gpu",
]
#: JupyterLab plugins that reach the internet or pop up toasts over what a test clicks
DISABLED_PLUGINS = (
    "@jupyterlab/apputils-extension:announcements",
    "@jupyterlab/apputils-extension:notification",
)


def unavailable(reason: str) -> None:
    """Skip a browser test that cannot run here; under CI=true, fail it instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


class LabServer(LiveServer):
    """A live Jupyter server that serves JupyterLab too, isolated from the user's settings.

    jupyterlab is a server extension (enabled when it is installed), so the server started
    by LiveServer serves ``/lab``; the environment gives it its own configuration
    directory (no news, no update check, no announcements) and JupyterLab settings and
    workspaces of its own.
    """

    def __init__(self, root: Path, config_text: str = "", **kwargs) -> None:
        root = Path(root)
        config_dir = root / ".jupyter"
        env = {
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(root / ".lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(root / ".lab-workspaces"),
            **kwargs.pop("env", {}),
        }
        super().__init__(root, config_text, env=env, **kwargs)
        (config_dir / "labconfig").mkdir(parents=True, exist_ok=True)
        (config_dir / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "LabApp": {
                        "news_url": None,
                        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                    },
                    "ServerApp": {"open_browser": False},
                }
            )
        )
        (config_dir / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {name: True for name in DISABLED_PLUGINS}})
        )

    def start(self, timeout: float = 90) -> LabServer:
        super().start(timeout)
        wait_until(
            lambda: requests.get(f"{self.url}lab", headers=self.headers, timeout=5).ok,
            timeout,
            interval=0.2,
            what="JupyterLab at /lab",
        )
        return self

    def last_activity(self) -> str:
        """The server's ``last_activity`` (``GET /api/status``, which itself does not count)."""
        reply = requests.get(f"{self.url}api/status", headers=self.headers, timeout=10)
        reply.raise_for_status()
        return reply.json()["last_activity"]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory) -> Iterator[LabServer]:
    if importlib.util.find_spec("jupyterlab") is None:
        unavailable("jupyterlab is not installed (pip install -e '.[test]')")
    server = LabServer(tmp_path_factory.mktemp("lab"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def browser():
    # one per test: while Playwright's sync API is up its loop counts as running, and
    # pytest-jupyter's autouse jp_asyncio_loop must be set up and closed outside it
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, request, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.console_lines = []
    page.on("console", lambda msg: page.console_lines.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda exc: page.console_lines.append(f"pageerror: {exc}"))
    try:
        yield page
    finally:
        # for a failing test: what the page showed and said
        try:
            shot = tmp_path / f"{request.node.name}.png"
            page.screenshot(path=str(shot))
            print(f"screenshot: {shot}")
        except Exception as exc:  # the page may be gone
            print(f"no screenshot: {exc}")
        print("browser console:\n" + "\n".join(page.console_lines[-50:]))
        context.close()


@pytest.fixture
def lab(page, lab_server) -> Lab:
    return Lab(page, lab_server)


class Lab:
    """JupyterLab in a page: logging in, waiting for it, notebooks, commands."""

    def __init__(self, page, server: LabServer) -> None:
        self.page = page
        self.server = server
        #: (monotonic time, method, URL) of every request the page sent to the server
        self.requests: list[tuple[float, str, str]] = []
        origin = urlsplit(server.url).netloc
        page.on(
            "request",
            lambda r: (
                urlsplit(r.url).netloc == origin
                and self.requests.append((time.monotonic(), r.method, r.url))
            ),
        )

    def url(self, path: str = "lab") -> str:
        return f"{self.server.url}{path}"

    def open(self, path: str = "lab") -> Lab:
        """Open a JupyterLab URL (``lab``, ``lab/tree/x.ipynb``) logged in, and wait for it."""
        separator = "&" if "?" in path else "?"
        self.page.goto(f"{self.url(path)}{separator}token={self.server.token}")
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """The shell is up and the splash screen gone."""
        self.page.wait_for_selector("#jp-main-dock-panel", timeout=timeout * 1000)
        self.page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=timeout * 1000)

    def command(self, label: str, attempts: int = 3) -> None:
        """Run a command by its label through the command palette (Ctrl+Shift+C)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        page = self.page
        palette = page.locator(".lm-CommandPalette-input")
        item = page.locator(
            ".lm-CommandPalette-item",
            has=page.locator(
                ".lm-CommandPalette-itemLabel", has_text=re.compile(f"^{re.escape(label)}$")
            ),
        ).first
        for _ in range(attempts):
            page.locator("#jp-main-dock-panel").click(position={"x": 5, "y": 5})
            page.keyboard.press("Control+Shift+C")
            try:
                # a busy app may miss the shortcut; the list re-renders whenever commands
                # change (often while the app starts)
                palette.wait_for(state="visible", timeout=5000)
                palette.fill(label)
                item.click(timeout=5000)
                palette.wait_for(state="hidden", timeout=5000)
                return
            except PlaywrightTimeout:
                page.keyboard.press("Escape")
        raise AssertionError(f"could not run the command {label!r} from the palette")

    def open_notebook(self, path: str, kernel_timeout: float = 60) -> None:
        """Open a notebook of the server's root (``/lab/tree/<path>``), its kernel idle."""
        self.open(f"lab/tree/{path}")
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        self.wait_kernel_idle(kernel_timeout)

    def cells(self):
        return self.page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")

    def run_cell(self, index: int) -> None:
        """Run one cell: click into it and press Shift+Enter."""
        cell = self.cells().nth(index)
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Shift+Enter")

    def run_all_cells(self) -> None:
        """Run > Run All Cells, from the menu bar."""
        self.page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Run").first.click()
        self.page.locator(".lm-Menu-item:visible", has_text="Run All Cells").first.click()

    def kernel(self) -> tuple[str, str] | None:
        """The current notebook's kernel and its status, from the status bar
        (``("Python 3 (ipykernel)", "idle")``; ``("No Kernel", ...)`` before one starts)."""
        texts = self.page.locator("#jp-main-statusbar .jp-StatusBar-TextItem").all_inner_texts()
        for text in texts:
            match = re.fullmatch(r"(.+?) \| (\w[\w ]*)", text.strip())
            if match:
                return match[1], match[2].lower()
        return None

    def wait_kernel_idle(self, timeout: float = 60) -> None:
        """A kernel is running, idle, and no cell is queued or running (no ``[*]`` prompt)."""

        def idle() -> bool:
            kernel = self.kernel()
            if kernel is None or kernel[0] == "No Kernel" or kernel[1] != "idle":
                return False
            prompts = self.page.locator(".jp-NotebookPanel:visible .jp-InputPrompt")
            return "[*]" not in " ".join(prompts.all_inner_texts())

        wait_until(idle, timeout, interval=0.2, what="the kernel to be idle")

    def untrack_jupyterlab_activity(self) -> None:
        """From now on JupyterLab's own API calls do not count as activity on the server.

        They get ``no_track_activity=1`` (jupyter_server's own switch); the WPS API
        (``/wps/api/``) is left alone, so a change of the server's ``last_activity`` comes
        from WPS requests only.
        """

        def handle(route) -> None:
            url = route.request.url
            if "/wps/" in url or "no_track_activity" in url:
                route.continue_()
            else:
                separator = "&" if "?" in url else "?"
                route.continue_(url=f"{url}{separator}no_track_activity=1")

        self.page.route(re.compile(r"/(lab/)?api/"), handle)

    def wait(self, seconds: float) -> None:
        """Let time pass with the page's events handled as they come (not time.sleep:
        Playwright's sync API delivers events, such as requests, only inside its calls)."""
        self.page.wait_for_timeout(seconds * 1000)

    def count_requests(self, pattern: str, since: float, method: str = "GET") -> int:
        """How many requests whose URL matches ``pattern`` the page sent after ``since``."""
        regex = re.compile(pattern)
        return sum(
            1 for t, m, url in self.requests if t >= since and m == method and regex.search(url)
        )
