from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from kill_tools import kill_when, still_running, temporaries
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
    # Killed, then stopped by Ctrl-C, while the phantom stage's worker pool runs: the
    # workers go with the demo each time, and the run below resumes (issue 23).
    done = work / "02-phantom" / "cohort.partial" / ".done"
    args = ["demo", "--workdir", str(work), "--quick"]
    killed = kill_when(args, lambda: any(done.glob("*.json")))
    assert killed.descendants and still_running(killed.descendants) == set()
    restart = time.time()  # the rerun first removes the half-done stage: wait for new work

    def fresh_subject() -> bool:
        return any(p.stat().st_mtime > restart for p in done.glob("*.json"))

    stopped = kill_when(args, fresh_subject, sig=signal.SIGINT)
    assert stopped.returncode == 130, stopped.stderr
    assert still_running(stopped.descendants) == set()

    first = cli("demo", "--workdir", str(work), "--quick", "--json")
    assert first.code == 0, first.err
    doc = json.loads(first.out)
    names = [s["name"] for s in doc["stages"]]
    assert names[:3] == ["01-scales", "02-phantom", "03-database"]
    assert [s["name"] for s in doc["stages"] if s["reused"]] == ["01-scales"]
    assert temporaries(work) == []
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
    # The bedside model is exported and verified: the web app runs ONNX Runtime.
    distill = next(s for s in doc["stages"] if s["name"] == "08-distill")["summary"]
    assert distill["onnx"]["max_abs_diff"] <= 1e-4 and web["backend"] == "onnx"
    assert (Path(web["active_model"]) / "model.onnx").is_file()
    examples_doc = json.loads((work / "10-assess" / "assessments.json").read_text())
    assert {e["model"]["backend"] for e in examples_doc} == {"onnx"}
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
