"""Peak resident memory of this process, in MB.

`resource.getrusage(...).ru_maxrss` is not it for a child started by a bench: Linux carries the
parent's high-water mark across fork and exec. /proc/self/status VmHWM belongs to this address space.
"""

from __future__ import annotations

from pathlib import Path


def peak_rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
