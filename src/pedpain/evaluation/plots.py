"""The report's figures as PNG bytes (matplotlib, Agg canvas, no global pyplot state).

Each function takes plain arrays or the metrics document and returns PNG bytes, so the
report can embed them and the caller can also write them as files.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

MODEL_COLOUR = "#1f5fa8"
COMPARATOR_COLOUR = "#c0392b"
GREY = "#666666"


def _figure(width: float = 6.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def roc_plot(
    truth: np.ndarray,
    prediction: np.ndarray,
    comparator: np.ndarray | None,
    model: dict[str, Any],
    other: dict[str, Any] | None,
    comparator_truth: np.ndarray | None = None,
) -> bytes:
    fig = _figure(5.5, 5.0)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color=GREY, linestyle=":", linewidth=1, label="chance")
    series = [("Model", truth, prediction, model, MODEL_COLOUR)]
    if comparator is not None and other is not None:
        paired_truth = comparator_truth if comparator_truth is not None else truth
        series.append(("Comparator", paired_truth, comparator, other, COMPARATOR_COLOUR))
    for label, y, score, card, colour in series:
        if card.get("auc") is None:
            continue
        fpr, tpr, _ = roc_curve(y, score)
        ci = card.get("auc_ci95")
        ci_text = f" [{_fmt(ci[0])}-{_fmt(ci[1])}]" if ci else ""
        ax.plot(
            fpr, tpr, color=colour, linewidth=2, label=f"{label}: AUC {_fmt(card['auc'])}{ci_text}"
        )
        if card.get("sensitivity") is not None and card.get("specificity") is not None:
            ax.plot(
                1 - card["specificity"],
                card["sensitivity"],
                "o",
                color=colour,
                markersize=8,
                markeredgecolor="black",
            )
    ax.set_xlabel("1 - specificity (false alarms among pain-free cases)")
    ax.set_ylabel("Sensitivity (pain cases detected)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_title("ROC curve (dots: operating point at the threshold)")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def bland_altman_plot(panels: list[tuple[str, np.ndarray, np.ndarray, dict[str, Any]]]) -> bytes:
    """One panel per (label, method values, reference values, agreement dict)."""
    fig = _figure(5.0 * len(panels), 4.5)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, values, reference, agreement) in zip(axes, panels, strict=True):
        mean = (values + reference) / 2
        diff = values - reference
        colour = MODEL_COLOUR if label == "Model" else COMPARATOR_COLOUR
        ax.scatter(mean, diff, s=10, alpha=_alpha(diff.size), color=colour, linewidths=0)
        for key, style in (("bias", "-"), ("loa_low", "--"), ("loa_high", "--")):
            if agreement.get(key) is not None:
                ax.axhline(agreement[key], color="black", linestyle=style, linewidth=1)
        ax.axhline(0, color=GREY, linestyle=":", linewidth=1)
        ax.set_title(
            f"{label} - reference: bias {_fmt(agreement.get('bias'))}, "
            f"limits {_fmt(agreement.get('loa_low'))} to {_fmt(agreement.get('loa_high'))}",
            fontsize=9,
        )
        ax.set_xlabel("Mean of method and reference (0-10)")
        ax.set_ylabel("Method minus reference (0-10)")
    return _png(fig)


def scatter_plot(
    reference: np.ndarray, prediction: np.ndarray, threshold: float | None, card: dict[str, Any]
) -> bytes:
    fig = _figure(5.5, 5.0)
    ax = fig.add_subplot()
    ax.scatter(
        reference, prediction, s=10, alpha=_alpha(reference.size), color=MODEL_COLOUR, linewidths=0
    )
    low = float(min(0.0, reference.min(), prediction.min()))
    high = float(max(10.0, reference.max(), prediction.max()))
    ax.plot(
        [low, high], [low, high], color=GREY, linestyle=":", linewidth=1, label="perfect agreement"
    )
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=0.8)
        ax.axhline(
            threshold,
            color="black",
            linestyle="--",
            linewidth=0.8,
            label=f"threshold {threshold:g}",
        )
    ax.set_xlabel("Reference score (0-10)")
    ax.set_ylabel("Predicted score (0-10)")
    ax.set_title(
        f"Predicted vs reference: r {_fmt(card.get('pcc'))}, "
        f"ICC(3,1) {_fmt(card.get('icc_3_1'))}, MAE {_fmt(card.get('mae'))}"
    )
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def calibration_plot(calibration: dict[str, Any]) -> bytes:
    fig = _figure(5.5, 5.0)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color=GREY, linestyle=":", linewidth=1, label="perfect calibration")
    bins = [b for b in calibration["bins"] if b["n"]]
    if bins:
        x = [b["mean_predicted"] for b in bins]
        y = [b["observed"] for b in bins]
        sizes = np.array([b["n"] for b in bins], dtype=float)
        ax.plot(x, y, color=MODEL_COLOUR, linewidth=1.5)
        ax.scatter(
            x,
            y,
            s=20 + 180 * sizes / sizes.max(),
            color=MODEL_COLOUR,
            zorder=3,
            label="bins (dot size = number of cases)",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel(f"Predicted probability of pain ({calibration['source']})")
    ax.set_ylabel("Observed share of pain cases")
    ax.set_title(f"Calibration: Brier score {_fmt(calibration['brier'], 3)}")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def confusion_plot(cards: list[tuple[str, dict[str, Any]]]) -> bytes:
    fig = _figure(4.2 * len(cards), 4.0)
    axes = fig.subplots(1, len(cards), squeeze=False)[0]
    for ax, (label, card) in zip(axes, cards, strict=True):
        c = card["confusion"]
        grid = np.array([[c["tp"], c["fn"]], [c["fp"], c["tn"]]], dtype=float)
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=max(grid.max(), 1))
        names = [["true positive", "missed pain"], ["false alarm", "true negative"]]
        for i in range(2):
            for j in range(2):
                dark = grid[i, j] > grid.max() * 0.6
                ax.text(
                    j,
                    i,
                    f"{int(grid[i, j])}\n{names[i][j]}",
                    ha="center",
                    va="center",
                    color="white" if dark else "black",
                    fontsize=9,
                )
        ax.set_xticks([0, 1], ["called pain", "called no pain"])
        ax.set_yticks([0, 1], ["pain\n(reference)", "no pain\n(reference)"])
        ax.set_title(
            f"{label}: sensitivity {_fmt(card.get('sensitivity'))}, "
            f"specificity {_fmt(card.get('specificity'))}",
            fontsize=9,
        )
    return _png(fig)


def forest_plot(rows: list[tuple[str, dict[str, Any]]], overall: dict[str, Any]) -> bytes:
    """AUC with its 95% interval per subgroup; rows without an AUC say why."""
    entries = [("All", overall), *rows]
    fig = _figure(6.5, 0.9 + 0.38 * len(entries))
    ax = fig.add_subplot()
    for position, (label, card) in enumerate(entries):
        y = len(entries) - 1 - position
        auc = card.get("auc")
        ci = card.get("auc_ci95")
        colour = "black" if label == "All" else MODEL_COLOUR
        if auc is None:
            few = "fewer than" in (card.get("warning") or "")
            reason = "too few children" if few else "AUC undefined (see warnings)"
            note = ax.text(
                0.5, y, f"not estimated: {reason}", va="center", ha="center", fontsize=7, color=GREY
            )
            note.set_in_layout(False)
            continue
        if ci:
            ax.plot(ci, [y, y], color=colour, linewidth=2)
        ax.plot(auc, y, "s" if label == "All" else "o", color=colour, markersize=7)
    ax.axvline(0.5, color=GREY, linestyle=":", linewidth=1)
    labels = [f"{label} (n={card.get('n_subjects', 0)} subj.)" for label, card in entries]
    ax.set_yticks(range(len(entries)), labels[::-1], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.7, len(entries) - 0.3)
    ax.set_xlabel("AUC with 95% interval (0.5 = chance)")
    ax.set_title("AUC by subgroup")
    return _png(fig)


def _alpha(n: int) -> float:
    return float(min(0.8, max(0.05, 300.0 / max(n, 1))))
