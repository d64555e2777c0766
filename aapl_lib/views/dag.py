"""The DAG picture, drawn from the task specs (never a hand-drawn copy): tasks and the artifacts between them,
as Mermaid text or a PNG/SVG drawn with matplotlib."""

from __future__ import annotations

from pathlib import Path

from aapl_lib.pipeline.tasks import DAG, TASKS, TaskSpec

SOURCE = "source (sample / yfinance / csv)"
# what a runner step's box says instead of a notebook's file name
RUNNER_NOTES = {"approval_gate": "runner: approve / reject / auto", "forecast_ledger": "runner: outputs/ledger"}


def _steps() -> list[TaskSpec]:
    """Every step in order: the notebooks, and the runner's own steps (the gate, the ledger) before reporting."""
    return list(DAG)


def edges() -> list[tuple[str, str]]:
    """``(from, to)`` pairs: task -> artifact it writes, artifact -> task that reads it."""
    out: list[tuple[str, str]] = [(SOURCE, TASKS[0].name)]
    for task in _steps():
        for rel in (*task.inputs, *task.optional_inputs):
            out.append((rel, task.name))
        for rel in task.outputs:
            out.append((task.name, rel))
    return out


def mermaid() -> str:
    """A Mermaid flowchart of the DAG (tasks as boxes, artifacts as rounded nodes)."""
    steps = _steps()
    artifacts = sorted({n for edge in edges() for n in edge} - {t.name for t in steps} - {SOURCE})
    ids = {name: f"t{i}" for i, name in enumerate(t.name for t in steps)}
    ids.update({name: f"a{i}" for i, name in enumerate(artifacts)})
    ids[SOURCE] = "src"
    lines = ["flowchart LR", f'    src[("{SOURCE}")]']
    for task in steps:
        lines.append(f'    {ids[task.name]}["{task.title}<br/>{task.notebook or RUNNER_NOTES[task.name]}"]')
    lines += [f'    {ids[a]}("{a}")' for a in artifacts]
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in edges()]
    lines.append("    classDef task fill:#dbeafe,stroke:#1d4ed8;")
    lines.append("    class " + ",".join(ids[t.name] for t in steps) + " task;")
    return "\n".join(lines) + "\n"


def draw(path: str | Path) -> Path:
    """Draw the DAG to ``path`` (.png or .svg): tasks in a row, each task's outputs listed under it."""
    from matplotlib.figure import Figure  # not pyplot: no backend is chosen or switched
    from matplotlib.patches import FancyBboxPatch

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"--output must end in .png or .svg, not {path.suffix or 'nothing'}")
    steps = _steps()
    width = 2.6
    fig = Figure(figsize=(width * (len(steps) + 1) * 0.75, 5.2))
    ax = fig.subplots()
    ax.set_xlim(-1.6, width * len(steps))
    ax.set_ylim(-4.0, 1.2)
    ax.axis("off")
    ax.text(
        -1.45,
        0,
        "source\n(sample /\nyfinance / csv)",
        ha="left",
        va="center",
        fontsize=8,
        bbox=dict(boxstyle="round", fc="#f3f4f6", ec="#6b7280"),
    )
    for i, task in enumerate(steps):
        x = i * width
        gate = not task.notebook
        ax.add_patch(
            FancyBboxPatch(
                (x, -0.45),
                width * 0.86,
                0.9,
                boxstyle="round,pad=0.05",
                fc="#fef3c7" if gate else "#dbeafe",
                ec="#b45309" if gate else "#1d4ed8",
            )
        )
        ax.text(x + width * 0.43, 0.12, task.title, ha="center", va="center", fontsize=8.5, weight="bold")
        ax.text(x + width * 0.43, -0.2, task.notebook or "runner", ha="center", va="center", fontsize=6.5)
        start = x - width * 0.14 if i else -0.35
        ax.annotate("", xy=(x - 0.02, 0), xytext=(start, 0), arrowprops=dict(arrowstyle="->", color="#374151"))
        for j, rel in enumerate(task.outputs):
            ax.text(
                x + 0.05,
                -0.85 - 0.42 * j,
                rel,
                ha="left",
                va="center",
                fontsize=6.5,
                family="monospace",
                bbox=dict(boxstyle="round,pad=0.2", fc="#ecfdf5", ec="#059669", lw=0.6),
            )
    ax.set_title("Pipeline DAG: tasks (blue), approval gate (amber) and the artifacts each writes (green)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", metadata={"Software": None} if path.suffix == ".png" else None)
    return path
