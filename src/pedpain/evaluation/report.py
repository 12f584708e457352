"""The self-contained HTML report: plain-language summary first, then the numbers, the
figures (embedded PNG), the tables, the protocol and the model card.

No external CSS, JavaScript, fonts or links: the file opens offline, can be e-mailed and
archived with the study records.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import pandas as pd

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:0 auto;
max-width:1000px;padding:1.5em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #1f5fa8;padding-bottom:.2em;
margin-top:2em}h3{margin-top:1.4em}
.disclaimer{background:#fff4d6;border-left:5px solid #e0a800;padding:.7em 1em;margin:1em 0}
.warnings{background:#fdecea;border-left:5px solid #c0392b;padding:.5em 1em}
.summary{background:#eef4fb;border-left:5px solid #1f5fa8;padding:.6em 1.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#444;max-width:800px}.muted{color:#666;font-size:.9em}
"""

GLOSSARY = (
    (
        "Reference",
        "the score the evaluation trusts (e.g. the nurses' consensus on the "
        "child's scale), normalised to 0-10",
    ),
    ("Threshold", "the score from which treatment is indicated; pain = reference at or above it"),
    ("Sensitivity", "of the observations with pain, the share the method called pain"),
    ("Specificity", "of the observations without pain, the share the method called no pain"),
    (
        "AUC",
        "the chance that a random painful observation gets a higher score than a "
        "random pain-free one (0.5 = coin toss, 1 = perfect)",
    ),
    (
        "95% CI",
        "the range of values compatible with the data; here from resampling whole "
        "children, because frames of one child are alike",
    ),
    (
        "Youden point",
        "the cut-off on the score that maximises sensitivity + specificity "
        "on these data (optimistic: chosen and tested on the same data)",
    ),
    (
        "ICC(3,1)",
        "intraclass correlation, consistency: do method and reference rank and "
        "space the cases alike",
    ),
    ("ICC(2,1)", "intraclass correlation, absolute agreement: do they give the same numbers"),
    ("Pearson r", "linear correlation between method and reference"),
    (
        "MAE / MSE / RMSE",
        "mean absolute error, mean squared error and its square root, in points on 0-10",
    ),
    (
        "Bland-Altman",
        "bias = average of (method - reference); 95% of differences lie "
        "between the limits of agreement",
    ),
    ("DeLong p", "test that the model's and the comparator's AUC are equal"),
    (
        "McNemar p",
        "exact test that the model and the comparator make correct pain/no-pain "
        "calls equally often on the same cases",
    ),
    (
        "Brier score",
        "mean squared error of the pain probability (0 = perfect, 0.25 = always saying 50%)",
    ),
)

FIGURES = {
    "roc": (
        "ROC curve",
        "How well the score separates painful from pain-free observations at "
        "every possible cut-off. The dot is the working point at the threshold.",
    ),
    "bland_altman": (
        "Bland-Altman agreement",
        "Each dot is one observation: the difference "
        "between the method and the reference against their mean. Solid line: "
        "bias; dashed: 95% limits of agreement.",
    ),
    "scatter": (
        "Predicted vs reference",
        "Dots on the dotted diagonal are perfect agreement; the dashed lines mark the threshold.",
    ),
    "calibration": (
        "Calibration",
        "When the model says 70%, about 70% of those cases "
        "should have pain: dots on the diagonal are well calibrated.",
    ),
    "confusion": (
        "Calls at the threshold",
        "Counts of correct and wrong pain/no-pain calls at the threshold.",
    ),
    "forest": (
        "AUC by subgroup",
        "AUC with its 95% interval per subgroup; subgroups "
        "with too few children are not estimated.",
    ),
}


def render_report(
    doc: Mapping[str, Any], images: Mapping[str, bytes], tables: Mapping[str, pd.DataFrame]
) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>pedpain evaluation report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>pedpain evaluation report</h1>",
        _byline(doc),
        f'<div class="disclaimer"><strong>Research software.</strong> {_e(doc["disclaimer"])} '
        "These results describe the software on the data below; they are not evidence of "
        "clinical benefit.</div>",
        _summary(doc),
        _warnings(doc.get("warnings", [])),
        "<h2>Protocol</h2>",
        _protocol(doc),
        "<h2>Results</h2>",
        _results(doc),
        "<h2>Figures</h2>",
        _figures(images),
        "<h2>By level of aggregation</h2>",
        "<p>Frame = each row as given. Clip and session levels average the rows of each "
        "clip/session; the subject level averages each child's rows, one row per child.</p>",
        _frame_table(tables.get("metrics_by_level")),
        _subgroups(doc),
        _confounders(doc),
        _folds(doc),
        _calibration(doc),
        _model_card(doc.get("model_card")),
        "<h2>Glossary</h2>",
        _key_values(GLOSSARY),
        f'<div class="disclaimer">{_e(doc["disclaimer"])}</div>',
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


# --- sections -----------------------------------------------------------------------


def _summary(doc: Mapping[str, Any]) -> str:
    c = doc["confusion"]
    threshold = doc["threshold"]
    at = f"{threshold:g}/10" if threshold is not None else "each row's threshold"
    items = [
        f"{doc['n']} observations from {doc['n_subjects']} children "
        f"({doc['n_positive']} with pain at or above the threshold, {doc['n_negative']} "
        "without).",
    ]
    if doc["sensitivity"] is not None:
        items.append(
            f"At the threshold ({at}) the model detected {c['tp']} of {c['tp'] + c['fn']} "
            f"painful observations (sensitivity {_pct(doc['sensitivity'])})."
        )
    if doc["specificity"] is not None:
        items.append(
            f"It correctly called {c['tn']} of {c['tn'] + c['fp']} pain-free observations "
            f"pain-free (specificity {_pct(doc['specificity'])})."
        )
    if doc["auc"] is not None:
        items.append(
            f"AUC {_f(doc['auc'])}{_ci(doc['auc_ci95'])}: the chance that a painful "
            "observation scores higher than a pain-free one."
        )
    else:
        items.append("AUC, sensitivity or specificity are undefined: see the warnings.")
    agreement = doc["bland_altman"]
    items.append(
        f"On 0-10 the model's score is off by {_f(doc['mae'], 2)} points on average "
        f"(bias {_f(agreement['bias'], 2)}; 95% of differences between "
        f"{_f(agreement['loa_low'], 2)} and {_f(agreement['loa_high'], 2)})."
    )
    other = doc.get("comparator")
    if other:
        items.append(
            f"Comparator on the same {other['n']} observations: AUC {_f(other['auc'])}"
            f"{_ci(other['auc_ci95'])}, sensitivity {_pct(other['sensitivity'])}, "
            f"specificity {_pct(other['specificity'])}. AUC difference "
            f"(model - comparator) {_f(other['auc_difference'])}, DeLong p "
            f"{_p(other['delong_p'])}; McNemar p {_p(other['mcnemar_p'])} for the share of "
            "correct calls."
        )
    items.append(f"Split: {doc['protocol']['split']}.")
    body = "".join(f"<li>{_e(i)}</li>" for i in items)
    heading = '<h2 style="border:0;margin-top:.3em">In brief</h2>'
    return f'<div class="summary">{heading}<ul>{body}</ul></div>'


def _byline(doc: Mapping[str, Any]) -> str:
    parts = [_when(), f"pedpain {doc['software']['version']}"]
    if doc["protocol"].get("source"):
        parts.append(str(doc["protocol"]["source"]))
    return f'<p class="muted">{" &middot; ".join(_e(p) for p in parts)}</p>'


def _warnings(warnings: Iterable[str]) -> str:
    listed = list(warnings)
    if not listed:
        return ""
    body = "".join(f"<li>{_e(w)}</li>" for w in listed)
    return f'<div class="warnings"><strong>Warnings</strong><ul>{body}</ul></div>'


def _protocol(doc: Mapping[str, Any]) -> str:
    p = doc["protocol"]
    rows = [
        ("Split", p["split"]),
        ("Dataset", p.get("dataset") or "not stated"),
        ("Predictions", p.get("source") or "given as a table"),
        ("Children (subjects)", p["n_subjects"]),
        ("Rows (frames or items as given)", p["n_rows"]),
        ("Sessions", p.get("n_sessions") if p.get("n_sessions") is not None else "no session_id"),
        ("Clips", p.get("n_clips") if p.get("n_clips") is not None else "no clip_id"),
        ("Rows dropped (empty values)", f"{doc['n_dropped']} of {doc['n_input_rows']}"),
        ("Scale", p["scale"]),
        ("Threshold", p["threshold"]),
        ("Pain / positive call", p["binary_truth"]),
        ("AUC 95% interval", p["auc_ci95"]),
        ("Notes", p.get("notes") or ""),
    ]
    native = doc.get("native_scale")
    if native:
        rows.append(
            (
                f"Errors on {native['name']} 0-{native['max']:g}",
                f"MSE {_f(native['mse'])}, RMSE {_f(native['rmse'])}, MAE {_f(native['mae'])}",
            )
        )
    return _key_values(rows)


_RESULT_ROWS = (
    ("n", "Observations", "{}"),
    ("n_subjects", "Children", "{}"),
    ("auc", "AUC", "f"),
    ("auc_ci95", "AUC 95% CI (children resampled)", "ci"),
    ("auc_ci95_delong", "AUC 95% CI (DeLong, rows independent)", "ci"),
    ("sensitivity", "Sensitivity at the threshold", "pct"),
    ("specificity", "Specificity at the threshold", "pct"),
    ("youden", "Youden-optimal cut-off: cut / sensitivity / specificity", "youden"),
    ("icc_3_1", "ICC(3,1) consistency", "f"),
    ("icc_3_1_ci95", "ICC(3,1) 95% CI", "ci"),
    ("icc_2_1", "ICC(2,1) absolute agreement", "f"),
    ("icc_2_1_ci95", "ICC(2,1) 95% CI", "ci"),
    ("pcc", "Pearson r", "f"),
    ("mse", "MSE (0-10)", "f"),
    ("rmse", "RMSE (0-10)", "f"),
    ("mae", "MAE (0-10)", "f"),
    ("bland_altman", "Bland-Altman bias [limits of agreement]", "ba"),
)


def _results(doc: Mapping[str, Any]) -> str:
    other = doc.get("comparator")
    head = "<tr><th>Metric</th><th>Model</th>" + ("<th>Comparator</th>" if other else "") + "</tr>"
    rows = []
    for key, label, kind in _RESULT_ROWS:
        cells = [_cell(doc.get(key), kind)]
        if other:
            cells.append(_cell(other.get(key), kind))
        rows.append(
            f"<tr><th>{_e(label)}</th>"
            + "".join(f'<td class="num">{c}</td>' for c in cells)
            + "</tr>"
        )
    table = f"<table>{head}{''.join(rows)}</table>"
    if not other:
        return table + "<p class='muted'>No comparator column: no paired comparison.</p>"
    mc = other["mcnemar"]
    tests = _key_values(
        (
            (
                "AUC difference (model - comparator)",
                f"{_f(other['auc_difference'])}{_ci(other['auc_difference_ci95'])}",
            ),
            ("DeLong test (paired AUCs)", f"p = {_p(other['delong_p'])}"),
            (
                "McNemar, all correct calls",
                f"p = {_p(mc['overall']['p'])} (only model right: {mc['overall']['only_first']}, "
                f"only comparator right: {mc['overall']['only_second']})",
            ),
            ("McNemar, pain cases (sensitivity)", f"p = {_p(mc['sensitivity']['p'])}"),
            ("McNemar, pain-free cases (specificity)", f"p = {_p(mc['specificity']['p'])}"),
        )
    )
    return table + "<h3>Model vs comparator on the same observations</h3>" + tests


def _figures(images: Mapping[str, bytes]) -> str:
    out = []
    for name, png in images.items():
        title, caption = FIGURES.get(name, (name, ""))
        data = base64.b64encode(png).decode("ascii")
        out.append(
            f'<figure><img alt="{_e(title)}" src="data:image/png;base64,{data}">'
            f"<figcaption><strong>{_e(title)}.</strong> {_e(caption)}</figcaption></figure>"
        )
    missing = [FIGURES[n][0] for n in ("roc", "forest") if n not in images]
    if missing:
        out.append(
            f"<p class='muted'>Not drawn (undefined or no data): {_e(', '.join(missing))}.</p>"
        )
    return "\n".join(out)


def _frame_table(frame: pd.DataFrame | None, columns: Iterable[str] | None = None) -> str:
    if frame is None or frame.empty:
        return ""
    shown = frame[list(columns)] if columns else frame
    head = "".join(f"<th>{_e(c)}</th>" for c in shown.columns)
    body = []
    for _, row in shown.iterrows():
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append(f'<td class="num">{_f(value)}</td>')
            else:
                cells.append(f"<td>{_e('' if value is None else value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _subgroups(doc: Mapping[str, Any]) -> str:
    groups = doc.get("subgroups") or {}
    if not groups:
        return "<h2>Subgroups</h2><p>No age_months, sex, time_point or group column.</p>"
    rows = []
    for variable, values in groups.items():
        for value, e in values.items():
            rows.append(
                {
                    "subgroup": f"{variable}: {value}",
                    "n": e["n"],
                    "children": e["n_subjects"],
                    "pain cases": e["n_positive"],
                    "AUC": e["auc"],
                    "AUC 95% CI": _ci(e["auc_ci95"]).strip(" []") or "",
                    "sensitivity": e["sensitivity"],
                    "specificity": e["specificity"],
                    "ICC(3,1)": e["icc_3_1"],
                    "MAE": e["mae"],
                    "comparator AUC": (e.get("comparator") or {}).get("auc"),
                    "warning": e.get("warning") or "",
                }
            )
    frame = pd.DataFrame(rows)
    return (
        "<h2>Subgroups</h2><p>Age bands follow Table 1 of the protocol. Subgroups with too few "
        "children are not estimated; small subgroups are exploratory.</p>" + _frame_table(frame)
    )


def _confounders(doc: Mapping[str, Any]) -> str:
    check = doc.get("confounders")
    if not check:
        return ""
    names = {
        "none": "no confounder",
        "smile": "smiling (AU6+AU12)",
        "laugh": "laughing",
        "yawn": "yawning",
        "talk": "talking",
        "sleep": "sleeping (AU43 alone)",
        "frown": "concentration frown (AU4 alone)",
        "pacifier": "sucking a pacifier",
        "cry_no_pain": "crying without pain",
    }
    rows = [
        {
            "expression": names.get(k, k),
            "faces": e["n_faces"],
            "children": e["n_children"],
            "AUC pain vs none": e["auc"],
            "AUC 95% CI": _ci(e["auc_ci95"]).strip(" []") or "",
            "same child, pain above": _pct(e["paired_win_rate"]),
            "Spearman vs PSPI": e["spearman"],
            "mean score, pain-free": e["no_pain_mean_score"],
            "mean score, pain": e["pain_mean_score"],
            "false alarms": _pct(e["false_alarm_rate"]),
            "passed": "yes" if e["passed"] else "NO",
        }
        for k, e in check["per_confounder"].items()
    ]
    probe = check.get("probe", {})
    verdict = (
        "The model passed for every expression."
        if check["passed"]
        else "The model did NOT pass for: " + ", ".join(names.get(k, k) for k in check["failed"])
    )
    return (
        "<h2>Confounders</h2><p>Does the model score pain, or cues that pain shares with "
        "other expressions? Held-out phantom children (not in any training set; "
        f"{_e(probe.get('faces'))} faces of {_e(probe.get('children'))} children aged "
        "4 months to 13 years) show each expression their age allows, alone and with pain "
        "of rising strength. Truth: the PSPI of the pain expression alone. Scores on 0-10; "
        f"threshold {_f(check['threshold'], 2)}; the pain-free neutral face scores "
        f"{_f(check.get('rest_mean_score'), 2)} on average. Rule: {_e(check.get('rule'))}. "
        f"<strong>{_e(verdict)}</strong> Synthetic faces: this checks what the model learned, "
        "not clinical validity.</p>" + _frame_table(pd.DataFrame(rows))
    )


def _folds(doc: Mapping[str, Any]) -> str:
    folds = doc.get("folds")
    if not folds:
        return ""
    keys = list(folds["mean"])
    summary = pd.DataFrame(
        {
            "metric": keys,
            "mean over folds": [folds["mean"][k] for k in keys],
            "sd over folds": [folds["sd"][k] for k in keys],
            "folds defined": [folds["n_folds_defined"][k] for k in keys],
            "pooled (all test rows)": [folds["pooled"][k] for k in keys],
        }
    )
    return (
        f"<h2>Folds</h2><p>{_e(folds['split'])}: {folds['n_folds']} folds.</p>"
        + _frame_table(summary)
        + "<h3>Per fold</h3>"
        + _frame_table(pd.DataFrame(folds["per_fold"]))
    )


def _calibration(doc: Mapping[str, Any]) -> str:
    cal = doc["calibration"]
    frame = pd.DataFrame(cal["bins"]).rename(
        columns={
            "low": "from",
            "high": "to",
            "mean_predicted": "mean predicted",
            "observed": "observed pain share",
        }
    )
    return (
        f"<h2>Calibration</h2><p>Probability: {_e(cal['source'])}. Brier score "
        f"{_f(cal['brier'])}, expected calibration error {_f(cal['ece'])} "
        f"({cal['n']} observations).</p>" + _frame_table(frame)
    )


def _model_card(card: Mapping[str, Any] | None) -> str:
    if not card:
        return "<h2>Model card</h2><p>No model card was given with these predictions.</p>"
    rows = [
        (str(k), v if isinstance(v, (str, int, float)) else json.dumps(v, ensure_ascii=False))
        for k, v in card.items()
    ]
    return "<h2>Model card</h2>" + _key_values(rows)


# --- formatting ---------------------------------------------------------------------


def _key_values(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "undefined"
    if kind == "f":
        return _f(value)
    if kind == "pct":
        return _pct(value)
    if kind == "ci":
        return _ci(value).strip(" []")
    if kind == "youden":
        return (
            f"{_f(value['threshold'], 2)} / {_pct(value['sensitivity'])} / "
            f"{_pct(value['specificity'])}"
        )
    if kind == "ba":
        return f"{_f(value['bias'])} [{_f(value['loa_low'])}, {_f(value['loa_high'])}]"
    return _e(value)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _f(value: float | None, digits: int = 3) -> str:
    if value is None or value != value:
        return "undefined"
    return f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "undefined" if value is None else f"{100 * value:.1f}%"


def _p(value: float | None) -> str:
    if value is None:
        return "undefined"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _ci(pair: list[float] | None) -> str:
    if not pair:
        return ""
    return f" [{_f(pair[0])} to {_f(pair[1])}]"


def _when() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
