"""``msgrelay.testing``, the pytest plugin for plugin authors, as a plugin author's suite uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONFTEST = """
import pytest
from msgrelay.plugins import PluginManager

MANAGER = PluginManager(environ={}, entry_points=False).load()

@pytest.fixture
def msgrelay_plugins():
    # A host-wide manager that outlives each test: what register_plugin must clean up.
    return MANAGER
"""

TESTS = """
from msgrelay.plugins import hookspecs
from conftest import MANAGER

class Tagger:
    @hookspecs.hookimpl
    def transform_lead(self, lead):
        return None

    @hookspecs.hookimpl
    def register_destinations(self, register):
        register("tagger", lambda delivery: None)

def test_a_failing_test_that_registered_a_plugin(register_plugin):
    register_plugin(Tagger(), name="tagger")
    assert MANAGER.get_plugin("tagger") is not None
    raise AssertionError("this test fails on purpose")

def test_the_plugin_is_gone_afterwards():
    assert MANAGER.get_plugin("tagger") is None
    assert "tagger" not in MANAGER.destinations

def test_the_harness_relays_through_a_registered_plugin(msgrelay_harness, register_plugin, hook_recorder):
    register_plugin(Tagger(), name="tagger")
    report = msgrelay_harness.generate(leads=2, destinations=["tagger", "store"])
    assert report.delivered == 4
    assert len(hook_recorder.of("transform_lead", plugin="tagger")) == 2
    assert msgrelay_harness.store.summary()["leads"] == 2
"""


def test_the_fixtures_work_for_a_plugin_authors_suite(tmp_path: Path) -> None:
    """Loaded through the pytest11 entry point: register_plugin unregisters even after a failure,
    and the harness relays through the registered plugin."""
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_plugin.py").write_text(TESTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "1 failed, 2 passed" in result.stdout, result.stdout + result.stderr
    assert "this test fails on purpose" in result.stdout


ISOLATION_TEST = """
import os

def test_no_exported_setting_reaches_the_test(msgrelay_home):
    assert os.environ["MSGRELAY_HOME"] == str(msgrelay_home)
    leaked = sorted(k for k in os.environ if k.startswith(("UPSCALE_", "COLLECT_", "MSGRELAY_")))
    assert leaked == ["MSGRELAY_HOME"], leaked
"""


def test_msgrelay_home_keeps_the_authors_shell_settings_out(tmp_path: Path) -> None:
    """A plugin author with real keys and destinations exported runs tests that cannot see them."""
    (tmp_path / "test_isolation.py").write_text(ISOLATION_TEST)
    env = {
        **os.environ,
        "UPSCALE_API_KEY": "live-key-that-must-not-leak",
        "COLLECT_BASE_URL": "https://api.usecollect.com/v1",
        "MSGRELAY_DESTINATIONS": "hubspot",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert "1 passed" in result.stdout, result.stdout + result.stderr
