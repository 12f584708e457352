from __future__ import annotations

import json
from pathlib import Path

import pytest

from pedpain.pipeline.stages import Stage, run_stages


def test_stage_runner_redoes_a_half_finished_stage_and_reuses_finished_ones(tmp_path):
    calls: list[str] = []

    def first(folder: Path, _: dict) -> dict:
        calls.append("first")
        (folder / "out.txt").write_text("one")
        return {"file": str(folder / "out.txt")}

    def second(folder: Path, done: dict) -> dict:
        calls.append("second")
        return {"from_first": done["a"]["file"]}

    stages = [Stage("a", "first", first), Stage("b", "second", second)]
    work = tmp_path / "w"
    (work / "b").mkdir(parents=True)
    (work / "b" / "partial.tmp").write_text("left by a killed run")
    results = run_stages(stages, work)
    assert [r.reused for r in results] == [False, False]
    assert not (work / "b" / "partial.tmp").exists()
    assert results[1].summary["from_first"].endswith("out.txt")
    again = run_stages(stages, work)
    assert [r.reused for r in again] == [True, True]
    assert calls == ["first", "second"]


@pytest.mark.slow
def test_quick_demo_runs_the_study_pipeline_and_reuses_finished_stages(cli, tmp_path):
    work = tmp_path / "demo"
    first = cli("demo", "--workdir", str(work), "--quick", "--json")
    assert first.code == 0, first.err
    doc = json.loads(first.out)
    names = [s["name"] for s in doc["stages"]]
    assert names[:3] == ["01-scales", "02-phantom", "03-database"]
    assert not any(s["reused"] for s in doc["stages"])
    examples = json.loads((work / "01-scales" / "scales_by_age.json").read_text())["examples"]
    assert {e["age"]: e["recommended"]["code"] for e in examples}["4y"] == "FLACC"
    evaluation = next(s for s in doc["stages"] if s["name"] == "09-evaluate")["summary"]
    report = Path(evaluation["report"])
    assert report.is_file() and "not a medical device" in report.read_text()
    _assert_opens_in_a_browser_with_every_plot(report)
    assert evaluation["n_subjects"] >= 3
    # The children's models are recorded in the demo database (a withdrawal lists them).
    for stage in ("06-transfer", "08-distill"):
        summary = next(s for s in doc["stages"] if s["name"] == stage)["summary"]
        assert isinstance(summary["model_run"], int), stage
    web = next(s for s in doc["stages"] if s["name"] == "11-webapp")["summary"]
    assert "pedpain serve" in web["command"]
    assert oct(Path(web["logins"]).stat().st_mode & 0o777) == "0o600"
    assert Path(
        next(s for s in doc["stages"] if s["name"] == "07-gan")["summary"]["samples"]
    ).is_file()

    # The simulated prospective phase: its cohort report is the evaluation of its table.
    cohort = next(s for s in doc["stages"] if s["name"] == "12-cohort")["summary"]
    assert cohort["enrolled"] >= 1 and cohort["sessions"] >= 3
    assert cohort["ratings"] == 3 * cohort["sessions"], cohort
    assert cohort["predictions"], cohort["summary"]
    metrics = json.loads((Path(cohort["report"]).parent / "metrics.json").read_text())
    again = cli("evaluate", "predictions", cohort["predictions"], "--out",
                str(tmp_path / "again"), "--bootstrap", "500", "--json")  # fmt: skip
    assert again.code == 0, again.err
    for key in ("n", "n_subjects", "auc", "auc_ci95", "sensitivity", "specificity", "mae"):
        assert metrics[key] == json.loads(again.out)[key], key

    second = cli("demo", "--workdir", str(work), "--quick", "--json")
    assert all(s["reused"] for s in json.loads(second.out)["stages"])


def _assert_opens_in_a_browser_with_every_plot(report: Path) -> None:
    """The report the demo names, in Debian's chromium: every figure decodes and shows."""
    from test_web_browser import ARGS, CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip("apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(report.resolve().as_uri())
            sizes = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
            )
            assert page.title()
        finally:
            browser.close()
    assert len(sizes) >= 6, sizes  # ROC, Bland-Altman, scatter, calibration, confusion, forest
    assert all(done and w > 100 and h > 100 for done, w, h in sizes), sizes
