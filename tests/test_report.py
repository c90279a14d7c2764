"""`zoo report`: the page parses, has every section, embeds real (non-blank) PNGs and nothing external."""

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import benchfiles
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.main import app
from zoo.core import paths
from zoo.report import build_report

RUN_SECTIONS = {
    "learning-curves",
    "confusion",
    "per-class",
    "confused-pairs",
    "filters",
    "feature-maps",
    "examples",
    "weights",
    "study",
    "bench",
}
runner = CliRunner()


class Page(HTMLParser):
    """Collects section ids, <img> sources, every src= value and the text of each section."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.images: list[str] = []
        self.srcs: list[str] = []
        self.text: dict[str, list[str]] = {}
        self._section: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.ids.append(attrs["id"])
            self._section = attrs["id"]
            self.text[self._section] = []
        if tag == "img":
            self.images.append((self._section, attrs["src"]))
        if "src" in attrs:
            self.srcs.append(attrs["src"])

    def handle_data(self, data):
        if self._section:
            self.text[self._section].append(data)


def parse(path) -> Page:
    page = Page()
    page.feed(path.read_text())
    page.close()
    return page


def images_in(page: Page, section: str) -> list[str]:
    return [src for s, src in page.images if s == section]


def fake_bench(model: str, weights_sha256: str) -> None:
    """Two zoo.bench/1 results files of this run's export; the older one must be ignored. The newer one
    also measured another export of the same model (other weights, folder `someone-else`, on openvino),
    which is not this run's and must not appear in its report."""
    for stamp, p50 in (("20260101-000000", 99.0), ("20260102-000000", 1.0)):
        folder = paths.artifacts_dir() / "bench" / stamp
        folder.mkdir(parents=True)
        doc = benchfiles.old_file()
        doc["created_at"] = stamp
        mine = {"model": model, "export": "/art/models/fashion-mlp/t0", "weights_sha256": weights_sha256}
        doc["results"] = [benchfiles.measured(rt, p50_ms=p50, **mine) for rt in ("onnxruntime", "torch-cpu")]
        doc["results"].append(
            {**mine, "runtime": "torch-cuda", "variant": "fp32", "available": False, "reason": "no CUDA"}
        )
        if stamp == "20260102-000000":
            other = {
                "model": model,
                "export": "/art/models/fashion-mlp/someone-else",
                "weights_sha256": "cd" * 32,
            }
            doc["results"].append(benchfiles.measured("openvino", p50_ms=7.0, **other))
        (folder / "results.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def reports(fashion_files, tmp_path_factory):
    """A briefly trained CNN and MLP, each reported once (the MLP with benchmark results beside it): real
    images, and 1,000 real test images rather than 10,000 (the sections, not the figures, are tested)."""
    from zoo.train.runs import train_run

    folder, data = fashion_files
    root = tmp_path_factory.mktemp("report")
    paths.set_artifacts_dir(root / "artifacts")
    try:
        out = {}
        for model in ("fashion-cnn", "fashion-mlp"):
            run = train_run(model, {"epochs": 2}, data=data, run_dir=root / model)
            if model == "fashion-mlp":
                fake_bench(model, run.record.weights_sha256)
            report = build_report(run.run_dir, root / "reports" / model, image_index=3, data_dir=folder)
            out[model] = (run.run_dir, report)
        return out
    finally:
        paths.set_artifacts_dir(None)


def assert_pngs_are_real(page: Page) -> None:
    assert page.images
    for _, src in page.images:
        assert src.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("L"), dtype=np.float32)
        assert pixels.std() > 2, "blank image"
    assert not any(s.startswith(("http", "file", "//")) for s in page.srcs)


def test_cnn_report_has_every_section_and_real_images(reports):
    _, report = reports["fashion-cnn"]
    page = parse(report)
    assert {"html", "head", "title", "style", "nav", "table"} <= set(page.tags)
    assert set(page.ids) == RUN_SECTIONS
    assert "link" not in page.tags and "script" not in page.tags
    assert_pngs_are_real(page)
    for section in ("learning-curves", "confusion", "filters", "feature-maps", "weights"):
        assert len(images_in(page, section)) == 1, section
    assert len(images_in(page, "examples")) == 2
    assert "Test image 3" in " ".join(page.text["feature-maps"])
    assert "not trained by a study" in " ".join(page.text["study"])
    assert "No benchmark results" in " ".join(page.text["bench"])
    # the PNGs are also written beside the page
    assert {"confusion.png", "filters.png", "feature-maps.png", "report.html"} <= {
        p.name for p in report.parent.iterdir()
    }
    assert not [p for p in report.parent.iterdir() if p.name.startswith(".")]


def test_confused_pairs_name_real_classes(reports, fashion_small):
    _, report = reports["fashion-cnn"]
    page = parse(report)
    lines = [t.strip() for t in page.text["confused-pairs"] if " predicted as " in t]
    assert 1 <= len(lines) <= 5
    names = set(fashion_small.info.class_names)
    counts = []
    for line in lines:
        pair, count = line.rsplit(": ", 1)
        true, pred = pair.split(" predicted as ")
        assert true in names and pred in names and true != pred
        counts.append(int(count))
    assert counts == sorted(counts, reverse=True)
    per_class = " ".join(page.text["per-class"])
    assert all(name in per_class for name in names)


def test_mlp_report_leaves_out_conv_sections_with_a_note(reports):
    _, report = reports["fashion-mlp"]
    page = parse(report)
    assert set(page.ids) == RUN_SECTIONS
    assert_pngs_are_real(page)
    assert not images_in(page, "filters") and not images_in(page, "feature-maps")
    assert "no convolutional layers" in " ".join(page.text["filters"])
    assert "no conv blocks" in " ".join(page.text["feature-maps"])
    assert len(images_in(page, "weights")) == 1


def test_bench_section_shows_the_newest_results_of_this_runs_exports_only(reports):
    _, report = reports["fashion-mlp"]
    page = parse(report)
    assert len(images_in(page, "bench")) == 2
    text = " ".join(page.text["bench"])
    assert "20260102-000000" in text and "onnxruntime" in text and "torch-cuda" not in text
    # another export of the same model name: picked by name, its figures passed for this run's
    assert "someone-else" not in text and "openvino" not in text


def test_bench_section_skips_what_it_cannot_attribute_or_read(reports, tmp_path):
    from zoo.report.bench import bench_section
    from zoo.train.checkpoint import read_record

    run_dir, _ = reports["fashion-mlp"]
    record = read_record(run_dir)
    old = tmp_path / "old" / "results.json"
    old.parent.mkdir()
    old.write_text(json.dumps(benchfiles.old_file()))  # fashion-mlp rows without the export's identity
    notes = " ".join(p.text for p in bench_section(record, old).parts)
    assert "without the export's weights sha256" in notes and "run `zoo bench` again" in notes
    assert not bench_section(record, old).images()

    paths.set_artifacts_dir(tmp_path / "art")
    try:
        good = tmp_path / "art" / "bench" / "20260101-000000" / "results.json"
        good.parent.mkdir(parents=True)
        doc = benchfiles.old_file()
        doc["results"] = [benchfiles.measured("onnxruntime", weights_sha256=record.weights_sha256)]
        good.write_text(json.dumps(doc))
        bad = tmp_path / "art" / "bench" / "20260102-000000" / "results.json"
        bad.parent.mkdir()
        bad.write_text(json.dumps({**doc, "created_at": 5}))  # newer, but broken
        section = bench_section(record)
    finally:
        paths.set_artifacts_dir(None)
    notes = " ".join(p.text for p in section.parts if hasattr(p, "text"))
    assert f"Skipped: {bad} is not a valid zoo.bench/1 results file (created_at:" in notes
    assert str(good) in notes and len(section.images()) == 2


def test_study_report_through_the_cli(fashion_small, monkeypatch):
    from zoo.tune.tuning import TuneConfig, tune

    monkeypatch.setenv("COLUMNS", "200")
    tune(TuneConfig(model="fashion-mlp", trials=3, epochs=1, subset=1000, retrain=False))
    result = runner.invoke(app, ["report", "best"])
    assert result.exit_code == 0, result.output
    printed = [line for line in result.stdout.splitlines() if line.endswith("report.html")]
    assert len(printed) == 1
    report = Path(printed[0])
    # default folder: artifacts/reports/<study>-t<trial>/
    assert report.parent.parent == paths.artifacts_dir() / "reports"
    assert report.parent.name.startswith("fashion-mlp-t")
    page = parse(report)
    assert "study" in page.ids
    study_text = " ".join(page.text["study"])
    assert "fashion-mlp" in study_text and "Optimisation history" in study_text
    assert_pngs_are_real(page)


def _one_line_error(result) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("error:")


def test_unknown_target_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    _one_line_error(runner.invoke(app, ["report", "no-such-model"]))
    _one_line_error(runner.invoke(app, ["report", "./no/such/run"]))


def test_image_index_out_of_range_exits_2(reports, monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    run_dir, _ = reports["fashion-mlp"]
    result = runner.invoke(
        app, ["report", str(run_dir), "--image-index", "999999", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2, result.output
    assert "out of range" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_figures_take_dollar_signs_in_names_as_text():
    """A `$` in a class name is not a matplotlib formula (an unclosed or unknown one failed to parse)."""
    import torch

    from zoo.report import figures

    names = ["a$\\foo$", "$x^$", "$$"]
    assert figures.confusion_matrix([[1, 0, 0], [0, 1, 0], [0, 0, 1]], names).startswith(b"\x89PNG")
    images = torch.zeros(3, 1, 28, 28, dtype=torch.uint8)
    assert figures.examples(images, [0, 1, 2], [1, 2, 0], names, "$mixed$ title").startswith(b"\x89PNG")


def test_class_names_without_glyphs_in_the_font_print_no_library_warning():
    """Non-Latin class names printed six lines of matplotlib glyph warnings, with source lines, on stderr."""
    import warnings

    from zoo.report.figures import confusion_matrix

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = confusion_matrix(np.array([[3, 1], [0, 4]]), ["猫", "ねこ犬"])
    assert png.startswith(b"\x89PNG")
