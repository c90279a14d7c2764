"""How much memory this process can still take before the system (or its container) runs out.

zoo keeps datasets in memory as uint8 tensors; whatever would build one checks the figure first and
refuses, naming both numbers, rather than being killed by the OOM killer halfway through.
"""

from pathlib import Path

MEMINFO = Path("/proc/meminfo")
CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")


def _meminfo_available(meminfo: Path) -> int | None:
    """MemAvailable of /proc/meminfo in bytes: free memory plus the page cache the kernel can drop."""
    try:
        for line in meminfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "MemAvailable":
                number, _, unit = value.strip().partition(" ")
                return int(number) * (1024 if unit.strip() == "kB" else 1)
    except (OSError, ValueError):
        return None
    return None


def _cgroup_available(cgroup: Path) -> int | None:
    """What a cgroup v2 memory limit (a container's `--memory`) leaves: limit minus what the group uses,
    the group's inactive page cache counted as free as MemAvailable counts it; None without a limit."""
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((cgroup / "memory.current").read_text().strip())
        inactive = 0
        for line in (cgroup / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "inactive_file":
                inactive = int(value)
        return max(0, int(limit) - used + inactive)
    except (OSError, ValueError):
        return None


def _cgroup_v1_available(folder: Path) -> int | None:
    """The same for cgroup v1 (older Docker hosts), whose containers see their own group at the root;
    an unlimited group reports a limit near 2**63."""
    try:
        limit = int((folder / "memory.limit_in_bytes").read_text().strip())
        if limit >= 2**60:
            return None
        used = int((folder / "memory.usage_in_bytes").read_text().strip())
        inactive = 0
        for line in (folder / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "total_inactive_file":
                inactive = int(value)
        return max(0, limit - used + inactive)
    except (OSError, ValueError):
        return None


def _own_cgroups(root: Path, self_cgroup: Path) -> list[Path]:
    """This process's cgroup v2 folder and its ancestors up to `root`: a limit on any of them applies."""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return [root]
    for line in lines:
        if line.startswith("0::"):
            folder = root / line[3:].strip().lstrip("/")
            return [folder, *(p for p in folder.parents if p.is_relative_to(root))]
    return [root]


def available_memory(
    meminfo: Path = MEMINFO, cgroup_root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP
) -> int | None:
    """Bytes this process can allocate before memory runs out: the smallest of the system's MemAvailable
    and what each cgroup limit above it leaves; None where none can be read (not Linux): callers then
    skip the check."""
    figures = [
        _meminfo_available(meminfo),
        *map(_cgroup_available, _own_cgroups(cgroup_root, self_cgroup)),
        _cgroup_v1_available(cgroup_root / "memory"),
    ]
    known = [f for f in figures if f is not None]
    return min(known) if known else None


def format_bytes(n: int | float) -> str:
    """2.0 TiB, 1.5 GiB, 320.0 MiB, 12.0 KiB: the binary units /proc/meminfo and `free -h` use."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n)} B"
