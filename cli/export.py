"""`zoo export TARGET`: validated, self-describing ONNX with parity checks."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.console import err, expected_errors, fail, out, safe
from cli.options import AsJson, DataDir, OnlyStudy, Pretrained, Storage, within
from cli.render import first_fitting, transposed
from zoo.export.exporter import ExportOptions, ExportOutcome, export_targets
from zoo.export.quantize import RECIPES
from zoo.models.params import Rule


def parity_table(report: dict, title: str) -> Table:
    table = Table(title=title)
    for column in (
        "variant",
        "images",
        "argmax agreement",
        "max |Δlogit|",
        "acc (PyTorch)",
        "acc (ONNX)",
        "batch 1/7/64",
        "result",
    ):
        table.add_column(column, justify="left" if column in ("variant", "result") else "right")
    for variant in ("fp32", "fp16"):
        if variant in report:
            r = report[variant]
            table.add_row(
                variant,
                f"{r['images']:,}",
                f"{r['argmax_agreement']:.4%}",
                f"{r['max_abs_logit_diff']:.2e}",
                f"{r['accuracy_torch']:.4f}",
                f"{r['accuracy_onnx']:.4f}",
                "ok" if all(r["batch_sizes_ok"].values()) else "[red]failed[/]",
                "[green]pass[/]" if r["passed"] else "[red]fail[/]",
            )
    if "int8" in report:
        r = report["int8"]
        table.add_row(
            "int8", "", "", "", "", f"{r['accuracy']:.4f}", "", f"[green]{-r['drop_points']:+.2f} pts[/]"
        )
        table.caption = f"int8: {safe(r['recipe'])}" if "recipe" in r else None
    return table


Int8 = Annotated[
    bool, typer.Option("--int8", help="Also a static int8 (QDQ) model, calibrated on training images.")
]
Int8RecipeName = Annotated[
    str | None,
    typer.Option(
        help="How to quantize: nncf (the default with the openvino extra: the fastest int8, in OpenVINO) "
        "or an onnxruntime recipe: " + ", ".join(r for r in RECIPES if r != "nncf")
    ),
]


@expected_errors
def export(
    target: Annotated[str, typer.Argument(help="best, a study, a model name or a run directory.")] = "best",
    onnx: Annotated[
        bool, typer.Option("--onnx", help="ONNX, the one format zoo exports (accepted for clarity).")
    ] = True,
    int8: Int8 = False,
    int8_recipe: Int8RecipeName = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Also a float16 model for GPUs.")] = False,
    tta: Annotated[
        bool,
        typer.Option(
            "--tta", help="Average each image's logits with its mirror's inside the graph (2x cost)."
        ),
    ] = False,
    max_int8_drop: Annotated[
        float,
        typer.Option(
            help="Refuse int8 when it loses more accuracy points.",
            callback=within(Rule(float, low=0, high=100)),
        ),
    ] = 1.0,
    opset: Annotated[
        int, typer.Option(help="ONNX opset: 18 up to the newest the installed exporter converts to.")
    ] = 18,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output folder, replaced as a whole (default artifacts/models/...); a symlink is followed.",
        ),
    ] = None,
    study: OnlyStudy = None,
    storage: Storage = None,
    force: Annotated[
        bool, typer.Option(help="Replace an export of other weights or options (the whole folder).")
    ] = False,
    data_dir: DataDir = None,
    as_json: AsJson = False,
    pretrained: Pretrained = False,
) -> None:
    """Export trained models to ONNX: metadata inside, parity against PyTorch on the full test set.

    Exporting the same weights with the same options again reports "up to date" and writes nothing."""
    options = ExportOptions(
        opset=opset,
        int8=int8,
        int8_recipe=int8_recipe,
        fp16=fp16,
        max_int8_drop=max_int8_drop,
        force=force,
        out=out_dir,
        tta=tta,
    )
    console = err if as_json else out
    outcomes = export_targets(
        target,
        options,
        storage=storage,
        study=study,
        data_dir=str(data_dir) if data_dir else None,
        pretrained=pretrained,
        on_start=lambda t: console.print(
            f"exporting {safe(t.model)} from {safe(t.run_dir)}", highlight=False
        ),
    )
    _render(outcomes, as_json, console)
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        hint = " (pass --force to replace those folders)" if any("--force" in o.error for o in failed) else ""
        fail(f"{len(failed):d} of {len(outcomes):d} exports failed{hint}", 1)


def _render(outcomes: list[ExportOutcome], as_json: bool, console) -> None:
    for o in outcomes:
        if o.error is not None:
            err.print(
                f"[bold red]not exported:[/] {safe(o.name)}: {safe(o.error)}", highlight=False, soft_wrap=True
            )
        elif o.result.up_to_date:
            up_to_date = f"  up to date: {safe(o.result.folder)} (same weights, same options)"
            console.print(up_to_date, highlight=False)
        elif not as_json:
            table = parity_table(o.result.parity, f"{safe(o.name)}: parity on the test set")
            out.print(first_fitting(out, table, transposed(table)))
            for f in o.result.files:
                out.print(f"  {safe(f)}", highlight=False)
    if as_json:
        typer.echo(json.dumps([o.to_dict() for o in outcomes], indent=2))
