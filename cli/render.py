"""Rich tables for the library's plain results."""

from collections.abc import Sequence

from rich.table import Table


def classification_table(metrics: dict, title: str) -> Table:
    table = Table(title=title)
    table.add_column("class")
    for name in ("precision", "recall", "f1", "support"):
        table.add_column(name, justify="right")
    for name, row in metrics["per_class"].items():
        table.add_row(name, *_row(row))
    table.add_section()
    table.add_row("macro avg", *_row(metrics["macro_avg"]))
    table.add_row("weighted avg", *_row(metrics["weighted_avg"]))
    table.add_row("[bold]accuracy[/]", "", "", f"[bold]{metrics['accuracy']:.4f}[/]", str(metrics["n"]))
    return table


def _row(row: dict) -> list[str]:
    return [f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}", str(row["support"])]


def confusion_table(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str) -> Table:
    """Rows are true classes, columns predictions; the diagonal is bold, big off-diagonal cells red."""
    table = Table(title=title, caption="rows: true class, columns: predicted")
    table.add_column("true \\ pred")
    for name in class_names:
        table.add_column(_short(name), justify="right")
    biggest_error = max((v for i, r in enumerate(matrix) for j, v in enumerate(r) if i != j), default=0)
    for i, (name, row) in enumerate(zip(class_names, matrix, strict=True)):
        cells = []
        for j, value in enumerate(row):
            if i == j:
                cells.append(f"[bold green]{value}[/]")
            elif value and value >= 0.5 * biggest_error:
                cells.append(f"[red]{value}[/]")
            else:
                cells.append(str(value) if value else "[dim]0[/]")
        table.add_row(name, *cells)
    return table


def _short(name: str, width: int = 7) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def params_text(params: dict) -> str:
    """Trial parameters on one line: `lr=0.00123 filters=64`."""
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def fits(table: Table, console) -> bool:
    """Whether `table` shows at its natural width, no column cut, in `console`'s width."""
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
    return natural <= console.width
