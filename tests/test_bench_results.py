"""results.json has one home (zoo.inference.bench_results): files of older zoo versions read, a bad file is
one line
naming the file and the key, and what is read is written back unchanged."""

import copy
import json

import pytest
from benchfiles import SHA, old_file

from zoo.inference.bench_results import BenchResultsError, Measured, Unavailable, read_results, write_results


def test_an_old_file_reads_and_is_written_back_unchanged(tmp_path):
    doc = old_file()
    doc["results"][0]["a_key_of_a_newer_zoo"] = {"kept": True}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    results = read_results(path)
    first, second = results.results
    assert isinstance(first, Measured) and isinstance(second, Unavailable)
    assert first.weights_sha256 is None and first.tta is None  # older files do not say which export
    assert first.latency[1].p50_ms == pytest.approx(1.6) and first.metrics.per_class["a"].support == 5
    assert results.machine.noise.warnings == [] and results.summary == []
    assert second.reason.startswith("model.int8.onnx")
    write_results(tmp_path / "again.json", results)
    assert json.loads((tmp_path / "again.json").read_text()) == doc  # no key added, none lost


def test_a_current_file_round_trips(tmp_path):
    doc = old_file()
    doc["summary"] = ["batch 1: fastest fashion-mlp onnxruntime fp32"]
    doc["machine"]["noise"] = {"busy": False, "warnings": [], "unstable_rows": [], "load_average": [0.1]}
    for row in doc["results"]:
        row.update(weights_sha256=SHA, tta=True)
    doc["results"][0]["latency"][0].update(block_cv=0.02, cv=0.2, p99_over_p50=1.6)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    results = read_results(path)
    assert results.measured[0].weights_sha256 == SHA and results.measured[0].tta is True
    assert results.to_dict() == doc


def _set(path: str, value):
    """A change to one key of the file; `...` deletes it."""

    def change(doc):
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is ...:
            del node[last]
        else:
            node[last] = value

    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (
            _set("results.0.latency.1.p50_ms", "fast"),
            "(results.0.latency.1.p50_ms: input should be a valid number)",
        ),
        (_set("results.0.threads", "2"), "(results.0.threads: input should be a valid integer)"),
        (_set("results.0.accuracy", 1.5), "(results.0.accuracy: input should be less than or equal to 1)"),
        (_set("results.0.latency.0.p99_ms", -1), "(results.0.latency.0.p99_ms: input should be greater than"),
        (_set("results.0.metrics.confusion_matrix", ...), "(results.0.metrics.confusion_matrix: missing)"),
        (_set("results.1.reason", ...), "(results.1.reason: missing)"),
        (_set("results.0.available", "yes"), "(results.0.available: must be true or false)"),
        (_set("results.0.weights_sha256", "not-a-sha"), "(results.0.weights_sha256: string should match"),
        (_set("machine.threads", ...), "(machine.threads: missing)"),
        (_set("schema", "zoo.bench/0"), "is not a zoo.bench/1 results file (schema 'zoo.bench/0')"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(tmp_path, change, message):
    doc = copy.deepcopy(old_file())
    change(doc)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BenchResultsError) as caught:
        read_results(path)
    text = str(caught.value)
    assert len(text.splitlines()) == 1 and text.startswith(str(path)) and message in text, text


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold one JSON object, not list"),
        ('{"schema": "zoo.bench/0"}', "is not a zoo.bench/1 results file"),
    ],
)
def test_a_file_that_is_not_results_is_one_line(tmp_path, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BenchResultsError, match=message) as caught:
        read_results(path)
    assert len(str(caught.value).splitlines()) == 1 and str(path) in str(caught.value)


def test_results_of_a_gpu_machine_read_and_show_gpu_rows_without_cpu_threads():
    """The results.json zoo bench wrote on an H200 (torch 2.11, issue 28): it validates here, and its
    torch-cuda rows (0 CPU threads) show "-" for threads instead of a 0."""
    from pathlib import Path

    from rich.console import Console

    from cli.bench import latency_table, latency_tables_narrow

    path = Path(__file__).parents[1] / "benchmarks" / "data" / "issue28-gpu-h200" / "bench-results.json"
    report = read_results(path)
    cuda = [r for r in report.measured if r.runtime == "torch-cuda"]
    assert cuda and all(r.threads == 0 and r.provider == "cuda" for r in cuda)
    console = Console(width=250, record=True)
    console.print(latency_table(report))
    rows = [line for line in console.export_text().splitlines() if "torch-cuda" in line]
    assert len(rows) == 3 and all(cell.strip() == "-" for cell in (row.split("│")[5] for row in rows))
    narrow = Console(width=80, record=True)
    for table in latency_tables_narrow(report):
        narrow.print(table)
    text = narrow.export_text()
    assert "cuda; bold" in text and "0 threads" not in text and "16 threads" in text
