"""Take docs/console.png: the operator console over a ledger the sandbox fed, in headless Chromium.

Run from the repository root: ``.venv/bin/python scripts/console_screenshot.py``. It starts the
sandbox and ``serve`` on free loopback ports in a temporary MSGRELAY_HOME, relays two generations to
the store and to a CRM that is down (dead letters), records a hook error, leaves one generation
waiting for its webhook, signs in and saves the page.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import chrome  # noqa: E402
from tests.helpers import Recorder, wait_until  # noqa: E402
from tests.serving import TOKEN, serving  # noqa: E402
from tests.web.test_steps_api import generate_inputs, post  # noqa: E402

from msgrelay.plugins import PluginManager, hookimpl  # noqa: E402
from msgrelay.sandbox import Sandbox  # noqa: E402

LEADS = [
    {"external_prospect_id": f"crm-{i}", "linkedin": f"https://www.linkedin.com/in/{name}/",
     "first_name": name.title(), "lead_company": company}
    for i, (name, company) in enumerate([("ada", "Example Labs"), ("grace", "Compiler Works"),
                                         ("alan", "Turing Ltd")], 1)
]  # fmt: skip


class Grumpy:
    """A plugin whose hook raises, so the page has a hook error to show."""

    @hookimpl
    def on_generation_complete(self, result: object, context: object) -> None:
        raise RuntimeError("enrichment service answered 503")


def main() -> None:
    out = ROOT / "docs" / "console.png"
    out.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as home, pytest.MonkeyPatch.context() as mp, Sandbox() as sandbox:
        mp.setenv("MSGRELAY_HOME", home)
        plugins = PluginManager(environ={}, entry_points=False).load()
        plugins.register(Recorder(name="crm", fail_times=-1), name="crm")
        plugins.register(Grumpy(), name="enrichment")
        with serving(mp, sandbox, plugins, destinations=("store", "crm")) as served:
            sids = []
            for leads in (LEADS[:2], LEADS[2:]):
                inputs = {**generate_inputs(served), "leads": leads}
                sids.append(post(served, "generate", inputs).json()["secure_request_id"])
            for sid, count in zip(sids, (2, 1), strict=True):
                want = {"delivered": count, "dead": count}
                wait_until(lambda s=sid, w=want: served.ledger.batch_counts("upscale", s) == w)
            # A generation whose webhook cannot reach us: it waits on the page.
            lost = {**generate_inputs(served), "leads": LEADS[:1], "campaign_id": "k2",
                    "notify_url": "http://127.0.0.1:9/webhooks/upscale"}  # fmt: skip
            post(served, "generate", lost)
            with chrome(width=1280, height=1100) as driver:
                driver.get(served.url + "/")
                driver.find_element("id", "token").send_keys(TOKEN)
                driver.find_element("id", "sign-in").click()
                driver.find_element("id", "dead-letters")
                driver.save_screenshot(str(out))
    print(out)


if __name__ == "__main__":
    main()
