"""The study's rules (pedpain.study), each tested once through every entry point where it
exists: the web page, the JSON API and the CLI (parametrised by ``entry``). Real SQLite
database, real photos and clip, the app over Starlette's test client."""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pedpain.store.layout import Bad
from pedpain.store.layout import code as layout_code
from pedpain.store.models import Correction, Media, Rating, Session
from pedpain.study.accounts import create_token, create_user
from pedpain.web import create_app
from web_fixtures import PASSWORD, WebEnv, csrf_of, make_env, make_media

BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> WebEnv:
    root = tmp_path_factory.mktemp("study-rules")
    env = make_env(root)
    env.media = make_media(root / "media")
    with env.store() as store:
        create_user(store, "rosa", "rater", PASSWORD, actor="test")
    return env


@pytest.fixture(scope="module")
def app(env: WebEnv) -> Iterator[Any]:
    app = create_app(env.settings, host="127.0.0.1")
    yield app
    app.state.store.close()


@pytest.fixture(scope="module")
def tokens(env: WebEnv) -> dict[str, str]:
    with env.store() as store:
        return {
            u: create_token(store, u, "t", actor="test")
            for u in ("nina", "rita", "ravi", "rosa", "remy", "ada")
        }


@pytest.fixture
def home(env: WebEnv, monkeypatch: pytest.MonkeyPatch) -> WebEnv:
    """The CLI pointed at the app's data folder."""
    monkeypatch.setenv("PEDPAIN_HOME", str(env.home))
    monkeypatch.setenv("PEDPAIN_KEY_FILE", str(env.settings.key_file))
    return env


def page_login(app: Any, user: str) -> tuple[TestClient, str]:
    c = TestClient(app, base_url=BASE, follow_redirects=False)
    r = c.post(
        "/login",
        data={"username": user, "password": PASSWORD, "csrf_token": csrf_of(c.get("/login").text)},
    )
    assert r.status_code == 303, r.text
    # Every signed-in page carries the CSRF token (the sign-out form).
    return c, csrf_of(c.get(r.headers["location"]).text)


def api(app: Any, tokens: dict[str, str], user: str) -> TestClient:
    return TestClient(app, base_url=BASE, headers={"Authorization": f"Bearer {tokens[user]}"})


def enrol(app: Any, tokens: dict[str, str], code: str, **extra: Any) -> None:
    body = {"code": code, "age": "4y", "sex": "F", "group": "control", "guardian_consent": True}
    r = api(app, tokens, "nina").post("/api/v1/children", json={**body, **extra})
    assert r.status_code == 201 and r.json()["enrolled"], r.text


def photo(env: WebEnv) -> tuple[str, bytes, str]:
    return ("p.jpg", env.media["grace"].read_bytes(), "image/jpeg")


def new_session(app: Any, tokens: dict[str, str], env: WebEnv, code: str, hours: str = "") -> str:
    r = api(app, tokens, "nina").post(
        f"/api/v1/children/{code}/assessments",
        data={"time_point": "pain", "hours": hours},
        files=[("media", photo(env))],
    )
    assert r.status_code == 201, r.text
    return str(r.json()["session"])


def assess(
    entry: str, app: Any, tokens: dict[str, str], code: str, files: list[Any], hours: str = ""
) -> int:
    """Submit an assessment through the page or the API; the HTTP status."""
    if entry == "page":
        c, csrf = page_login(app, "nina")
        r = c.post(
            f"/children/{code}/assessments",
            data={"csrf_token": csrf, "time_point": "pain", "hours": hours},
            files=[("media", f) for f in files],
        )
        return 201 if r.status_code == 303 else r.status_code
    r = api(app, tokens, "nina").post(
        f"/api/v1/children/{code}/assessments",
        data={"time_point": "pain", "hours": hours},
        files=[("media", f) for f in files],
    )
    if r.status_code >= 400:
        assert set(r.json()) == {"error", "message"}
    return r.status_code


def rate(entry: str, app: Any, tokens: dict[str, str], rater: str, session: str, score: Any) -> int:
    if entry == "page":
        c, csrf = page_login(app, rater)
        r = c.post(f"/rate/{session}", data={"csrf_token": csrf, "score": str(score)})
        return 201 if r.status_code == 303 else r.status_code
    r = api(app, tokens, rater).post(
        f"/api/v1/rater/sessions/{session}/rating", json={"score": score}
    )
    return r.status_code


def count(env: WebEnv, model: Any, *where: Any) -> int:
    with env.store() as store, store.session() as db:
        return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# ----------------------------------------------------------------------------- codes
@pytest.mark.parametrize(
    "code", ["ab_1", "AB_1", "ab-1", "AB-1", "OAPC-001", "X1", "Ü-123", "A" * 32, "A" * 33]
)
def test_import_layout_and_web_app_accept_the_same_codes(
    app: Any, tokens: dict[str, str], code: str
) -> None:
    try:
        layout_code({"subject_code": code}, "subject_code")
        imported = True
    except Bad:
        imported = False
    body = {"code": code, "age": "4y", "sex": "F", "group": "control", "guardian_consent": "1"}
    c, csrf = page_login(app, "nina")
    page = c.post("/children/new", data={**body, "csrf_token": csrf})
    assert (page.status_code == 303) == imported, (code, page.status_code)
    # The API after the page: the same code is then either already enrolled or refused.
    r = api(app, tokens, "nina").post("/api/v1/children", json={**body, "guardian_consent": True})
    assert r.status_code == (409 if imported else 400), (code, r.text)


# ----------------------------------------------------------------------------- hours
@pytest.mark.parametrize("entry", ["page", "api"])
@pytest.mark.parametrize(
    ("hours", "status"), [("-50", 400), ("inf", 400), ("100000", 400), ("nan", 400), ("12", 201)]
)
def test_hours_since_surgery_are_plausible(
    entry: str, hours: str, status: int, app: Any, tokens: dict[str, str], env: WebEnv
) -> None:
    code = f"HRS-{entry.upper()}-{abs(hash(hours)) % 10000}"
    enrol(app, tokens, code)
    before = count(env, Session)
    assert assess(entry, app, tokens, code, [photo(env)], hours) == status
    assert count(env, Session) == before + (status == 201)


@pytest.mark.parametrize("entry", ["api", "cli"])
def test_a_deviation_is_shown_and_left_out_of_exports_unless_asked(
    entry: str, app: Any, tokens: dict[str, str], env: WebEnv, home: WebEnv, cli, tmp_path
) -> None:
    code = f"DEV-{entry.upper()}"
    end = (datetime.now() - timedelta(hours=70)).strftime("%Y-%m-%dT%H:%M")
    enrol(app, tokens, code, group="experimental", surgery_type="other", surgery_hours=3,
          surgery_end=end)  # fmt: skip
    session = new_session(app, tokens, env, code, hours="60")
    stats = api(app, tokens, "remy").get("/api/v1/study/stats").json()
    assert session in [d["session"] for d in stats["deviations"]]
    page, _ = page_login(app, "remy")
    assert session in page.get("/study").text
    out = tmp_path / "export"
    if entry == "cli":
        r = cli("db", "export", "--out", out, "--json")
        assert r.code == 0, r.err
        r2 = cli("db", "export", "--out", tmp_path / "all", "--include-deviations", "--json")
        assert json.loads(r2.out)["deviations_included"] is True
        assert session in (tmp_path / "all" / "manifest.csv").read_text()
    else:
        c, csrf = page_login(app, "remy")
        assert c.post("/study/exports", data={"csrf_token": csrf}).status_code == 303
        out = max((env.home / "exports").iterdir())
    assert session not in (out / "manifest.csv").read_text()
    assert json.loads((out / "export.json").read_text())["deviation_sessions"] >= 1


# ----------------------------------------------------------------------------- media
def _png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", 0)
        + b"IEND"
        + struct.pack(">I", zlib.crc32(b"IEND"))
    )


@pytest.mark.parametrize("entry", ["page", "api"])
@pytest.mark.parametrize(
    ("kind", "status"),
    [("truncated_jpeg", 415), ("huge_png", 413), ("truncated_mp4", 415), ("html_as_jpeg", 415)],
)
def test_unreadable_or_oversized_media_are_refused_and_nothing_is_stored(
    entry: str, kind: str, status: int, app: Any, tokens: dict[str, str], env: WebEnv
) -> None:
    code = f"MED-{entry}-{kind}".upper().replace("_", "-")
    enrol(app, tokens, code)
    good = env.media["grace"].read_bytes()
    bad = {
        "truncated_jpeg": ("t.jpg", good[: len(good) // 2], "image/jpeg"),
        "huge_png": ("h.png", _png_claiming(60000, 60000), "image/png"),
        "truncated_mp4": ("c.mp4", env.media["clip"].read_bytes()[:2000], "video/mp4"),
        "html_as_jpeg": ("x.jpg", b"\xff\xd8\xff<html><body>hello</body></html>", "image/jpeg"),
    }[kind]
    sessions, media = count(env, Session), count(env, Media)
    files = [photo(env), bad] if kind != "truncated_mp4" else [bad]
    assert assess(entry, app, tokens, code, files) == status
    assert (count(env, Session), count(env, Media)) == (sessions, media)


# ----------------------------------------------------------------------------- ratings
@pytest.mark.parametrize("entry", ["page", "api"])
def test_three_ratings_then_only_an_adjudication(
    entry: str, app: Any, tokens: dict[str, str], env: WebEnv
) -> None:
    code = f"RAT-{entry.upper()}"
    enrol(app, tokens, code)
    session = new_session(app, tokens, env, code)
    remy = api(app, tokens, "remy")
    assert rate(entry, app, tokens, "rita", session, 2) == 201
    # One rating is not a label: pending for the researcher, stats and dashboard.
    view = remy.get(f"/api/v1/study/sessions/{session}").json()
    assert view["consensus"] is None and view["n_ratings"] == 1
    assert remy.get("/api/v1/study/stats").json()["sessions"]["pending_ratings"] >= 1
    assert rate(entry, app, tokens, "rita", session, 3) == 409  # twice by one rater
    assert rate(entry, app, tokens, "ravi", session, 4) == 201
    assert rate(entry, app, tokens, "rosa", session, 4) == 201
    assert remy.get(f"/api/v1/study/sessions/{session}").json()["consensus"] == 4.0
    # A 4th professional cannot move the label: 409, the label stays 4.0.
    with env.store() as store:
        create_user(store, f"rex{entry}", "rater", PASSWORD, actor="test")
        tokens[f"rex{entry}"] = create_token(store, f"rex{entry}", "t", actor="test")
    assert rate(entry, app, tokens, f"rex{entry}", session, 10) == 409
    assert remy.get(f"/api/v1/study/sessions/{session}").json()["consensus"] == 4.0
    # The researcher's adjudication, with a reason, settles it.
    r = remy.post(f"/api/v1/study/sessions/{session}/adjudication", json={"score": 6, "reason": ""})
    assert r.status_code == 400
    r = remy.post(
        f"/api/v1/study/sessions/{session}/adjudication",
        json={"score": 6, "reason": "video review"},
    )
    assert r.status_code == 201, r.text
    assert remy.get(f"/api/v1/study/sessions/{session}").json()["consensus"] == 6.0
    stats = remy.get("/api/v1/study/stats").json()
    dash = sum(r["rated_3"] for r in stats["completeness"])
    assert dash == stats["sessions"]["with_3_ratings"]


@pytest.mark.parametrize("score", [True, "7", 3.5, -1, 11, None])
def test_a_score_is_a_number_on_the_scale_granularity(
    score: Any, app: Any, tokens: dict[str, str], env: WebEnv
) -> None:
    code = "SCORE-" + str(abs(hash(repr(score))) % 100000)
    enrol(app, tokens, code)
    session = new_session(app, tokens, env, code)
    assert rate("api", app, tokens, "rita", session, score) == 400
    assert rate("api", app, tokens, "rita", session, 7) == 201


# ----------------------------------------------------------------------------- blinding
def test_blinding_of_nurses_and_raters_and_the_validation_phase(
    app: Any, tokens: dict[str, str], env: WebEnv
) -> None:
    code = "BLIND-1"
    enrol(app, tokens, code)
    r = api(app, tokens, "nina").post(
        f"/api/v1/children/{code}/assessments",
        data={"time_point": "unrelieved"},
        files=[("media", photo(env))],
    )
    session = r.json()["session"]
    # Validation phase: no AI result for the nurse until the BPS is in.
    assert r.json()["result"] is None and r.json()["ai_hidden"]
    nurse = api(app, tokens, "nina")
    doc = nurse.get(f"/api/v1/children/{code}/assessments/{session}").json()
    assert doc["result"] is None
    assert nurse.put(
        f"/api/v1/children/{code}/assessments/{session}/bps", json={"score": 5}
    ).json()["blind_to_ai"]
    doc = nurse.get(f"/api/v1/children/{code}/assessments/{session}").json()
    assert doc["result"] is not None and doc["bps"]["blind_to_ai"] is True
    # Raters: queue and session without time point, AI, BPS or others until they submit.
    for rater in ("rita", "ravi", "rosa"):
        queue = api(app, tokens, rater).get("/api/v1/rater/queue").json()
        entry = next(q for q in queue if q["session"] == session)
        assert "time_point" not in entry
        blind = api(app, tokens, rater).get(f"/api/v1/rater/sessions/{session}").json()
        assert "unblinded" not in blind and "unrelieved" not in json.dumps(blind)
        c, _ = page_login(app, rater)
        text = c.get(f"/rate/{session}").text
        assert "unrelieved" not in text and "AI:" not in text
        assert rate("api", app, tokens, rater, session, 5) == 201
        seen = api(app, tokens, rater).get(f"/api/v1/rater/sessions/{session}").json()
        assert seen["unblinded"]["time_point"] == "unrelieved"
    # Nurses never see the raters' scores or the consensus (page and API).
    child = nurse.get(f"/api/v1/children/{code}").json()
    assert all("consensus" not in p for p in child["timeline"])
    c, _ = page_login(app, "nina")
    assert "Label" not in c.get(f"/children/{code}").text
    researcher = api(app, tokens, "remy").get(f"/api/v1/children/{code}").json()
    assert researcher["timeline"][0]["consensus"] == 5.0


# ----------------------------------------------------------------------------- corrections
@pytest.mark.parametrize("entry", ["page", "api", "cli"])
def test_void_move_and_correct_keep_an_audit_trail(
    entry: str, app: Any, tokens: dict[str, str], env: WebEnv, home: WebEnv, cli
) -> None:
    a, b = f"COR-{entry.upper()}-A", f"COR-{entry.upper()}-B"
    enrol(app, tokens, a)
    enrol(app, tokens, b)
    moved, voided = new_session(app, tokens, env, a), new_session(app, tokens, env, a)
    remy = api(app, tokens, "remy")
    if entry == "page":
        c, csrf = page_login(app, "remy")
        post = lambda url, **d: c.post(url, data={"csrf_token": csrf, **d}).status_code  # noqa: E731
        assert post(f"/study/sessions/{moved}/move", to=b, reason="wrong child") == 303
        assert post(f"/study/sessions/{voided}/void", reason="blurred") == 303
        assert post(f"/children/{b}/correct", field="age", value="6y", reason="typo") == 303
        assert post(f"/study/sessions/{voided}/void", reason="again") == 409
    elif entry == "api":
        assert (
            remy.post(
                f"/api/v1/study/sessions/{moved}/move", json={"to": b, "reason": "wrong child"}
            ).status_code
            == 200
        )
        assert (
            remy.post(
                f"/api/v1/study/sessions/{voided}/void", json={"reason": "blurred"}
            ).status_code
            == 200
        )
        assert (
            remy.patch(
                f"/api/v1/children/{b}", json={"field": "age", "value": "6y", "reason": "typo"}
            ).status_code
            == 200
        )
        assert (
            remy.post(f"/api/v1/study/sessions/{voided}/void", json={"reason": "again"}).status_code
            == 409
        )
    else:
        assert cli("correct", "move", moved, "--to", b, "--reason", "wrong child").code == 0
        assert cli("correct", "void", voided, "--reason", "blurred").code == 0
        r = cli("correct", "subject", b, "--field", "age", "--value", "6y", "--reason", "typo")
        assert r.code == 0, r.err
        assert cli("correct", "void", voided, "--reason", "again").code == 2
        assert cli("correct", "void", voided, "--reason", "").code == 2
    trail = remy.get(f"/api/v1/study/corrections?subject={b}").json()
    assert {(t["field"], str(t["old"]), str(t["new"])) for t in trail} == {
        ("subject", a, b),
        ("age_months", "48", "72"),
    }
    assert all(t["actor"] and t["at"] and t["reason"] for t in trail)
    # The voided session is excluded: not in the queue, not in the child's nurse view.
    queue = api(app, tokens, "rita").get("/api/v1/rater/queue").json()
    assert voided not in [q["session"] for q in queue]
    timeline = api(app, tokens, "nina").get(f"/api/v1/children/{a}").json()["timeline"]
    assert voided not in [p["session"] for p in timeline]
    assert moved in [p["session"] for p in remy.get(f"/api/v1/children/{b}").json()["timeline"]]
    assert remy.get("/api/v1/study/stats").json()["sessions"]["voided"] >= 1


@pytest.mark.parametrize("entry", ["page", "api", "cli"])
def test_a_rater_amends_their_own_rating_only_before_the_set_is_complete(
    entry: str, app: Any, tokens: dict[str, str], env: WebEnv, home: WebEnv, cli
) -> None:
    code = f"AMD-{entry.upper()}"
    enrol(app, tokens, code)
    session = new_session(app, tokens, env, code)
    assert rate("api", app, tokens, "rita", session, 9) == 201

    def amend(score: int) -> int:
        if entry == "page":
            c, csrf = page_login(app, "rita")
            r = c.post(
                f"/rate/{session}/amend",
                data={"csrf_token": csrf, "score": str(score), "reason": "typed 9"},
            )
            return 200 if r.status_code == 303 else r.status_code
        if entry == "api":
            return (
                api(app, tokens, "rita")
                .put(
                    f"/api/v1/rater/sessions/{session}/rating",
                    json={"score": score, "reason": "typed 9"},
                )
                .status_code
            )
        r = cli("correct", "rating", session, "--rater", "rita", "--score", score,
                "--reason", "typed 9")  # fmt: skip
        return {0: 200, 2: 409}[r.code]

    assert amend(3) == 200
    with env.store() as store, store.session() as db:
        assert db.scalar(select(Rating.raw_score).where(Rating.rater == "rita").join(Session)
                         .where(Session.code == session)) == 3  # fmt: skip
        assert db.scalar(select(func.count()).select_from(Correction)
                         .where(Correction.entity_key == f"{session}/rita")) == 1  # fmt: skip
    assert rate("api", app, tokens, "ravi", session, 3) == 201
    assert rate("api", app, tokens, "rosa", session, 3) == 201
    assert amend(4) == 409  # the set is complete: the label stands


# ----------------------------------------------------------------------------- accounts
@pytest.mark.parametrize("entry", ["page", "cli"])
def test_an_admin_cannot_lock_themselves_out(entry: str, app: Any, home: WebEnv, cli) -> None:
    if entry == "page":
        c, csrf = page_login(app, "ada")
        r = c.post("/admin/users/ada", data={"csrf_token": csrf, "active": "0"})
        assert r.status_code == 403
        r = c.post("/admin/users/ada", data={"csrf_token": csrf, "role": "nurse"})
        assert r.status_code == 403
    else:
        # No one is signed in at the command line: the last active admin is kept.
        r = cli("users", "set", "ada", "--disable")
        assert r.code == 2 and "last active admin" in r.err
        r = cli("users", "set", "ada", "--role", "nurse")
        assert r.code == 2


# ----------------------------------------------------------------------------- 409
def test_simultaneous_duplicates_are_409_never_500(app: Any, tokens: dict[str, str]) -> None:
    body = {"code": "DUP-1", "age": "4y", "sex": "F", "group": "control", "guardian_consent": True}
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def go() -> None:
        client = api(app, tokens, "nina")
        barrier.wait()
        statuses.append(client.post("/api/v1/children", json=body).status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 409, 409, 409]


# ----------------------------------------------------------------------------- round trip
def test_a_cohort_entered_in_the_web_app_exports_and_reimports_unchanged(
    app: Any, tokens: dict[str, str], env: WebEnv, home: WebEnv, cli, tmp_path, monkeypatch
) -> None:
    code = "TRIP-1"
    end = (datetime.now() - timedelta(hours=10)).strftime("%Y-%m-%dT%H:%M")
    enrol(app, tokens, code, group="experimental", surgery_type="abdominal",
          surgery_hours=3, surgery_end=end)  # fmt: skip
    session = new_session(app, tokens, env, code)
    nurse = api(app, tokens, "nina")
    assert (
        nurse.put(
            f"/api/v1/children/{code}/assessments/{session}/bps", json={"score": 4}
        ).status_code
        == 200
    )
    for rater, score in (("rita", 1), ("ravi", 5), ("rosa", 9)):
        assert rate("api", app, tokens, rater, session, score) == 201
    assert (
        api(app, tokens, "remy")
        .post(
            f"/api/v1/study/sessions/{session}/adjudication", json={"score": 6, "reason": "spread"}
        )
        .status_code
        == 201
    )
    first = tmp_path / "first"
    r = cli("db", "export-cohort", "--out", first, "--json")
    assert r.code == 0, r.err
    # A second site's fresh database imports the folder, then exports it again.
    other = tmp_path / "other"
    monkeypatch.setenv("PEDPAIN_HOME", str(other))
    assert cli("db", "init").code == 0
    r = cli("db", "import", first, "--json")
    assert r.code == 0, (r.out, r.err)
    second = tmp_path / "second"
    assert cli("db", "export-cohort", "--out", second).code == 0
    for name in ("subjects", "consents", "sessions", "media", "ratings", "self_reports",
                 "clinical"):  # fmt: skip
        assert (first / f"{name}.csv").read_text() == (second / f"{name}.csv").read_text(), name
    # Voided sessions never travel; the first site's export lists them apart.
    assert (
        "blurred" in (first / "voided.csv").read_text()
        or "COR-" not in (first / "subjects.csv").read_text()
    )
    rows = (second / "ratings.csv").read_text()
    assert "spread" in rows and session in (second / "sessions.csv").read_text()
    monkeypatch.setenv("PEDPAIN_HOME", str(env.home))


# ----------------------------------------------------------------------------- both databases
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_simultaneous_raters_stop_at_three_on_both_databases(
    backend: str, request: pytest.FixtureRequest, tmp_path
) -> None:
    extra = {"database_url": request.getfixturevalue("postgres_url")} if backend != "sqlite" else {}
    env = make_env(tmp_path, **extra)
    env.media = make_media(tmp_path / "media")
    raters = ["rita", "ravi", "rosa", "rudi", "rolf"]
    with env.store() as store:
        for name in raters[2:]:
            create_user(store, name, "rater", PASSWORD, actor="test")
        tokens = {u: create_token(store, u, "t", actor="test") for u in ["nina", *raters]}
    app = create_app(env.settings, host="127.0.0.1")
    try:
        enrol(app, tokens, "RACE-1")
        session = new_session(app, tokens, env, "RACE-1")
        statuses: list[int] = []
        barrier = threading.Barrier(len(raters))

        def go(rater: str) -> None:
            client = api(app, tokens, rater)
            barrier.wait()
            r = client.post(f"/api/v1/rater/sessions/{session}/rating", json={"score": 5})
            statuses.append(r.status_code)

        threads = [threading.Thread(target=go, args=(r,)) for r in raters]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [201, 201, 201, 409, 409], statuses
        assert count(env, Rating) == 3
    finally:
        app.state.store.close()


# ----------------------------------------------------------------------------- photo groups
def test_a_group_is_scored_on_its_readable_photos_and_lists_the_rest(tmp_path) -> None:
    """Media stored before intake decoded everything (an older import, a damaged store)
    must not turn a whole group into an error: the usable photos are scored."""
    from pedpain.study import sessions
    from pedpain.study.intake import CheckedMedia, Upload, check_uploads
    from pedpain.web.engines import EnginePool

    env = make_env(tmp_path, model=True)
    env.media = make_media(tmp_path / "media")
    grace = env.media["grace"].read_bytes()
    broken = grace[: len(grace) // 3]
    good = check_uploads(
        [Upload("a.jpg", grace), Upload("b.jpg", env.media["astronaut"].read_bytes())]
    )
    legacy = CheckedMedia("photo", "photo_3.jpg", broken, hashlib.sha256(broken).hexdigest())
    with env.store() as store:
        from pedpain.study.enrolment import enrol_child

        enrol_child(store, {"code": "GRP-1", "age": "4y", "sex": "M", "group": "control",
                            "guardian_consent": "1"})  # fmt: skip
        code = sessions.create_session(store, "GRP-1", "pain", [*good, legacy])
        pool = EnginePool(env.settings, size=1)
        try:
            doc = sessions.run_assessment(store, pool, sessions.find_session(store, code), "t")
        finally:
            pool.close()
    assert doc["status"] in ("ok", "abstain"), doc.get("reason")
    assert doc["photos_used"] == ["photo_1.jpg", "photo_2.jpg"]
    assert [u["slot"] for u in doc["photos_unusable"]] == ["photo_3.jpg"]


# ----------------------------------------------------------------------------- withdrawal
@pytest.mark.parametrize("entry", ["page", "cli"])
def test_withdrawing_an_unknown_code_is_refused(entry: str, app: Any, home: WebEnv, cli) -> None:
    if entry == "page":
        c, csrf = page_login(app, "remy")
        r = c.post(
            "/study/withdraw",
            data={"csrf_token": csrf, "code": "NOBODY-9", "confirm": "NOBODY-9", "reason": "x"},
        )
        assert r.status_code == 400 and "no subject" in r.text
    else:
        r = cli("db", "withdraw", "NOBODY-9", "--reason", "x")
        assert r.code == 2 and "no subject" in r.err


def test_a_malformed_api_body_gets_the_contract_error_format(
    app: Any, tokens: dict[str, str]
) -> None:
    r = api(app, tokens, "nina").post("/api/v1/children", json={"age": "4y"})
    assert r.status_code == 422
    assert set(r.json()) == {"error", "message"} and "code" in r.json()["message"]
