"""Fixtures: a real Jupyter server (pytest-jupyter) with the WPS extension loaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]
# shared helper modules whose asserts should explain themselves (browser is a plugin too)
pytest.register_assert_rewrite("browser", "live", "cluster")

TESTS = Path(__file__).parent
# launchers (subprocesses) import the test processes from here, as a site's own modules
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p
)


@pytest.fixture
def wps_workdir(tmp_path):
    path = tmp_path / "wps-work"
    path.mkdir()
    return path


@pytest.fixture
def wps_settings():
    """Extra WPSExtensionApp settings for a test (override in the test module)."""
    return {}


@pytest.fixture
def jp_server_config(wps_workdir, wps_settings):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_wps": True}},
        "WPSExtensionApp": {"config_file": "", "workdir": str(wps_workdir), **wps_settings},
    }
