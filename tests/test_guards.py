"""Destinations zoo replaces as whole folders (zoo.core.names.replace_folder): a symlinked one is followed and
nothing is left beside it; one that cannot be replaced is refused with one line."""

import pytest

from zoo.core.errors import UsageError
from zoo.core.names import replace_folder, temporary_sibling


def _folder(path, **files):
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def _markers(*parents):
    return [p for parent in parents for p in parent.iterdir() if p.name.startswith(".zoo-")]


@pytest.mark.parametrize("beside", ["link", "target"])
def test_a_symlinked_destination_is_followed_and_nothing_is_left(beside, tmp_path):
    """The link stays a link and shows the new folder; the folder it points to is replaced as a whole
    (no old file survives), whether the new folder was built beside the link (it is moved over) or
    beside the folder it points to; no `.zoo-tmp.*` or `.zoo-old.*` entry is left in either parent."""
    real = _folder(tmp_path / "store" / "real", old="old", stale="stale")
    (tmp_path / "links").mkdir()
    link = tmp_path / "links" / "current"
    link.symlink_to(real, target_is_directory=True)
    built = temporary_sibling(link if beside == "link" else real)
    (built / "new").write_text("new")
    replace_folder(built, link)
    assert link.is_symlink() and link.readlink() == real
    assert sorted(p.name for p in real.iterdir()) == ["new"]
    assert not _markers(tmp_path / "store", tmp_path / "links") and not built.exists()


def test_a_dangling_link_gets_the_folder_it_points_to(tmp_path):
    (tmp_path / "links").mkdir()
    link = tmp_path / "links" / "current"
    link.symlink_to(tmp_path / "store" / "real", target_is_directory=True)
    built = _folder(tmp_path / "links" / ".zoo-tmp.h.1.ab.current", new="new")
    replace_folder(built, link)
    assert link.is_symlink() and (tmp_path / "store" / "real" / "new").read_text() == "new"
    assert not _markers(tmp_path / "store", tmp_path / "links")


def test_the_current_directory_is_never_swapped_away(tmp_path, monkeypatch):
    """Renaming the current directory over failed with EBUSY after the work was done (`--out .`)."""
    here = _folder(tmp_path / "here", old="old")
    built = _folder(tmp_path / "built", new="new")
    monkeypatch.chdir(here)
    with pytest.raises(UsageError, match=r"is the current directory.*pick a new or empty folder"):
        replace_folder(built, here)
    with pytest.raises(UsageError, match="holds the current directory"):
        replace_folder(built, tmp_path)
    assert (here / "old").read_text() == "old" and (built / "new").read_text() == "new"
