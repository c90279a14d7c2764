"""Rich tables for the library's plain results. Titles come in safe (`cli.console.safe`); class names and
everything else read from a result are made safe here."""

from collections.abc import Sequence

from rich import box
from rich.table import Table

from cli.console import safe
from zoo.core.errors import ZooError
from zoo.models.registry import get_spec


def classification_table(metrics: dict, title: str) -> Table:
    table = Table(title=title)
    table.add_column("class")
    for column in ("precision", "recall", "f1", "support"):
        table.add_column(column, justify="right")
    for name, row in metrics["per_class"].items():
        table.add_row(safe(name), *_row(row))
    table.add_section()
    table.add_row("macro avg", *_row(metrics["macro_avg"]))
    table.add_row("weighted avg", *_row(metrics["weighted_avg"]))
    table.add_row("[bold]accuracy[/]", "", "", f"[bold]{metrics['accuracy']:.4f}[/]", f"{metrics['n']:d}")
    return table


def _row(row: dict) -> list[str]:
    return [f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}", f"{row['support']:d}"]


def confusion_table(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str, *, compact: bool = False
) -> Table:
    """Rows are true classes, columns predictions; the diagonal is bold, big off-diagonal cells red.

    `compact` (for 80 columns) heads the prediction columns with class numbers, which the row labels
    repeat, and draws no vertical lines."""
    caption = "rows: true class, columns: predicted" + (" (by number)" if compact else "")
    if compact:
        table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    else:
        table = Table(title=title, caption=caption)
    table.add_column("true \\ pred")
    for i, name in enumerate(class_names):
        table.add_column(f"{i:d}" if compact else safe(_short(name)), justify="right")
    biggest_error = max((v for i, r in enumerate(matrix) for j, v in enumerate(r) if i != j), default=0)
    for i, (name, row) in enumerate(zip(class_names, matrix, strict=True)):
        cells = []
        for j, value in enumerate(row):
            if i == j:
                cells.append(f"[bold green]{value:d}[/]")
            elif value and value >= 0.5 * biggest_error:
                cells.append(f"[red]{value:d}[/]")
            else:
                cells.append(f"{value:d}" if value else "[dim]0[/]")
        table.add_row(f"{i:d} {safe(name)}" if compact else safe(name), *cells)
    return table


def print_confusion(console, matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str) -> None:
    """The confusion table with class names as headers where it fits, numbered columns otherwise."""
    console.print(
        first_fitting(
            console,
            confusion_table(matrix, class_names, title),
            confusion_table(matrix, class_names, title, compact=True),
        )
    )


def _short(name: str, width: int = 7) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def params_text(params: dict) -> str:
    """Trial parameters on one line, `lr=0.00123 filters=64`, safe: they are read from a storage."""
    return " ".join(
        f"{safe(k)}={v:.3g}" if isinstance(v, float) else f"{safe(k)}={safe(v)}" for k, v in params.items()
    )


def fits(table: Table, console) -> bool:
    """Whether `table` shows at its natural width, no column cut, in `console`'s width."""
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
    return natural <= console.width


def fits_wrapped(table: Table, console) -> bool:
    """Whether `table` shows in `console`'s width with its text wrapped at spaces but no word cut to `…`:
    for tables of prose (descriptions), where `fits` would ask for one line per cell."""
    unbounded = console.options.update_width(10_000)  # rich clamps a measurement to the width it is given
    return console.measure(table, options=unbounded).minimum <= console.width


def first_fitting(console, *tables: Table) -> Table:
    """The first of `tables` that shows in full in `console`'s width (the last one when none does)."""
    for table in tables[:-1]:
        if fits(table, console):
            return table
    return tables[-1]


def transposed(table: Table) -> Table:
    """`table` with rows and columns swapped: one column per row, headed by its first cell. A table of
    many figures for a few rows (a parity report) becomes a few columns that fit in 80."""
    columns = table.columns
    flipped = Table(title=table.title, caption=table.caption)
    flipped.add_column(columns[0].header)
    for cell in columns[0].cells:
        flipped.add_column(cell, justify="right")
    for column in columns[1:]:
        flipped.add_row(column.header, *column.cells)
    return flipped


def letters(count: int) -> list[str]:
    """Short keys A, B, ..., Z, AA, AB, ... for labels too long for a column header."""
    out = []
    for i in range(count):
        key, i = "", i + 1
        while i:
            i, r = divmod(i - 1, 26)
            key = chr(65 + r) + key
        out.append(key)
    return out


def on_dataset(model: str | None, dataset: str | None) -> str:
    """The words ` on DATASET` where a run or study's dataset is not the one its model is bound to (a
    dataset-agnostic variant's), else nothing: `fashion-cnn` needs no "on fashion-mnist"."""
    try:
        bound = get_spec(model).dataset if model else None
    except ZooError:  # a model this zoo does not know (a storage is anyone's to write)
        bound = None
    return f" on {safe(dataset)}" if dataset and dataset != bound else ""


def with_flips(train_config: dict) -> str:
    """What a run's test figure is when its recipe averages each image with its mirror: the default export
    does not (its own figure is in its metadata), `zoo export --tta` does. One figure per default."""
    if not train_config.get("test_time_flip"):
        return ""
    return " (with test-time flips; `zoo export --tta` keeps them, the default export scores without)"
