"""The docs site and the README (issue 39): the site builds with `mkdocs build --strict` (every link and
anchor resolves, every page is in the nav), and README.md stays a page whose relative links point at files."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_LINES = 250


def test_the_docs_site_builds_strict_into_a_folder_outside_the_repository(tmp_path):
    site = tmp_path / "site"
    docs_before = sorted(p.relative_to(ROOT) for p in (ROOT / "docs").rglob("*"))
    site_before = (ROOT / "site").exists()
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # Material's end-of-life banner, not a build warning
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    # mkdocs writes its warnings (a broken link, an anchor, a page missing from the nav) on stderr
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr}\n{done.stdout}"
    assert (site / "index.html").is_file()
    assert sorted(p.relative_to(ROOT) for p in (ROOT / "docs").rglob("*")) == docs_before
    assert (ROOT / "site").exists() == site_before, "the build wrote into the repository"
    # the shipped models' table is README's block, included by pymdownx.snippets: every model is on the page
    pretrained = (site / "pretrained" / "index.html").read_text()
    rows = list(csv.DictReader((ROOT / "benchmarks" / "results-fashion-mnist.csv").read_text().splitlines()))
    assert rows and all(f"<code>{r['model']}</code>" in pretrained for r in rows)


def test_the_readme_fits_on_a_page_and_keeps_the_test_command():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; guides belong in docs/"
    text = "\n".join(lines)
    assert "make test" in text  # CI's .ci/run runs the README's test command
    assert "](docs/img/zoo.png)" in text


def test_every_relative_link_in_the_readme_points_at_a_file():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]
    assert relative, "README.md links to no file at all"
    missing = [t for t in relative if not (ROOT / t.split("#", 1)[0]).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
    # every docs page is reachable from the README's list, so the README is a table of contents too
    linked = {(ROOT / t.split("#", 1)[0]).resolve() for t in relative}
    pages = {p.resolve() for p in (ROOT / "docs").glob("*.md")}
    assert not pages - linked, f"docs pages README.md does not link: {sorted(p.name for p in pages - linked)}"
