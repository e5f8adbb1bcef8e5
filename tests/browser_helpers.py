"""A real browser for tests: Debian's headless Chromium and its driver, driven by selenium
(``browser`` fixture, one per test module)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service

from tests.conftest import require_tool


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return require_tool("chromium")


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = _chromium()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1300,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(require_tool("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def attr(driver: webdriver.Chrome, element_id: str, name: str) -> str | None:
    """An element's attribute, or None while it is missing or being redrawn."""
    try:
        return driver.find_element("id", element_id).get_attribute(name)
    except (NoSuchElementException, StaleElementReferenceException):
        return None
