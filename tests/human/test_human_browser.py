"""The rating page in a real browser (headless Chromium, Selenium): a rater completes a session with the
keyboard on a laptop-sized window and with clicks on a phone-sized one; every screen is photographed under
the test's tmp folder (``screens/``). The page must show the image, both answers below it within the window
(no scrolling, no mouse travel), the progress, the practice feedback and the end screen; the answers stored
are the ones given.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make test`` installs them when it runs as root);
without them these tests skip with one line saying so.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gan_eval.human.store import RatingStore

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
_missing = [p for p in (CHROMIUM, DRIVER) if not os.access(p, os.X_OK)]
try:
    import selenium  # noqa: F401
except ImportError:
    _missing.append("the selenium package (pip install -e '.[dev]')")
if _missing:
    pytest.skip(
        f"browser tests need {' and '.join(_missing)}: apt-get install chromium chromium-driver "
        "(`make test` does it as root)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

LAPTOP, PHONE = (1280, 800), (390, 844)


@pytest.fixture
def browser(monkeypatch):
    """``browser(width, height)``: headless Chromium showing a window of that size (a phone size is emulated:
    Chromium's headless window is at least 500 pixels wide)."""
    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager try to download a driver
    drivers = []

    def start(width: int, height: int) -> webdriver.Chrome:
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            f"--window-size={max(width, 500)},{height}",
        ):
            opts.add_argument(arg)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or DRIVER), options=opts)
        drivers.append(driver)
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        return driver

    yield start
    for d in drivers:
        d.quit()


def _visible(driver, element_id: str) -> bool:
    return driver.find_element(By.ID, element_id).is_displayed()


def _check_layout(driver) -> None:
    """The image and both answers fit in the window, the answers right under the image, nothing scrolls."""
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    frame = driver.find_element(By.ID, "frame").rect
    for b in ("answer-real", "answer-fake"):
        r = driver.find_element(By.ID, b).rect
        assert r["y"] + r["height"] <= inner[1] and r["x"] >= 0 and r["x"] + r["width"] <= inner[0], (
            b,
            r,
            inner,
        )
        assert 0 <= r["y"] - (frame["y"] + frame["height"]) <= 40  # right under the image
    img = driver.find_element(By.ID, "image").rect
    assert img["width"] >= 196 and img["width"] % 28 == 0  # whole multiples of the 28 source pixels
    assert driver.execute_script("return document.documentElement.scrollHeight <= window.innerHeight + 1")


def _rate(driver, screens: Path, *, keyboard: bool) -> list[str]:
    """Complete a session in the open page; returns the answers given in order. Photographs each screen."""
    wait = WebDriverWait(driver, 20, poll_frequency=0.02)
    given: list[str] = []
    shot = {"practice", "feedback", "rated"}
    while True:
        wait.until(
            lambda d: (
                _visible(d, "screen-end")
                or _visible(d, "screen-between")
                or (_visible(d, "screen-trial") and d.find_element(By.ID, "answer-real").is_enabled())
            )
        )
        if _visible(driver, "screen-end"):
            return given
        if _visible(driver, "screen-between"):
            driver.save_screenshot(str(screens / "3_between.png"))
            assert (
                "100 of them count: 50 are real and 50 are fake"
                in driver.find_element(By.ID, "between-ratio").text
            )
            if keyboard:
                ActionChains(driver).send_keys(Keys.ENTER).perform()
            else:
                driver.find_element(By.ID, "between-button").click()
            wait.until(lambda d: _visible(d, "screen-trial"))
            continue
        progress = driver.find_element(By.ID, "progress-text").text
        phase = "practice" if progress.startswith("Practice") else "rated"
        if phase in shot:
            shot.discard(phase)
            _check_layout(driver)
            driver.save_screenshot(
                str(screens / ("2_practice.png" if phase == "practice" else "4_rated.png"))
            )
        src = driver.find_element(By.ID, "image").get_attribute("src")
        answer = "real" if len(given) % 3 else "fake"
        if keyboard:
            key = {"real": ("r", Keys.ARROW_LEFT), "fake": ("f", Keys.ARROW_RIGHT)}[answer][len(given) % 2]
            ActionChains(driver).send_keys(key).perform()
        else:
            driver.find_element(By.ID, f"answer-{answer}").click()
        given.append(answer)
        if phase == "practice":
            wait.until(lambda d: d.find_element(By.ID, "feedback").text)
            text = driver.find_element(By.ID, "feedback").text
            assert text.startswith(("✓ Right", "✗ Wrong"))
            if "feedback" in shot:
                shot.discard("feedback")
                driver.save_screenshot(str(screens / "2b_feedback.png"))
        wait.until(
            lambda d, src=src: (
                d.find_element(By.ID, "image").get_attribute("src") != src
                or _visible(d, "screen-end")
                or _visible(d, "screen-between")
            )
        )


@pytest.mark.slow  # 115 trials in a browser: about 40 s each on a shared 2-core machine
@pytest.mark.parametrize("how, size", [("keyboard", LAPTOP), ("clicks", PHONE)])
def test_a_rater_completes_a_session(study_factory, live_server, browser, tmp_path, how, size):
    study = study_factory(n_arms=2, name=f"study_{how}")
    base = live_server(study)
    driver = browser(*size)
    screens = tmp_path / "screens"
    screens.mkdir()
    driver.get(base + "/")
    WebDriverWait(driver, 20, poll_frequency=0.02).until(lambda d: _visible(d, "screen-start"))
    assert (
        "10" in driver.find_element(By.ID, "n-practice").text
        and driver.find_element(By.ID, "n-rated").text == "105"
    )
    driver.find_element(By.ID, "rater").send_keys(f"rater-{how}")
    driver.save_screenshot(str(screens / "1_start.png"))
    if how == "keyboard":
        ActionChains(driver).send_keys(Keys.ENTER).perform()
    else:
        driver.find_element(By.ID, "start-button").click()
    given = _rate(driver, screens, keyboard=how == "keyboard")
    driver.save_screenshot(str(screens / "5_end.png"))
    assert "All 115 answers are saved" in driver.find_element(By.ID, "end-text").text
    assert driver.find_element(By.ID, "again-button").is_displayed()  # the other arm is still to rate
    assert not driver.find_element(By.ID, "progress").is_displayed()
    rows = RatingStore(study).rows()
    assert [r["answer"] for r in rows] == given and len(given) == 115
    assert all(r["response_ms"] is not None and r["response_ms"] >= 0 for r in rows)
    assert {p.name for p in screens.iterdir()} == {
        "1_start.png", "2_practice.png", "2b_feedback.png", "3_between.png", "4_rated.png", "5_end.png"
    }  # fmt: skip
    assert all(p.stat().st_size > 2000 for p in screens.iterdir())


def test_a_reload_resumes_where_the_rater_stopped(study_factory, live_server, browser):
    """Closing the page mid-session loses nothing: the same link continues at the first unanswered trial."""
    study = study_factory(n_arms=1)
    base = live_server(study)
    driver = browser(*LAPTOP)
    driver.get(base + "/?rater=ria")
    wait = WebDriverWait(driver, 20, poll_frequency=0.02)
    wait.until(lambda d: _visible(d, "screen-start"))
    assert not driver.find_element(By.ID, "rater-label").is_displayed()  # the name came with the link
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    for _ in range(3):
        wait.until(lambda d: d.find_element(By.ID, "answer-real").is_enabled())
        src = driver.find_element(By.ID, "image").get_attribute("src")
        ActionChains(driver).send_keys("f").perform()
        wait.until(lambda d, src=src: d.find_element(By.ID, "image").get_attribute("src") != src)
    driver.get(base + "/?rater=ria")
    wait.until(lambda d: _visible(d, "screen-start"))
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait.until(lambda d: d.find_element(By.ID, "answer-real").is_enabled())
    assert driver.find_element(By.ID, "progress-text").text == "Practice 4 of 10"
    assert [r["answer"] for r in RatingStore(study).rows()][:4] == ["fake", "fake", "fake", None]
