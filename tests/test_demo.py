from __future__ import annotations

import json


def test_demo_runs_and_reuses_finished_stages(cli, tmp_path):
    work = tmp_path / "demo"
    first = cli("demo", "--workdir", str(work), "--quick", "--json")
    assert first.code == 0, first.err
    doc = json.loads(first.out)
    assert doc["stages"] and not any(s["reused"] for s in doc["stages"])
    examples = json.loads((work / "01-scales" / "scales_by_age.json").read_text())["examples"]
    assert {e["age"]: e["recommended"]["code"] for e in examples}["4y"] == "FLACC"

    second = cli("demo", "--workdir", str(work), "--quick", "--json")
    assert all(s["reused"] for s in json.loads(second.out)["stages"])


def test_demo_redoes_a_half_finished_stage(cli, tmp_path):
    work = tmp_path / "demo"
    (work / "01-scales").mkdir(parents=True)
    (work / "01-scales" / "partial.tmp").write_text("left by a killed run")
    result = cli("demo", "--workdir", str(work))
    assert result.code == 0
    assert not (work / "01-scales" / "partial.tmp").exists()
    assert (work / "01-scales" / ".done").is_file()
    assert "FLACC" in result.out
