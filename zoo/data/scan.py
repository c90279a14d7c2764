"""Walk a folder of class folders: which files are images to read, of which class and split, and what is
skipped and why. Nothing here opens a file; reading and decoding happen in `zoo.data.decode`.

Two layouts: PATH/<class>/... (zoo keeps a stratified test split), or PATH/train/<class>/...,
PATH/test/<class>/... and optionally PATH/val/<class>/... with the same class folders in each. Files
anywhere below a class folder belong to that class. Links are followed where they stay inside PATH;
one leading outside is skipped and counted, as are hidden entries, special files (FIFOs, sockets),
names that are not UTF-8 and files outside every class folder.
"""

import os
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from zoo.core.errors import DataError, UsageError
from zoo.core.schema import MAX_CLASS_NAME, NOT_PRINTABLE_RE, escape_unprintable

LAYOUT_CLASSES = "class-folders"
LAYOUT_SPLITS = "split-folders"
SPLIT_FOLDERS = ("train", "val", "test")  # also the order of splits in the tensor file and reports
WHOLE = "all"  # the split of a file in the class-folder layout, before zoo splits off the test set

# Skip reasons of the scan (decode adds its own, zoo.core.images)
HIDDEN = "hidden"
OUTSIDE = "link leading outside PATH"
BROKEN_LINK = "broken link"
LINK_LOOP = "linked folder already read"
SPECIAL = "not a regular file"
NOT_UTF8 = "name not UTF-8"
LOOSE = "not in a class folder"
UNLISTABLE = "unreadable folder"


def shown(name: str) -> str:
    """`name` as one printable line: controls, bidi marks and undecodable bytes as Python escapes."""
    if not is_utf8(name):
        name = os.fsencode(name).decode("utf-8", "backslashreplace")
    return escape_unprintable(name)


def is_utf8(name: str) -> bool:
    """False for a name holding bytes that are not UTF-8 (Python keeps them as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class SourceFile:
    path: str  # what to open (a link is opened as the link: it was checked to stay inside PATH)
    relative: str  # below PATH, with "/": recorded in the manifest and shown in reports
    split: str  # "train", "val", "test", or WHOLE
    label: int


@dataclass(frozen=True)
class Skip:
    relative: str  # printable (see `shown`)
    reason: str
    detail: str = ""


@dataclass
class Scan:
    root: Path  # resolved
    layout: str
    class_names: list[str]
    files: list[SourceFile]  # in split order, then class, then path: the order of the tensor rows
    skipped: list[Skip] = field(default_factory=list)

    @property
    def splits(self) -> list[str]:
        present = {f.split for f in self.files}
        return [s for s in (*SPLIT_FOLDERS, WHOLE) if s in present]


class _Walker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.skipped: list[Skip] = []
        self.visited: set[str] = set()

    def _inside(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self.real_root.rstrip(os.sep) + os.sep)

    def entries(self, folder: str, relative: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
        """(folders, files) of `folder`: (name, path, relative) and (path, relative); skips recorded."""
        real = os.path.realpath(folder)
        if real in self.visited:
            self.skipped.append(Skip(shown(relative), LINK_LOOP))
            return [], []
        self.visited.add(real)
        try:
            with os.scandir(folder) as it:
                listed = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.skipped.append(Skip(shown(relative or "."), UNLISTABLE, exc.strerror or str(exc)))
            return [], []
        folders, files = [], []
        for entry in listed:
            rel = f"{relative}/{entry.name}" if relative else entry.name
            kind = self._kind(entry, rel)
            if kind == "dir":
                folders.append((entry.name, entry.path, rel))
            elif kind == "file":
                files.append((entry.path, rel))
        return folders, files

    def _kind(self, entry: os.DirEntry, rel: str) -> str | None:
        if not is_utf8(entry.name):
            self.skipped.append(Skip(shown(rel), NOT_UTF8))
            return None
        if entry.name.startswith("."):
            self.skipped.append(Skip(shown(rel), HIDDEN))
            return None
        try:
            if not entry.is_symlink():  # the type the directory listing gives: no system call per file
                if entry.is_file(follow_symlinks=False):
                    return "file"
                if entry.is_dir(follow_symlinks=False):
                    return "dir"
                self.skipped.append(Skip(shown(rel), SPECIAL))  # a FIFO would block the read forever
                return None
            if not self._inside(os.path.realpath(entry.path)):
                self.skipped.append(Skip(shown(rel), OUTSIDE))
                return None
            mode = os.stat(entry.path).st_mode  # follows the link
        except FileNotFoundError:
            self.skipped.append(Skip(shown(rel), BROKEN_LINK))
            return None
        except OSError as exc:
            self.skipped.append(Skip(shown(rel), SPECIAL, exc.strerror or str(exc)))
            return None
        if stat.S_ISDIR(mode):
            return "dir"
        if stat.S_ISREG(mode):
            return "file"
        self.skipped.append(Skip(shown(rel), SPECIAL))  # a FIFO would block the read forever
        return None

    def files_below(self, folder: str, relative: str) -> list[tuple[str, str]]:
        """Every file at any depth below `folder`, sorted by relative path."""
        folders, files = self.entries(folder, relative)
        for _, path, rel in folders:
            files.extend(self.files_below(path, rel))
        return sorted(files, key=lambda f: f[1])

    def loose(self, files: list[tuple[str, str]]) -> None:
        self.skipped.extend(Skip(shown(rel), LOOSE) for _, rel in files)


def _check_class_name(name: str, where: str) -> None:
    if NOT_PRINTABLE_RE.search(name):
        raise DataError(
            f"class folder '{where}{shown(name)}' holds control or bidi characters, which would garble "
            "every report; rename the folder"
        )
    if len(name) > MAX_CLASS_NAME:
        raise DataError(
            f"class folder {where}{shown(name)[:40]}... has a {len(name)}-character name; class names are "
            f"at most {MAX_CLASS_NAME} characters: rename the folder"
        )


def _class_folders(walker: _Walker, folder: str, relative: str, where: str) -> dict[str, str]:
    """{class name: folder path} of `folder`; files directly in it are skipped as loose."""
    # a class folder whose name is not UTF-8 is an error, not a skip: a whole class would vanish
    try:
        with os.scandir(folder) as it:
            bad = [e.name for e in it if not is_utf8(e.name) and e.is_dir()]
    except OSError as exc:
        raise DataError(f"cannot list {folder}: {exc.strerror or exc}; check its permissions") from None
    if bad:
        raise DataError(
            f"class folder '{where}{shown(bad[0])}' has a name that is not UTF-8, and class names must be "
            "text; rename the folder"
        )
    folders, files = walker.entries(folder, relative)
    walker.loose(files)
    classes: dict[str, str] = {}
    spelled: dict[str, str] = {}  # NFKC form -> the folder name that has it
    for name, path, _ in folders:
        _check_class_name(name, where)
        look = unicodedata.normalize("NFKC", name)
        if look in spelled:
            raise DataError(
                f"class folders '{where}{shown(spelled[look])}' and '{where}{shown(name)}' are one name in "
                f"two Unicode spellings ({spelled[look]!a} and {name!a}), which would be two classes that "
                "look alike; move the images into one of them"
            )
        spelled[look] = name
        # one spelling for every class: train/ and test/ written by different tools (macOS writes NFD) agree
        classes[unicodedata.normalize("NFC", name)] = path
    return classes


def _no_classes(root: Path) -> DataError:
    return DataError(
        f"{root} holds no class folders; put the images of each class in a folder named after it "
        f"({root}/cat/1.png, {root}/dog/2.png), or use train/ and test/ folders that each hold them"
    )


def scan(path: str | os.PathLike) -> Scan:
    """The files to read below `path` and the skipped entries; DataError for a layout zoo cannot use."""
    root = Path(path).expanduser()
    if not root.exists():
        raise UsageError(f"{root} does not exist; pass the folder that holds one folder per class")
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder; pass the folder that holds one folder per class")
    root = root.resolve()
    if not is_utf8(str(root)):  # it is recorded in the manifest, which is text
        raise UsageError(f"the path {shown(str(root))} is not UTF-8 text; rename the folder")
    walker = _Walker(root)
    top = _class_folders(walker, str(root), "", "")
    split_names = [s for s in SPLIT_FOLDERS if s in top]
    if split_names:
        layout = LAYOUT_SPLITS
        per_split = _split_layout(walker, root, top, split_names)
    else:
        layout = LAYOUT_CLASSES
        per_split = {WHOLE: top}
    class_names = sorted(next(iter(per_split.values())))
    if not class_names:
        raise _no_classes(root)
    if len(class_names) == 1:
        raise DataError(
            f"{root} has a single class folder ({shown(class_names[0])}); a classifier needs at least two: "
            "add a folder of images for each other class"
        )
    files = []
    for split, classes in per_split.items():
        prefix = "" if split == WHOLE else f"{split}/"
        for label, name in enumerate(class_names):
            found = walker.files_below(classes[name], prefix + name)
            if not found:
                raise DataError(
                    f"class folder {prefix}{shown(name)}/ in {root} holds no image files; add images or "
                    "remove the folder"
                )
            files.extend(SourceFile(p, rel, split, label) for p, rel in found)
    return Scan(root, layout, class_names, files, walker.skipped)


def _split_layout(
    walker: _Walker, root: Path, top: dict[str, str], split_names: list[str]
) -> dict[str, dict[str, str]]:
    missing = [s for s in ("train", "test") if s not in top]
    if missing:
        have = "/, ".join(split_names)
        raise DataError(
            f"{root} has {have}/ but no {missing[0]}/; add {missing[0]}/ with the same class folders, or "
            "put the class folders directly in the folder (zoo then keeps --test-fraction of each class "
            "for testing)"
        )
    others = sorted(set(top) - set(split_names))
    if others:
        listed = ", ".join(shown(o) + "/" for o in others[:5])
        raise DataError(
            f"{root} holds train/ and test/ beside other folders ({listed}); move every class folder "
            "into train/ and test/"
        )
    per_split = {s: _class_folders(walker, top[s], s, f"{s}/") for s in split_names}
    train = set(per_split["train"])
    if not train:
        raise _no_classes(root / "train")
    for split in split_names[1:]:
        lacking = sorted(train - set(per_split[split]))
        if lacking:
            raise DataError(
                f"class '{shown(lacking[0])}' has a folder in train/ but none in {split}/ "
                f"({len(lacking)} such); every class needs {split} images: add {split}/{shown(lacking[0])}/"
            )
        extra = sorted(set(per_split[split]) - train)
        if extra:
            raise DataError(
                f"{split}/{shown(extra[0])}/ has no train/{shown(extra[0])}/ ({len(extra)} such); "
                "the splits must hold the same class folders"
            )
    return per_split
