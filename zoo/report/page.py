"""The HTML page: sections of figures, tables and notes, rendered into one self-contained file.

Figures are embedded as base64 data URIs and the CSS is inline, so the page can be mailed or archived
as one file; the PNGs are also written beside it for slides. Every piece of text goes through
html.escape: class names, study names and parameters come from users."""

import base64
import html
from dataclasses import dataclass, field

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; } th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figure img { max-width: 100%; } figcaption { color: #555; font-size: .9rem; }
p.note { color: #666; font-style: italic; } nav ol { columns: 2; }
"""


@dataclass
class Image:
    filename: str  # also the PNG written beside report.html
    caption: str
    png: bytes


@dataclass
class Note:
    text: str


@dataclass
class Table:
    columns: list[str]
    rows: list[list]  # numbers are right-aligned; floats shown with 4 decimals


@dataclass
class Paragraphs:
    lines: list[str]


Part = Image | Note | Table | Paragraphs


@dataclass
class Section:
    id: str
    title: str
    parts: list[Part] = field(default_factory=list)

    def images(self) -> list[Image]:
        return [p for p in self.parts if isinstance(p, Image)]


def _cell(value) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{html.escape(str(value if value is not None else ''))}</td>"
    if isinstance(value, float):
        return f'<td class="num">{value:.4f}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _part(part: Part) -> str:
    if isinstance(part, Image):
        data = base64.b64encode(part.png).decode("ascii")
        alt = html.escape(part.caption, quote=True)
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption>{html.escape(part.caption)}</figcaption></figure>"
        )
    if isinstance(part, Note):
        return f'<p class="note">{html.escape(part.text)}</p>'
    if isinstance(part, Paragraphs):
        items = "".join(f"<li>{html.escape(line)}</li>" for line in part.lines)
        return f"<ul>{items}</ul>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in part.columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in part.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(title: str, summary: Table, sections: list[Section]) -> str:
    toc = "".join(
        f'<li><a href="#{html.escape(s.id, quote=True)}">{html.escape(s.title)}</a></li>' for s in sections
    )
    body = "\n".join(
        f'<section id="{html.escape(s.id, quote=True)}"><h2>{html.escape(s.title)}</h2>'
        + "".join(_part(p) for p in s.parts)
        + "</section>"
        for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{_part(summary)}"
        f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>\n{body}\n</body></html>\n"
    )
