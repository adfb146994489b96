"""The bench plot: final hidden pass rate against tokens spent per task, one point a cell.

A hollow marker joined by a dotted line shows where the cell's first round stood.

matplotlib is imported here, inside the function, and drawn on an Agg canvas of its
own (no pyplot, no global backend switch), so importing corrigo stays light and the
plot works without a display and from any thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from corrigo.bench.report import BenchReport

_MARKERS = "osD^vP*Xh<>"


def plot_pass_vs_tokens(report: BenchReport, path: Path) -> Path:
    """Draw one labelled point per strategy × model: x = tokens per task, y = final pass."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from corrigo.bench.render import model_label

    spec = report.bench
    figure = Figure(figsize=(8, 5), dpi=120)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    colors = {s: f"C{i % 10}" for i, s in enumerate(spec.strategies)}
    markers = {m: _MARKERS[i % len(_MARKERS)] for i, m in enumerate(spec.models)}
    plotted = [c for c in report.cells if c.final_pass_rate is not None]
    stacked: dict[tuple[float, float], int] = {}
    for cell in plotted:
        x, y = cell.tokens_per_task, 100.0 * (cell.final_pass_rate or 0.0)
        color, label = colors[cell.strategy], f"{cell.strategy} · {model_label(cell.model)}"
        first = 100.0 * (cell.first_round_pass_rate or 0.0)
        if first != y:  # where the first round stood: a hollow marker and a dotted lift
            ax.plot([x, x], [first, y], color=color, linestyle=":", alpha=0.6, zorder=2)
            ax.scatter([x], [first], s=40, facecolors="none", edgecolors=color, zorder=2)
        ax.scatter(
            [x], [y], s=70, color=color, marker=markers.get(cell.model, "o"), label=label, zorder=3
        )
        slot = stacked.get((round(x, 3), round(y, 3)), 0)  # labels of coinciding points stack
        stacked[(round(x, 3), round(y, 3))] = slot + 1
        ax.annotate(
            label, (x, y), textcoords="offset points", xytext=(6, 5 - 11 * slot), fontsize=8
        )
    if not plotted:
        ax.text(0.5, 0.5, "no finished runs yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("tokens per task (in + out)")
    ax.set_ylabel("final hidden pass@1 (%)")
    ax.set_ylim(-5, 105)
    ax.set_xlim(left=0, right=max([c.tokens_per_task for c in plotted] + [1.0]) * 1.25)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"hidden pass rate vs tokens · {spec.suite} · {spec.id}", fontsize=9)
    if plotted:
        ax.legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path
