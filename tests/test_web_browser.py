"""The web app end to end in a real browser (Debian's chromium driven by Playwright):
a nurse signs in, enrols a child, assesses photos, a clip and a camera capture, records
her BPS and sees the timeline; a rater scores blind; a researcher withdraws consent and
the child's images are gone. Screenshots of the main pages go to artifacts/web/.

The model is an untrained network saved as a model folder: its scores mean nothing, the
test is about the application."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from web_fixtures import PASSWORD, LiveServer, WebEnv, make_env

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A synthetic camera, allowed without a prompt: tests the getUserMedia path.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "web"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="apt-get install chromium"),
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> WebEnv:
    return make_env(tmp_path_factory.mktemp("web-e2e"), model=True, media=True)


@pytest.fixture(scope="module")
def server(env: WebEnv) -> Iterator[LiveServer]:
    live = LiveServer(env)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _page(browser: object, server: LiveServer, user: str) -> object:
    # A tablet-sized window.
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, base_url=server.url)  # type: ignore[attr-defined]
    ctx.grant_permissions(["camera"], origin=server.url)
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto("/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def _shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_nurse_rater_researcher_journey(env: WebEnv, server: LiveServer, browser: object) -> None:
    page = _page(browser, server, "nina")
    assert page.url.endswith("/children")
    assert "not a medical device" in page.content()
    _shot(page, "01-children")

    # Enrol: a 4-year-old, 3 h surgery that ended 8 h ago, guardian consent.
    page.get_by_role("link", name="Enrol a new child").click()
    page.get_by_label("Pseudonymous code").fill("W-001")
    page.get_by_label("Age (like 30m, 4y, 4y6m)").fill("4y")
    page.get_by_label("F", exact=True).check()
    page.get_by_label("Surgery", exact=True).select_option("abdominal")
    end = (datetime.now() - timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("End of surgery").fill(end)
    page.get_by_label("Duration of surgery (hours)").fill("3")
    page.get_by_label("A guardian signed the consent form").check()
    _shot(page, "02-enrol")
    page.get_by_role("button", name="Screen and enrol").click()
    assert page.url.endswith("/children/W-001")
    assert "FLACC" in page.content()

    # Two photos, uploaded.
    page.get_by_label("Time point").select_option("pain")
    page.get_by_label("Or upload 1-3 photos or one clip").set_input_files(
        [str(env.media["grace"]), str(env.media["astronaut"])]
    )
    page.get_by_role("button", name="Store and assess").click()
    page.wait_for_url("**/sessions/**")
    # Validation phase (the default): the nurse's BPS first, blind to the AI.
    assert page.locator("#ai-hidden").count() == 1 and page.locator("#result").count() == 0
    assert page.locator("img[alt^='Photo']").count() == 2
    page.get_by_label("Score you measured on FLACC (0-10)").fill("4")
    page.get_by_role("button", name="Save BPS").click()
    assert "Recorded: 4.0 on FLACC, blind to the AI" in page.locator("#bps-done").inner_text()
    result = page.locator("#result").inner_text()
    assert "on FLACC" in result and "threshold" in result and "Confidence" in result
    _shot(page, "03-result-photos")

    # A clip, uploaded.
    page.get_by_role("link", name="Child W-001").click()
    page.get_by_label("Time point").select_option("relieved")
    page.get_by_label("Or upload 1-3 photos or one clip").set_input_files(str(env.media["clip"]))
    page.get_by_role("button", name="Store and assess").click()
    page.wait_for_url("**/sessions/**")
    assert page.locator("#ai-hidden").count() == 1
    assert page.locator("video").count() == 1

    # A photo from the (synthetic) camera: no face in it, so the software abstains.
    page.get_by_role("link", name="Child W-001").click()
    page.get_by_role("button", name="Start camera").click()
    page.get_by_role("button", name="Take photo (up to 3)").click()
    # The captured photo is shown (and put in the form's file input); no string eval
    # here: the app's Content Security Policy forbids it.
    page.locator("#shots img").first.wait_for()
    page.get_by_label("Time point").select_option("no_pain")
    page.get_by_role("button", name="Store and assess").click()
    page.wait_for_url("**/sessions/**")
    page.get_by_label("Score you measured on FLACC (0-10)").fill("0")
    page.get_by_role("button", name="Save BPS").click()
    assert "No score" in page.locator("#result").inner_text()

    # The timeline: three assessments, AI points drawn for the scored ones the nurse may
    # see (the clip's stays hidden until its BPS is in).
    page.get_by_role("link", name="Child W-001").click()
    assert "after your BPS" in page.content()
    chart = page.locator("svg.chart")
    assert chart.count() == 1 and chart.locator("circle").count() >= 2  # 1 AI + legend
    assert chart.locator("rect").count() >= 2  # BPS point + legend
    _shot(page, "04-timeline")
    page.context.close()

    # A rater scores blind, then sees the others.
    page = _page(browser, server, "rita")
    assert page.url.endswith("/rate")
    _shot(page, "05-rater-queue")
    page.locator("a[href^='/rate/W-001']").first.click()
    before = page.content()
    assert "AI:" not in before and "Another rater" not in before
    _shot(page, "06-rater-blind")
    page.get_by_label("Your score on FLACC (0-10)").fill("3")
    page.get_by_role("button", name="Submit my score").click()
    assert "AI:" in page.locator("#unblinded").inner_text()
    page.context.close()

    # The researcher: dashboard, models, then consent withdrawal erases the images.
    with env.store() as store:
        from sqlalchemy import select

        from pedpain.store.models import Media, Session, Subject

        with store.session() as db:
            shas = list(
                db.scalars(
                    select(Media.sha256).join(Session).join(Subject).where(Subject.code == "W-001")
                )
            )
    assert len(shas) == 4
    stored = [p for p in (env.home / "media").rglob("*") if p.is_file() and p.name in shas]
    assert len(stored) == 4
    page = _page(browser, server, "remy")
    assert "Cohort dashboard" in page.content() and "ICC(2,k)" in page.content()
    _shot(page, "07-dashboard")
    page.get_by_role("link", name="Models").click()
    assert "ui-test" in page.content() and "active" in page.content()
    _shot(page, "08-models")
    page.get_by_role("link", name="Withdraw consent").click()
    page.get_by_label("Child's code").fill("W-001")
    page.get_by_label("Type the code again").fill("W-001")
    page.get_by_label("Reason").fill("guardian asked")
    page.get_by_role("button", name="Withdraw and erase").click()
    assert "W-001: withdrawn" in page.locator("#withdrawn").inner_text()
    _shot(page, "09-withdrawn")
    assert not [p for p in (env.home / "media").rglob("*") if p.is_file() and p.name in shas]
    page.goto("/children/W-001")
    assert "no such child" in page.content()
    page.context.close()

    # The admin sees who did what.
    page = _page(browser, server, "ada")
    page.get_by_role("link", name="Audit log").click()
    text = page.content()
    assert "subject.withdraw" in text and "rating.submit" in text and "assessment.run" in text
    _shot(page, "10-audit")
    page.context.close()
    shutil.rmtree(SHOTS / "tmp", ignore_errors=True)
