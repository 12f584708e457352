"""The web app assesses without the explanation (no Grad-CAM on every photo) and computes
it when the nurse opens it: the API flag at submission, the API route and the page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pedpain.web import create_app
from vision_media import cat, save
from web_fixtures import PASSWORD, WebEnv, csrf_of, make_env

BASE = "http://127.0.0.1"
MEASURES = {"brow_eye", "eye_aperture", "nose_lip", "mouth_open"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> WebEnv:
    root = tmp_path_factory.mktemp("web-explain")
    # The validation phase (BPS before the AI) is off here; the last test turns it on.
    env = make_env(root, model=True, media=True, study_validation_phase=False)
    env.media["cat"] = save(root / "media" / "cat.jpg", cat())
    return env


@pytest.fixture(scope="module")
def app(env: WebEnv) -> Iterator[Any]:
    app = create_app(env.settings, host="127.0.0.1")
    yield app
    app.state.engines.close()
    app.state.store.close()


def _photo(env: WebEnv, name: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("media", (f"{name}.jpg", env.media[name].read_bytes(), "image/jpeg"))]


def test_api_explains_on_request_only(app: Any, env: WebEnv, cli) -> None:
    r = cli("--home", str(env.home), "users", "token", "nina", "--json")
    assert r.code == 0, r.err
    c = TestClient(app, base_url=BASE)
    c.headers["Authorization"] = f"Bearer {json.loads(r.out)['token']}"
    child = {"code": "E-001", "age": "4y", "sex": "F", "group": "control",
             "guardian_consent": True}  # fmt: skip
    assert c.post("/api/v1/children", json=child).status_code == 201
    url = "/api/v1/children/E-001/assessments"
    r = c.post(url, data={"time_point": "pain"}, files=_photo(env, "grace"))
    assert r.status_code == 201, r.text
    result, session = r.json()["result"], r.json()["session"]
    assert result["status"] == "ok" and result["explanation"]["measures"] is None
    assert "heatmap" not in result["explanation"] and result["timings_ms"]["explain"] == 0
    # Opened later: computed by the same model, with the heat map inline; not stored.
    r = c.get(f"{url}/{session}/explanation")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert set(doc["explanation"]["measures"]) == MEASURES
    assert doc["explanation"]["heatmap"].startswith("data:image/png;base64,")
    assert doc["score"] == result["score"] and doc["model"]["sha256"] == result["model"]["sha256"]
    stored = c.get(f"{url}/{session}").json()["result"]
    assert stored["explanation"]["measures"] is None
    # Asked for at submission.
    r = c.post(url, data={"time_point": "pain", "explain": "true"}, files=_photo(env, "grace"))
    assert r.status_code == 201, r.text
    assert set(r.json()["result"]["explanation"]["measures"]) == MEASURES
    # Nothing to explain: an abstention is a 409 with the JSON error, never a 500.
    r = c.post(url, data={"time_point": "pain"}, files=_photo(env, "cat"))
    assert r.json()["result"]["status"] == "abstain"
    r = c.get(f"{url}/{r.json()['session']}/explanation")
    assert r.status_code == 409 and r.json()["error"] == "no_explanation"
    assert c.get(f"{url}/E-001-nope/explanation").status_code == 404


def test_page_links_to_the_explanation_and_shows_it(app: Any, env: WebEnv) -> None:
    c = TestClient(app, base_url=BASE, follow_redirects=False)
    r = c.get("/login")
    r = c.post(
        "/login", data={"username": "noah", "password": PASSWORD, "csrf_token": csrf_of(r.text)}
    )
    assert r.status_code == 303, r.text
    csrf = csrf_of(c.get("/children/new").text)
    r = c.post(
        "/children/new",
        data={"csrf_token": csrf, "code": "E-002", "age": "30m", "sex": "M", "group": "control",
              "guardian_consent": "1"},
    )  # fmt: skip
    assert r.status_code == 303, r.text
    r = c.post(
        "/children/E-002/assessments",
        data={"csrf_token": csrf, "time_point": "pain"},
        files=_photo(env, "astronaut"),
    )
    assert r.status_code == 303, r.text
    page = c.get(r.headers["location"]).text
    link = r.headers["location"] + "/explanation"
    assert f'href="{link}#why"' in page and "<caption>Facial measures" not in page
    shown = c.get(link)
    assert shown.status_code == 200, shown.text[:300]
    assert "<caption>Facial measures" in shown.text and 'src="data:image/png;base64,' in shown.text
    assert all(m in shown.text for m in MEASURES)


def test_heatmap_file_is_not_left_behind(env: WebEnv) -> None:
    # The heat map is written in the request's private temporary folder, then removed.
    assert not list(Path(env.home).rglob("*.heatmap.png"))


def test_no_explanation_before_the_bps_in_the_validation_phase(
    tmp_path: Path, env: WebEnv, cli
) -> None:
    blind = make_env(tmp_path, model=True, study_validation_phase=True)
    app = create_app(blind.settings, host="127.0.0.1")
    try:
        r = cli("--home", str(blind.home), "users", "token", "nina", "--json")
        c = TestClient(app, base_url=BASE)
        c.headers["Authorization"] = f"Bearer {json.loads(r.out)['token']}"
        child = {"code": "E-003", "age": "4y", "sex": "F", "group": "control",
                 "guardian_consent": True}  # fmt: skip
        assert c.post("/api/v1/children", json=child).status_code == 201
        url = "/api/v1/children/E-003/assessments"
        r = c.post(url, data={"time_point": "pain", "explain": "true"}, files=_photo(env, "grace"))
        assert r.status_code == 201 and r.json()["result"] is None  # withheld: BPS first
        r = c.get(f"{url}/{r.json()['session']}/explanation")
        assert r.status_code == 409 and r.json()["error"] == "no_explanation"
    finally:
        app.state.engines.close()
        app.state.store.close()
