"""What zoo prints is as untrusted as what it reads (issue 25): one way to print text (`cli.console.safe`,
its rule checked over cli/'s source below), output that cannot be written, an unexpected exception, and
float options that would take NaN.

The rule's checker is a small flow analysis over the AST of cli/*.py: a name is checked when every
assignment to it is (`=`, `+=`, `append`, a `for` over a checked iterable), a parameter when every argument
passed to it from cli/ is (a function that escapes, as a callback or a Typer command, takes unchecked
arguments), a call of a cli/ function when every `return` is. Names are per function, not per line (a
name reused for unchecked text taints its other uses), and it errs on the side of refusing: a refusal is
fixed with `safe(...)` where the text enters.
"""

import ast
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from cli.console import printable, safe
from cli.main import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

# ---------------------------------------------------------------------------------------------- the checker
CLI = ROOT / "cli"

MARKUP_SINKS = {
    "print",
    "log",
    "status",
    "update",
    "add_task",
    "add_row",
    "add_column",
    "reset",
    "Table",
    "Group",
}
PLAIN_SINKS = {"echo", "Text", "assemble"}  # no markup parsed: `printable` is enough
TEXT_KEYWORDS = {"title", "caption", "header", "description", "info", "status"}
NUMBERS = {"len", "int", "float", "round", "sum", "abs", "bool", "isinstance"}
PASSTHROUGH = {
    "str",
    "repr",
    "list",
    "tuple",
    "sorted",
    "reversed",
    "enumerate",
    "zip",
    "dict",
    "set",
    "max",
    "min",
}
MUTATORS = {"append", "add", "insert", "extend", "update", "setdefault"}
NUMERIC_SPEC = re.compile(r"[bcdeEfFgGnoxX%,_]$")
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
BAD = ("bad", None)


def _names(target: ast.AST) -> set[str]:
    """The names an assignment to `target` changes: `x`, `x` of `x[k]` and `x.field`, each of `a, b`; not
    `t` of `t.title`, a sink of its own."""
    match target:
        case ast.Name():
            return {target.id}
        case ast.Tuple() | ast.List():
            return set().union(*map(_names, target.elts))
        case ast.Starred() | ast.Subscript():
            return _names(target.value)
        case ast.Attribute() if target.attr not in ("title", "caption"):
            return _names(target.value)
    return set()


def _own_nodes(scope: ast.AST):
    """The nodes of `scope`'s body, not those of functions, classes or comprehensions nested in it."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, SCOPES + COMPREHENSIONS):
            todo.extend(ast.iter_child_nodes(node))


def _self_attr(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


class Checker:
    def __init__(self, folder: Path = CLI) -> None:
        self.modules = {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(folder.glob("*.py"))}
        self.parent: dict[ast.AST, ast.AST] = {}
        self.module_of: dict[ast.AST, str] = {}
        for name, tree in self.modules.items():
            for node in ast.walk(tree):
                self.module_of[node] = name
                for child in ast.iter_child_nodes(node):
                    self.parent[child] = node
        self.memo: dict[tuple[int, bool], bool] = {}

    # ------------------------------------------------------------------ sinks

    def violations(self) -> list[str]:
        found = []
        for module, tree in self.modules.items():
            for node in ast.walk(tree):
                for arg, markup in self._sink_args(node):
                    if not self.ok(arg, markup):
                        found.append(f"cli/{module}.py:{arg.lineno}: {ast.unparse(arg)}")
        return found

    def _sink_args(self, node: ast.AST):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in MARKUP_SINKS or name in PLAIN_SINKS or self._is_std_write(node.func):
                markup = name in MARKUP_SINKS
                yield from ((a, markup) for a in node.args)
                yield from ((k.value, markup) for k in node.keywords if k.arg in TEXT_KEYWORDS)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr in ("title", "caption"):
                    yield node.value, True

    @staticmethod
    def _is_std_write(func: ast.AST) -> bool:
        """`sys.stdout.write` or `sys.stderr.write`: a file's `write` is no terminal."""
        return (
            isinstance(func, ast.Attribute)
            and func.attr == "write"
            and isinstance(func.value, ast.Attribute)
            and func.value.attr in ("stdout", "stderr")
        )

    # ------------------------------------------------------------------ checked expressions

    def ok(self, node: ast.AST, markup: bool) -> bool:
        key = (id(node), markup)
        if key not in self.memo:
            self.memo[key] = True  # a cycle (a recursive helper) adds nothing unchecked
            self.memo[key] = self._ok(node, markup)
        return self.memo[key]

    def _all(self, nodes, markup: bool) -> bool:
        return all(self.ok(n, markup) for n in nodes if n is not None)

    def _ok(self, node: ast.AST, markup: bool) -> bool:
        match node:
            case ast.Constant() | ast.Compare():
                return True
            case ast.JoinedStr():
                return self._all(node.values, markup)
            case ast.FormattedValue():
                spec = node.format_spec
                text = "".join(v.value for v in getattr(spec, "values", []) if isinstance(v, ast.Constant))
                return bool(spec and NUMERIC_SPEC.search(text)) or self.ok(node.value, markup)
            case ast.Tuple() | ast.List() | ast.Set():
                return self._all(node.elts, markup)
            case ast.Dict():
                return self._all(node.keys, markup) and self._all(node.values, markup)
            case ast.Starred() | ast.Subscript():
                return self.ok(node.value, markup)
            case ast.IfExp():
                return self.ok(node.body, markup) and self.ok(node.orelse, markup)
            case ast.BoolOp():
                return self._all(node.values, markup)
            case ast.BinOp():
                return self.ok(node.left, markup) and self.ok(node.right, markup)
            case ast.UnaryOp():
                return self.ok(node.operand, markup)
            case ast.Lambda():
                return self.ok(node.body, markup)
            case ast.ListComp() | ast.SetComp() | ast.GeneratorExp():
                return self.ok(node.elt, markup)
            case ast.DictComp():
                return self.ok(node.key, markup) and self.ok(node.value, markup)
            case ast.Name():
                return all(self._binding_ok(b, markup) for b in self.bindings(node))
            case ast.Attribute():
                attr = _self_attr(node)
                if attr is not None:
                    return all(self._binding_ok(b, markup) for b in self._attr_bindings(node, attr))
                return self.ok(node.value, markup)
            case ast.Call():
                return self._call_ok(node, markup)
        return False

    def _call_ok(self, call: ast.Call, markup: bool) -> bool:
        func = call.func
        if isinstance(func, ast.Name):
            if func.id == "safe" or (func.id == "printable" and not markup):
                return True
            if func.id in NUMBERS or func.id in MARKUP_SINKS | PLAIN_SINKS:
                return True
            if func.id in PASSTHROUGH:
                return self._all(call.args, markup)
            return self.ok(func, markup)  # a local callable, or a cli/ function: what it returns
        if isinstance(func, ast.Attribute):
            if func.attr in MARKUP_SINKS | PLAIN_SINKS:
                return True  # a task id, a status, a table: the call's own arguments are checked as sinks
            if func.attr == "dumps" and getattr(func.value, "id", "") == "json":
                return not any(k.arg == "ensure_ascii" for k in call.keywords)  # ASCII, controls escaped
            method = self._method(func)
            if method is not None:
                return self._returns_ok(method, markup)
            args = call.args[1:] if func.attr == "get" else call.args  # d.get(key, default): not the key
            return self.ok(func.value, markup) and self._all(args, markup)
        return False

    # ------------------------------------------------------------------ bindings

    def _binding_ok(self, binding: tuple, markup: bool) -> bool:
        kind, value = binding
        if kind == "value":
            return self.ok(value, markup)
        if kind == "def":
            return isinstance(value, ast.ClassDef) or self._returns_ok(value, markup)
        if kind == "param":
            return self._param_ok(*value, markup)
        return False

    def _returns_ok(self, fn: ast.AST, markup: bool) -> bool:
        if isinstance(fn, ast.Lambda):
            return self.ok(fn.body, markup)
        return all(self.ok(n.value, markup) for n in _own_nodes(fn) if isinstance(n, ast.Return) and n.value)

    def bindings(self, name: ast.Name) -> list[tuple]:
        node = name
        while node in self.parent:
            node = self.parent[node]
            if isinstance(node, COMPREHENSIONS):
                for gen in node.generators:
                    if name.id in _names(gen.target):
                        return [("value", gen.iter)]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                if name.id in self._params(node):
                    return [("param", (node, name.id))]
                found = self._assignments(node, name.id)
                if found:
                    return found
        return self._assignments(node, name.id) or [BAD]  # the module

    def _assignments(self, scope: ast.AST, name: str) -> list[tuple]:
        found = []
        for node in _own_nodes(scope):
            match node:
                case ast.Assign() if any(name in _names(t) for t in node.targets):
                    found.append(("value", node.value))
                case ast.AugAssign() | ast.AnnAssign() | ast.NamedExpr() if name in _names(node.target):
                    found.append(("value", node.value) if node.value else BAD)
                case ast.For() if name in _names(node.target):
                    found.append(("value", node.iter))
                case ast.withitem() if node.optional_vars and name in _names(node.optional_vars):
                    found.append(("value", node.context_expr))
                case ast.ExceptHandler() if node.name == name:
                    found.append(BAD)
                case ast.FunctionDef() | ast.ClassDef() if node.name == name:
                    found.append(("def", node))
                case ast.Import() | ast.ImportFrom():
                    for alias in node.names:
                        if (alias.asname or alias.name) == name:
                            found.append(self._imported(node, alias.name))
                case ast.Call() if self._mutates(node, lambda t: isinstance(t, ast.Name) and t.id == name):
                    found.extend(("value", a) for a in node.args)
        return found

    @staticmethod
    def _mutates(call: ast.Call, is_target) -> bool:
        """`x.append(v)` and friends, or `x[k] = v` seen as a call: they put unchecked text into x."""
        return (
            isinstance(call.func, ast.Attribute) and call.func.attr in MUTATORS and is_target(call.func.value)
        )

    def _imported(self, node: ast.AST, name: str) -> tuple:
        module = getattr(node, "module", None) or ""
        if module.startswith("cli.") and module[4:] in self.modules:
            for top in self.modules[module[4:]].body:
                if isinstance(top, ast.FunctionDef | ast.ClassDef) and top.name == name:
                    return ("def", top)
        return BAD

    def _attr_bindings(self, node: ast.AST, attr: str) -> list[tuple]:
        cls = node
        while cls in self.parent and not isinstance(cls, ast.ClassDef):
            cls = self.parent[cls]
        if not isinstance(cls, ast.ClassDef):
            return [BAD]
        found = []
        for n in ast.walk(cls):
            targets = (
                n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AugAssign) else []
            )
            if any(
                _self_attr(t) == attr or any(_self_attr(e) == attr for e in getattr(t, "elts", []))
                for t in targets
            ):
                found.append(("value", n.value))
            elif isinstance(n, ast.Call) and self._mutates(n, lambda t: _self_attr(t) == attr):
                found.extend(("value", a) for a in n.args)
        return found or [BAD]

    def _method(self, func: ast.Attribute) -> ast.FunctionDef | None:
        """`self.m` inside a class that defines m."""
        if _self_attr(func) is None:
            return None
        cls = func
        while cls in self.parent and not isinstance(cls, ast.ClassDef):
            cls = self.parent[cls]
        if isinstance(cls, ast.ClassDef):
            for item in cls.body:
                if isinstance(item, ast.FunctionDef) and item.name == func.attr:
                    return item
        return None

    # ------------------------------------------------------------------ parameters

    @staticmethod
    def _params(fn: ast.AST) -> list[str]:
        a = fn.args
        names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
        return names + [p.arg for p in (a.vararg, a.kwarg) if p]

    def _param_ok(self, fn: ast.AST, param: str, markup: bool) -> bool:
        """Every argument passed to `param` from cli/ is checked; a function that escapes (a decorated
        command, a callback handed to the library, a lambda) takes anything."""
        if isinstance(fn, ast.Lambda) or fn.decorator_list:
            return False
        calls, escaped = self._uses(fn)
        if escaped:
            return False
        return all(self._all(self._passed(fn, param, call), markup) for call in calls)

    def _uses(self, fn: ast.FunctionDef) -> tuple[list[ast.Call], bool]:
        """The calls of `fn` in cli/, and whether it is also used otherwise (passed on, stored)."""
        calls, escaped = [], False
        cls = self.parent.get(fn)
        if not isinstance(cls, ast.ClassDef):
            target, by_name = fn, True
        elif fn.name == "__init__":
            target, by_name = cls, True  # `View(...)` calls View.__init__
        else:
            target, by_name = fn, False  # `x.method(...)`, whatever x is
        for tree in self.modules.values():
            for node in ast.walk(tree):
                refers = (isinstance(node, ast.Name) and by_name and self._resolves_to(node, target)) or (
                    isinstance(node, ast.Attribute) and not by_name and node.attr == fn.name
                )
                if refers:
                    call = self.parent.get(node)
                    if isinstance(call, ast.Call) and call.func is node:
                        calls.append(call)
                    elif not isinstance(call, ast.ImportFrom | ast.alias):
                        escaped = True
        return calls, escaped

    def _resolves_to(self, name: ast.Name, definition: ast.AST) -> bool:
        if name.id != definition.name:
            return False
        return any(kind == "def" and value is definition for kind, value in self.bindings(name))

    def _passed(self, fn: ast.FunctionDef, param: str, call: ast.Call) -> list[ast.AST]:
        a = fn.args
        positional = [p.arg for p in a.posonlyargs + a.args]
        if isinstance(self.parent.get(fn), ast.ClassDef):
            positional = positional[1:]  # self
        if any(isinstance(x, ast.Starred) for x in call.args) or any(k.arg is None for k in call.keywords):
            return [*call.args, *(k.value for k in call.keywords)]  # cannot tell which: all of them
        if a.vararg and param == a.vararg.arg:
            return call.args[len(positional) :]
        for k in call.keywords:
            if k.arg == param:
                return [k.value]
        if param in positional and positional.index(param) < len(call.args):
            return [call.args[positional.index(param)]]
        defaults = dict(zip(positional[len(positional) - len(a.defaults) :], a.defaults, strict=True))
        defaults.update({p.arg: d for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d})
        return [defaults[param]] if param in defaults else []


# ---------------------------------------------------------------------------------------------- (A) safe text

EVIL = [
    "[/]",  # a MarkupError traceback, before
    "[link=https://example.com]Bag[/link]",  # a hyperlink, before
    "[bold red]loud[/]",
    "\x1b[2J\x1b[31mred",  # clears the screen and restyles what follows
    "\x9b31m",  # a C1 CSI
    "exe.\u202etxt",  # shows as "exe.txt" reversed
    "\u2066iso\u2069 \u200emark\u200f \u061calm",
    "C:\\models\\[b]old",  # a backslash before a tag
    "line\nbreak\ttab\r",
    "\udcffbytes",  # an undecodable byte of a file name
]
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def render(*renderables) -> str:
    console = Console(file=io.StringIO(), width=300, emoji=False, color_system=None)
    console.print(*renderables)
    return console.file.getvalue()


@pytest.mark.parametrize("text", EVIL)
def test_safe_text_prints_as_the_characters_it_is(text):
    shown = render(safe(text))
    assert not CONTROL.search(shown)
    assert shown.rstrip("\n") == printable(text)  # markup shown as typed, nothing interpreted


def test_printable_keeps_ordinary_text():
    assert printable("Ankle boot, T-shirt/top, é, 日本, 🙂 [x]") == "Ankle boot, T-shirt/top, é, 日本, 🙂 [x]"
    assert printable("a\x1bb\u202ec\n") == "a\\x1bb\\u202ec\\n"


def test_tables_show_class_and_model_names_as_they_are():
    from cli.compare import _tables
    from cli.render import classification_table, confusion_table

    row = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 3}
    names = EVIL[:4]
    metrics = {
        "per_class": {name: row for name in names},
        "macro_avg": row,
        "weighted_avg": row,
        "accuracy": 0.5,
        "n": 12,
    }
    matrix = [[3 if i == j else 0 for j in range(len(names))] for i in range(len(names))]
    entries = [
        {
            "label": name,
            "kind": name,
            "accuracy": 0.5,
            "num_params": 1,
            "train_seconds": 1.0,
            "latency_ms": 1.0,
            "f1": {n: 0.5 for n in names},
        }
        for name in names
    ]
    result = {"entries": entries, "f1_difference": {n: 0.0 for n in names}}
    shown = render(
        classification_table(metrics, title=safe(names[0])),
        confusion_table(matrix, names, title="m"),
        confusion_table(matrix, names, title="m", compact=True),
        *_tables(result, [e["label"] for e in entries]),
    )
    assert "[link=https://example.com]Bag[/link]" in shown and "[bold red]loud[/]" in shown
    assert not CONTROL.search(shown) and "\\x1b[2J" in shown


def test_errors_that_name_a_file_are_one_line(tmp_path):
    """The error printer itself: a `[/]` in a file name was a MarkupError traceback instead of the error."""
    model = tmp_path / "missing[/].onnx"
    result = runner.invoke(app, ["predict", str(model), str(tmp_path / "x\x1b[31m.png")])
    assert result.exit_code == 1 and not isinstance(result.exception, Exception), result.exception
    assert "missing[/].onnx" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    for name in ("fashion[/]", "fashion\x1b[2J\u202e"):
        result = runner.invoke(app, ["train", name])
        assert result.exit_code == 2 and not isinstance(result.exception, Exception), result.exception
        assert "unknown model" in result.stderr and not CONTROL.search(result.stderr)
        assert printable(name) in result.stderr


@pytest.mark.parametrize(
    "model, names",
    [
        ("tiny-linear", EVIL[:3]),  # printable: shown as they are
        ("tiny[/]", ["Bag"]),  # a MarkupError traceback, before
        ("tiny-linear", EVIL[4:7]),  # C1 and bidi controls: written to the terminal, before
    ],
)
def test_predict_shows_what_an_export_says_as_text(tmp_path, model, names):
    """Model and class names of an ONNX file are anyone's to write: they print as text, or the file is
    refused in one line; never a traceback, never an escape sequence on the terminal."""
    from PIL import Image
    from test_predict import FASHION, GRAY, make_model

    path = tmp_path / "m.onnx"
    make_model(path, {**GRAY, "model": model, "class_names": [*names, *FASHION[len(names) :]]})
    image = tmp_path / "a[bold]\x1b[31m.png"  # a `/` cannot be in a file name; `[/]` could be in a folder's
    Image.new("L", (28, 28), 128).save(image)
    result = runner.invoke(app, ["predict", str(path), str(image), "--top", "10"], env={"COLUMNS": "300"})
    assert not isinstance(result.exception, Exception), result.exception
    assert not CONTROL.search(result.output)
    assert result.exit_code == 0 or names != EVIL[:3], result.output  # printable names are not refused
    if result.exit_code != 0:  # zoo may refuse such a file, in one line
        assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.output
        return
    for shown in (model, *map(printable, names), "a[bold]\\x1b[31m.png"):
        assert shown in result.stdout, result.stdout


RULE_CASES = [
    ("out.print(f'saved to {safe(path)} in {n:.1f}s')", True),
    ("out.print(f'saved to {path}')", False),
    ("out.print(f'{n:>3}')", False),  # a width alone is no number format: a str takes it too
    ("table.add_row(r.model, f'{r.n:d}')", False),
    ("table.add_row(*(safe(x) for x in xs))", True),
    ("table.add_row(*(x for x in xs))", False),
    ("for line in report.lines:\n        out.print(line)", False),
    ("lines = ['a', safe(x)]\n    for line in lines:\n        out.print(line)", True),
    ("lines = []\n    lines.append(f'{x}')\n    out.print(*lines)", False),
    ("t = Table(title=name)", False),
    ("t = Table()\n    t.caption = f'{x}'", False),
    ("status.update(text)", False),
    ("err.print(helper(x))", False),  # returns x
    ("err.print(helper(safe(x)))", True),
    ("typer.echo(json.dumps(x))", True),
    ("typer.echo(json.dumps(x, ensure_ascii=False))", False),
    ("typer.echo(printable(x))", True),
    ("out.print(printable(x))", False),  # markup still parsed
    ("sys.stderr.write(printable(x) + '\\n')", True),
    ("sys.stderr.write(x)", False),
]


def test_cli_prints_untrusted_text_only_through_safe(tmp_path):
    """The rule of `cli.console.safe` over every cli/*.py: a new print of a name or a path that skips
    `safe` fails here, with the file, line and expression to fix. First, that the checker refuses what
    it should and takes what it should (RULE_CASES), so that a clean cli/ means something."""
    for i, (source, clean) in enumerate(RULE_CASES):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        (folder / "mod.py").write_text(
            "def helper(value):\n    return value\n\n\n@app.command()\n"
            f"def command(x, xs, path, n, r, report, name, text):\n    {source}\n"
        )
        assert (Checker(folder).violations() == []) == clean, source
    assert Checker().violations() == []


# ---------------------------------------------------------------------------------------------- (B) output


def zoo(*args: str, stdout=subprocess.PIPE, env: dict | None = None, code: str | None = None):
    """`zoo ARGS` as a real process (`python -m cli`, the same `run()` as the installed script)."""
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "cli", *args]
    return subprocess.run(
        command,
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=120,
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_disk_on_stdout_is_one_line_and_exit_1():
    with open("/dev/full", "w") as full:
        done = zoo("models", stdout=full)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == "error: cannot write to standard output: No space left on device"


def test_a_closed_pipe_ends_quietly_with_141():
    read, write = os.pipe()
    os.close(read)  # the reader is gone before zoo writes: `zoo models | head -0`
    try:
        done = zoo("models", "--json", stdout=write)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.parametrize("args", [("models",), ("models", "--json")])
def test_a_stdout_the_shell_closed_is_one_line_and_exit_1(args):
    # `zoo models >&-`: Python starts with sys.stdout = None; it was an AttributeError, exit 70
    done = subprocess.run(
        ["bash", "-c", 'exec "$0" -m cli "$@" >&-', sys.executable, *args],
        stderr=subprocess.PIPE,
        cwd=ROOT,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == "error: cannot write to standard output: Bad file descriptor"


def test_a_closed_stdout_and_stderr_end_with_exit_1_alone():
    done = subprocess.run(
        ["bash", "-c", 'exec "$0" -m cli models >&- 2>&-', sys.executable], cwd=ROOT, timeout=120
    )
    assert done.returncode == 1


def test_an_ascii_terminal_gets_ascii():
    env = {"PYTHONIOENCODING": "ascii", "COLUMNS": "200"}
    done = zoo("models", env=env)
    assert done.returncode == 0, done.stderr
    assert "fashion-cnn" in done.stdout and "+-" in done.stdout and done.stderr == ""
    done = zoo("train", "fashion-cnné", env=env)
    assert done.returncode == 2 and done.stderr.startswith("error: unknown model 'fashion-cnne'"), done.stderr


# ---------------------------------------------------------------------------------------------- (C) crashes

BOOM = (
    "import sys, cli.main, cli.models\n"
    "def boom(pattern=None):\n"
    "    raise ValueError('a bug\\nsecond line [/] \\x1b[31m')\n"
    "cli.models.list_models = boom\n"
    "sys.argv = ['zoo', 'models']\n"
    "cli.main.run()\n"
)


def test_an_unexpected_exception_is_one_line_and_a_crash_file(tmp_path):
    done = zoo(code=BOOM, env={"ZOO_ARTIFACTS": str(tmp_path), "ZOO_DEBUG": ""})
    assert done.returncode == 70, done.stderr
    line = done.stderr.strip()
    match = re.fullmatch(r"internal error: ValueError: a bug; details in (\S+); please report it", line)
    assert match, line
    crash = Path(match.group(1))
    assert crash.parent == tmp_path / "logs" and re.fullmatch(r"crash-\d{8}-\d{6}-\d+\.txt", crash.name)
    text = crash.read_text()
    assert "Traceback" in text and "in boom" in text and "ValueError: a bug" in text
    assert [p.name for p in crash.parent.iterdir()] == [crash.name]  # written atomically: no leftovers


def test_zoo_debug_prints_the_traceback_instead(tmp_path):
    done = zoo(code=BOOM, env={"ZOO_ARTIFACTS": str(tmp_path), "ZOO_DEBUG": "1"})
    assert done.returncode == 70
    assert "Traceback" in done.stderr and "in boom" in done.stderr and "\\x1b[31m" in done.stderr
    assert not CONTROL.search(done.stderr)
    assert done.stderr.strip().splitlines()[-1] == "internal error: ValueError: a bug; please report it"
    assert not (tmp_path / "logs").exists()


def test_a_crash_file_goes_to_a_temporary_file_when_artifacts_cannot_be_written(tmp_path):
    blocked = tmp_path / "artifacts"
    blocked.write_text("a file where the folder should be")
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = zoo(code=BOOM, env={"ZOO_ARTIFACTS": str(blocked), "TMPDIR": str(temp), "ZOO_DEBUG": ""})
    assert done.returncode == 70
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and f"{blocked / 'logs'} cannot be written" in line, line
    (crash,) = temp.glob("zoo-crash-*.txt")
    assert f"details in {crash} (" in line and "ValueError: a bug" in crash.read_text()


# ---------------------------------------------------------------------------------------------- (D) floats


def float_options() -> list[tuple[list[str], str]]:
    """(command path, option) of every float option of every command, walked from the Typer app."""
    found = []

    def walk(command, path):
        for param in command.params:
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            if float in (annotation, *get_args(annotation)):
                found.append((path, param.opts[0]))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_float_options_refuse_what_is_not_a_finite_number(tmp_path):
    """Every float option of every command, walked from the app (a new one without the check fails
    here): refused while parsing, before the command runs, in one line; NAME arguments are not even given."""
    options = float_options()
    assert {option for _, option in options} >= {"--lr", "--timeout", "--min-seconds", "--max-int8-drop"}
    for path, option in options:
        for value in ("nan", "inf", "-inf"):
            result = runner.invoke(app, ["--artifacts", str(tmp_path), *path, option, value])
            assert result.exit_code == 2, (option, value, result.output)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"error: {option}={value} is not allowed"), lines
            assert f"{option} takes a number" in lines[0]
    assert not list(tmp_path.iterdir())


def test_the_int8_gate_takes_accuracy_points():
    for value in ("nan", "-1", "100.5"):
        result = runner.invoke(app, ["export", "--max-int8-drop", value])
        assert result.exit_code == 2
        option = f"--max-int8-drop={float(value)} is not allowed: --max-int8-drop"
        assert result.stderr.strip() == f"error: {option} takes a number in [0, 100]"
