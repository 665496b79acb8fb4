"""Headless Chromium for the console tests and the screenshot script (Debian's packages, Selenium)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMEDRIVER = "chromedriver"
CHROMIUM = "chromium"


def _missing(what: str) -> None:
    message = f"{what} is not installed: run scripts/install-test-deps (or make test)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)  # under CI a missing browser is a failure, never a skip
    pytest.skip(message)


@contextlib.contextmanager
def chrome(*, width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium session; every host but loopback resolves to nothing."""
    driver_path, browser_path = shutil.which(CHROMEDRIVER), shutil.which(CHROMIUM)
    if driver_path is None or browser_path is None:
        _missing(CHROMEDRIVER if driver_path is None else CHROMIUM)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(browser_path)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for Chromium's sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        # Tests reach only loopback: no updates, sync or metrics calls, and no name resolves elsewhere.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(driver_path)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
