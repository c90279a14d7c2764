"""What zoo accepts in the files it reads and writes, in one place: the printable-text rule and the size
limits that run.json, the ONNX metadata, folder-dataset manifests and `zoo data add` share.

Text that reaches a terminal holds no C0 or C1 control or DEL (an ANSI escape in a class name would restyle
the terminal, and \\x9b starts one on terminals that read C1 codes; CR and BS overwrite what is shown), no
line or paragraph separator (U+2028/2029 break a line in editors and browsers), and no bidi override,
embedding, isolate or mark (they reorder what follows them: "exe.txt" can read as "txt.exe").
"""

import re
from typing import Annotated

from pydantic import Field

NOT_PRINTABLE = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
NOT_PRINTABLE_RE = re.compile(f"[{NOT_PRINTABLE}]")

# An image of at most 4 channels (RGBA) and 4096x4096 pixels (64 MiB as float32): what zoo reads from a file
# before it allocates anything, so a file asking for 30000x30000 is refused, not a MemoryError.
MAX_CHANNELS, MAX_SIDE = 4, 4096
# A class name is a label people read (and bench draws as a tick label): a 30,000-character one exhausted
# memory while drawing the confusion matrix.
MAX_CLASS_NAME = 200

Printable = Annotated[str, Field(pattern=f"^[^{NOT_PRINTABLE}]*$")]
ClassName = Annotated[Printable, Field(max_length=MAX_CLASS_NAME)]


def escape_unprintable(text: str) -> str:
    """`text` with every character the rule refuses shown as its Python escape (`\\x1b`, `\\u202e`)."""
    return NOT_PRINTABLE_RE.sub(lambda m: ascii(m.group())[1:-1], text)
