"""Fuzz it (issue 25): `zoo predict`, `zoo bench`, `zoo compare` and `zoo report` on names, metadata and
class names made of what breaks terminals and paths: rich markup (`[`, `]`, `[/]`, `[link=...]`), `/` and
`..`, C0 and C1 control characters (an ANSI escape, `\\x9b`), DEL, line separators, bidi controls (U+202E,
U+2066-2069, U+200E/F), undecodable bytes of a file name and lone surrogates.

Whatever the input, each command ends with exit 0, 1 or 2 and no traceback, writes nothing outside the
temporary root it was given (the root is tmp/a/b; tmp, tmp/a and the current folder must not change),
and what it prints holds no raw control or bidi character: a name it shows appears as
`cli.console.printable` writes it, brackets and all.

The models are tiny ONNX graphs from tests/hostile.py with metadata chosen by hypothesis, the images are
PNGs written with Pillow, the run that `zoo report` reads is fashion-mlp trained for one epoch on the small
official-format files of `fake_fashion`. The examples are derandomized (the same on every run); set
ZOO_FUZZ_SCALE=10 for a longer search, and pass --hypothesis-show-statistics to see how many examples
each command answered (exit 0) and refused.

The two crashes it found are regression tests at the end: a file name longer than the file system takes
(now one error line, exit 2, for every command) and a class name too long to draw (the exported-model
contract takes at most 200 characters).
"""

import html
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hostile import FASHION, write_model
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from cli.console import printable
from cli.main import app

runner = CliRunner()
WIDE = 2000  # columns: no cell is wrapped or cut, so every name shown is checked; 80 takes the narrow layouts
QUICK_BENCH = ["--runtime", "onnxruntime", "--batch-sizes", "1", "--warmup", "0", "--iters", "1"]
QUICK_BENCH += ["--min-seconds", "0", "--variants", "fp32"]
SCALE = int(os.environ.get("ZOO_FUZZ_SCALE", "1"))
# What must never reach a terminal raw: C0 controls but the newline, DEL, C1 controls, line and paragraph
# separators, bidi marks, embeddings, overrides and isolates, lone surrogates (no encoder writes them).
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
DEPTH = 8  # fuzzed paths start this many folders below the root: more than the `..` they can climb


def fuzz_settings(examples: int):
    """Reproducible (derandomized, no example database written into the working folder), no deadline (a
    first call imports onnxruntime or matplotlib); the fixtures used per test (tmp_path, monkeypatch,
    fake_fashion_dir) hold nothing an example changes: each example makes its own folder below tmp_path."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# ----------------------------------------------------------------------------------------------- strategies
MARKUP = [
    "[",
    "]",
    "[/]",
    "[/link]",
    "[link=https://example.com/x]",
    "[bold red]",
    "[red",
    ":smile:",
    "$x^{",
    "\\",
    "%s",
    "{}",
    "<b>&amp;",
    "'",
    '"',
    " ",
    "-",
    ".",
    "é",
    "名",
    "\u200b",
    "\ufeff",
    "Bag",
    "Ankle boot",
]
PATHS = ["/", "..", "../", "./"]
CONTROLS = [
    "\x1b[31m",
    "\x1b]8;;https://example.com\x1b\\",
    "\x9b31m",
    "\r",
    "\n",
    "\t",
    "\x08",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
]
BIDI = ["\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067"]
BIDI += ["\u2068", "\u2069"]
SURROGATES = ["\ud800", "\udfff", "\udc80", "\udcff"]  # JSON text can hold them; a file name the last two


def text(pieces: list[str], char: st.SearchStrategy[str], max_pieces: int = 5) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(pieces), char), min_size=1, max_size=max_pieces).map("".join)


# What a terminal shows as it is: rich markup, slashes and dots, any character but controls and bidi ones.
shown_as_is = text(
    MARKUP + PATHS,
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters=BIDI),
)
# And what it must not receive raw: C0 and C1 controls, DEL, escape sequences, line separators, bidi.
hostile_text = text(
    MARKUP + PATHS + CONTROLS + BIDI,
    st.one_of(st.characters(max_codepoint=0x9F), st.sampled_from(BIDI), st.characters(codec="utf-8")),
)


def weighted(*choices: tuple[int, st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    """One of the strategies, each drawn `weight` times in every sum of the weights."""
    return st.sampled_from([s for weight, s in choices for _ in range(weight)]).flatmap(lambda s: s)


# Text read from ONNX metadata: any string JSON holds, lone surrogates included.
surrogates = text(MARKUP + SURROGATES, st.sampled_from(SURROGATES))
metadata_text = weighted((2, shown_as_is), (2, hostile_text), (1, surrogates))
# A class name: mostly one the metadata accepts, whose printing is checked.
class_name = weighted((3, shown_as_is), (2, hostile_text), (1, surrogates))
# Path text typed on a command line: no NUL (an argv string cannot hold one); undecodable bytes of a file
# name are the surrogates \udc80-\udcff that Python decodes them to.
undecodable = text(MARKUP + PATHS, st.sampled_from(["\udc80", "\udcff"]))
path_text = weighted((3, shown_as_is), (3, hostile_text), (1, undecodable)).map(
    lambda s: s.replace("\x00", "")
)
# One folder or file name: no `/` either.
name_text = path_text.map(lambda s: s.replace("/", "")).filter(lambda s: s not in ("", ".", ".."))


# ------------------------------------------------------------------------------------------------- helpers
class Sandbox:
    """tmp/a/b as the root a command may write in, tmp/cwd as its (empty) current folder, and a check that
    nothing else changed: no entry in tmp, tmp/a, tmp/cwd, the parent of tmp or `watched` folders."""

    def __init__(self, parent: Path, monkeypatch, *watched: Path, columns: int = WIDE):
        self.parent = parent
        self.columns = columns
        self.tmp = Path(tempfile.mkdtemp(dir=parent))
        self.root = self.tmp / "a" / "b"
        self.root.mkdir(parents=True)
        cwd = self.tmp / "cwd"
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        self.watched = watched
        self.before = self._outside()

    def _outside(self) -> dict[str, list[str]]:
        listing = {
            str(self.parent): sorted(p.name for p in self.parent.iterdir() if p != self.tmp),
            str(self.tmp): sorted(str(p) for p in self.tmp.rglob("*") if not p.is_relative_to(self.root)),
        }
        for folder in self.watched:
            listing[str(folder)] = sorted(str(p) for p in folder.rglob("*"))
        return listing

    def path(self, base: str, text: str, suffix: str = "") -> str:
        """`<root>/<base>/1/.../DEPTH/<text><suffix>` as a user would type it (`text` may hold `/` and `..`:
        not joined with pathlib, which would drop `.` and restart at a leading `/`), every folder on the way
        made so that it resolves; it cannot climb out of the root."""
        full = "/".join([str(self.root), base, *map(str, range(DEPTH)), text + suffix])
        folder = Path("/")
        for part in full.split("/")[1:-1]:
            folder = Path(os.path.join(folder, part))
            if part not in ("", ".", ".."):
                folder.mkdir(exist_ok=True)
        assert Path(os.path.normpath(full)).is_relative_to(self.root)
        return full

    def invoke(self, args: list[str]):
        result = runner.invoke(
            app, ["--artifacts", str(self.root / "artifacts"), *args], env={"COLUMNS": str(self.columns)}
        )
        check_result(result)
        if currently_in_test_context():  # pytest --hypothesis-show-statistics counts them
            event(f"{args[0]}: exit {result.exit_code}")
        assert self._outside() == self.before, f"written outside {self.root}: {self._outside()}"
        return result

    def remove(self) -> None:
        shutil.rmtree(self.tmp)


def check_result(result) -> None:
    """Exit 0, 1 or 2 through a return or typer.Exit, no traceback, no raw control or bidi character."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
    raw = RAW.findall(result.output)
    assert not raw, f"raw characters {raw!r} in {result.output!r}"


def one_error_line(result) -> None:
    """A refusal is one line on stderr: `error: <what, naming the file or the name>`."""
    if result.exit_code != 0:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def shown(box: Sandbox, text: str, output: str) -> None:
    """`text` appears in `output` as the characters it is, controls and bidi escaped, markup kept (checked
    in a wide terminal, where nothing is cut)."""
    assert box.columns < WIDE or printable(text) in output, f"{printable(text)!r} not in {output!r}"


def write_image(path: str) -> str:
    Image.fromarray(np.full((28, 28), 128, np.uint8)).save(path, format="PNG")
    return path


def fashion_with(names: list[str]) -> list[str]:
    """Fashion-MNIST's class names with the first len(names) replaced."""
    return [*names, *FASHION[len(names) :]]


def as_read(text: str) -> str:
    """`text` as zoo reads it back from ONNX metadata (JSON): an escaped surrogate pair is one character."""
    return json.loads(json.dumps(text))


# --------------------------------------------------------------------------------------------------- tests
def predict(
    box: Sandbox, classes: list[str], names: tuple[str, str] | None, model_file: str, images: list[str]
):
    """Class names, the model's and the dataset's names (None: the usual ones) and the files' names."""
    model, dataset = names or ("tiny-linear", "fashion-mnist")
    onnx = box.path("models", model_file, ".onnx")
    write_model(Path(onnx), class_names=fashion_with(classes), model=model, dataset=dataset)
    files = [write_image(box.path(f"images{i}", name, ".png")) for i, name in enumerate(images)]
    result = box.invoke(["predict", onnx, *files, "--top", "10"])
    one_error_line(result)
    if result.exit_code == 0:
        for text in (*map(as_read, [*classes, model, dataset]), *(str(Path(f)) for f in files)):
            shown(box, text, result.output)
        # --json gives every name back as it is
        rows = json.loads(box.invoke(["predict", onnx, *files, "--top", "10", "--json"]).stdout)
        assert [r["path"] for r in rows] == [str(Path(f)) for f in files]
        assert {t["class_name"] for t in rows[0]["top"]} == set(map(as_read, fashion_with(classes)))
    return result


def bench(box: Sandbox, classes: list[str], export: str, model_file: str, out: str | None):
    """Class names, the export's folder and file names, the results folder (None: the default one)."""
    onnx = box.path("models", f"{export}/{model_file}", ".onnx")
    write_model(Path(onnx), class_names=fashion_with(classes))
    folder = box.path("out", out) if out is not None else None
    result = box.invoke(["bench", onnx, *QUICK_BENCH, *(["--out", folder] if folder else [])])
    one_error_line(result)
    if result.exit_code == 0:
        for text in (*map(as_read, classes), Path(onnx).parent.name):  # `model (export folder)` in a title
            shown(box, text, result.output)
        found = [Path(folder)] if folder else [*(box.root / "artifacts" / "bench").iterdir()]
        (row,) = json.loads((found[0] / "results.json").read_text())["results"]
        assert list(row["metrics"]["per_class"]) == [*map(as_read, fashion_with(classes))]
    return result


def compare(box: Sandbox, classes: list[str], folders: list[str], pass_folder: bool):
    """Class names and the names of the exports' folders, passed as folders or as their model.onnx."""
    args, labels = [], []
    for i, text in enumerate(folders):
        folder = box.path(f"exports{i}", text)
        Path(folder).mkdir(exist_ok=True)
        write_model(Path(folder) / "model.onnx", class_names=fashion_with(classes))
        args.append(folder if pass_folder else f"{folder}/model.onnx")
        labels.append(f"tiny-linear:{Path(folder).name}")
    result = box.invoke(["compare", *args, "--no-latency"])
    one_error_line(result)
    if result.exit_code == 0:
        for text in (*map(as_read, classes), *labels):
            shown(box, text, result.output)
    return result


def report(box: Sandbox, trained_run: Path, run_name: str, out: str | None):
    """The run folder's name (the default report's name) and the report folder (None: the default one);
    then `zoo compare` of the run with itself, which labels it by its folder too."""
    run_dir = box.path("runs", run_name)
    Path(run_dir).mkdir(exist_ok=True)
    for file in trained_run.iterdir():
        shutil.copy2(file, Path(run_dir) / file.name)
    folder = box.path("reports", out) if out is not None else None
    result = box.invoke(["report", run_dir, *(["--out", folder] if folder else [])])
    if result.exit_code == 0:
        shown(box, str(Path(run_dir)), result.output)  # reporting fashion-mlp from <run dir>
        page = Path(folder) if folder else box.root / "artifacts" / "reports" / Path(run_dir).name
        assert result.stdout == printable(page / "report.html") + "\n"
        assert html.escape(Path(run_dir).name) in (page / "report.html").read_text()  # in its title
    compared = box.invoke(["compare", run_dir, run_dir, "--no-latency"])
    one_error_line(compared)
    if compared.exit_code == 0:
        shown(box, f"fashion-mlp:{Path(run_dir).name}", compared.output)
    return result, compared


@pytest.fixture(scope="module")
def trained_run(fake_fashion, tmp_path_factory):
    """fashion-mlp trained one epoch on the small files: a run directory to copy under fuzzed names."""
    from zoo.train.runs import train_run

    folder = tmp_path_factory.mktemp("fuzz-run") / "fashion-mlp" / "r"
    return train_run("fashion-mlp", {"epochs": 1}, data=fake_fashion[1], run_dir=folder).run_dir


def test_names_a_terminal_would_take_for_markup_or_escapes_are_shown_as_they_are(
    tmp_path, monkeypatch, fake_fashion_dir, trained_run
):
    """The cases the issue names, each answered (exit 0), so that what is shown is checked: markup in
    class names the metadata accepts, escape sequences and bidi controls in file and folder names."""
    new = lambda: Sandbox(tmp_path, monkeypatch, fake_fashion_dir, trained_run)  # noqa: E731
    ansi, rlo, osc8 = "\x1b[31m", "\u202e", "\x1b]8;;https://example.com\x1b\\"
    results = [
        predict(new(), ["[/]", "[link=https://example.com]x"], None, f"[/]..{ansi}", [f"{rlo}gpj.exe"]),
        predict(new(), ["[bold]", "名 \u3000"], None, "\x9b31m", [f"\u2066[/]\x85{ansi}", ":smile:"]),
        bench(new(), ["[/]", "\\"], f"..{rlo}[link=x]", ansi, f"[/]/../\x7f{ansi}"),
        bench(new(), ["$x^{", "<b>&amp;"], "\u200e\u200f", "\x08\r", None),
        compare(new(), ["[red", "]"], [f"[/]\u2066{ansi}", f"..{rlo}"], pass_folder=True),
        compare(new(), ["[/link]"], [osc8, "\t\n"], pass_folder=False),
        *report(new(), trained_run, f"{ansi}[/]{rlo}", "[link=https://example.com]/.."),
        *report(new(), trained_run, "r-1", None),
    ]
    assert [r.exit_code for r in results] == [0] * len(results), [r.output for r in results]


@fuzz_settings(60)
@given(
    classes=st.lists(class_name, min_size=1, max_size=2),
    names=st.one_of(st.none(), st.tuples(metadata_text, metadata_text)),
    model_file=path_text,
    images=st.lists(path_text, min_size=1, max_size=2, unique=True),
    columns=st.sampled_from([WIDE, 80]),
)
def test_predict(tmp_path, monkeypatch, classes, names, model_file, images, columns):
    box = Sandbox(tmp_path, monkeypatch, columns=columns)
    predict(box, classes, names, model_file, images)
    box.remove()


@fuzz_settings(25)
@given(
    classes=st.lists(class_name, min_size=1, max_size=2),
    export=path_text,
    model_file=name_text,
    out=st.one_of(st.none(), path_text),
    columns=st.sampled_from([WIDE, 80]),
)
def test_bench(tmp_path, monkeypatch, fake_fashion_dir, classes, export, model_file, out, columns):
    box = Sandbox(tmp_path, monkeypatch, fake_fashion_dir, columns=columns)
    bench(box, classes, export, model_file, out)
    box.remove()


@fuzz_settings(30)
@given(
    classes=st.lists(class_name, min_size=1, max_size=2),
    folders=st.lists(path_text, min_size=2, max_size=2, unique=True),
    pass_folder=st.booleans(),
    columns=st.sampled_from([WIDE, 80]),
)
def test_compare(tmp_path, monkeypatch, fake_fashion_dir, classes, folders, pass_folder, columns):
    box = Sandbox(tmp_path, monkeypatch, fake_fashion_dir, columns=columns)
    compare(box, classes, folders, pass_folder)
    box.remove()


@fuzz_settings(8)
@given(run_name=path_text, out=st.one_of(st.none(), path_text))
def test_report(tmp_path, monkeypatch, fake_fashion_dir, trained_run, run_name, out):
    box = Sandbox(tmp_path, monkeypatch, fake_fashion_dir, trained_run)
    report(box, trained_run, run_name, out)
    box.remove()


TOO_LONG = "n" * 256  # one byte more than a file name may have (NAME_MAX, 255 on Linux filesystems)


@pytest.mark.parametrize(
    "command",
    [
        "predict image",
        "predict model",
        "bench target",
        "bench --out",
        "compare",
        "report target",
        "report --out",
    ],
)
def test_a_name_too_long_for_the_file_system_is_an_error_not_a_crash(
    tmp_path, monkeypatch, fake_fashion_dir, trained_run, command
):
    """A path the user typed with a name longer than the file system takes cannot exist and cannot be
    made: one error line and exit 1 or 2, like any other path that does not exist or cannot be written."""
    box = Sandbox(tmp_path, monkeypatch, fake_fashion_dir, trained_run)
    onnx = write_model(box.root / "model.onnx")
    image = write_image(str(box.root / "x.png"))
    long = str(box.root / TOO_LONG)
    args = {
        "predict image": ["predict", str(onnx), f"{long}.png"],
        "predict model": ["predict", f"{long}.onnx", image],
        "bench target": ["bench", f"{long}.onnx", *QUICK_BENCH],
        "bench --out": ["bench", str(onnx), *QUICK_BENCH, "--out", long],
        "compare": ["compare", str(onnx), f"{long}.onnx", "--no-latency"],
        "report target": ["report", long],
        "report --out": ["report", str(trained_run), "--out", long],
    }[command]
    result = box.invoke(args)
    assert result.exit_code in (1, 2)
    one_error_line(result)


def test_a_class_name_too_long_to_draw_is_an_error_not_a_crash(tmp_path, monkeypatch, fake_fashion_dir):
    box = Sandbox(tmp_path, monkeypatch, fake_fashion_dir)
    onnx = write_model(box.root / "model.onnx", class_names=fashion_with(["W" * 30_000]))
    result = box.invoke(["bench", str(onnx), *QUICK_BENCH, "--out", str(box.root / "out")])
    one_error_line(result)
