"""Shared by the benches: peak resident memory of this process, a scratch warehouse per run, and pairwise
precision/recall of linked persons against the truth.

Peak resident memory, in MB:

`resource.getrusage(...).ru_maxrss` is not it for a child started by a bench: Linux carries the
parent's high-water mark across fork and exec. /proc/self/status VmHWM belongs to this address space.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pandas as pd


def peak_rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def reset_peak_rss() -> None:
    """Start a new high-water mark (Linux: writing 5 to clear_refs resets VmHWM), so a stage's own peak
    can be read after it; a no-op where the kernel does not offer it."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_warehouse(backend: str, prefix: str, home: Path | None = None) -> Iterator[str]:
    """A warehouse URL for one run: a DuckDB file in a temporary folder (or `home`), or a throwaway
    PostgreSQL database on 127.0.0.1:5432, dropped afterwards."""
    if backend == "duckdb":
        folder = home or Path(tempfile.mkdtemp(prefix=prefix))
        try:
            yield f"duckdb:///{folder}/ptp.duckdb"
        finally:
            if home is None:  # a folder of our own: gigabytes at bench sizes
                shutil.rmtree(folder, ignore_errors=True)
        return
    import psycopg

    db = f"{prefix.strip('-').replace('-', '_')}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {db}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{db}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def pair_counts(pred: pd.Series, true: pd.Series, agency: pd.Series) -> dict[str, float]:
    """Pairwise precision/recall via contingency counts (no pair enumeration)."""
    frame = pd.DataFrame({"p": pred.astype(object).to_numpy(), "t": true.to_numpy(), "a": agency.to_numpy()})
    unlinked = frame["p"].isna()  # a record with no key links to nobody: its own singleton
    frame.loc[unlinked, "p"] = [f"__single_{i}" for i in range(int(unlinked.sum()))]
    frame["p"] = frame["p"].astype(str)

    def c2(n: pd.Series) -> float:
        return float((n * (n - 1) / 2).sum())

    def cross(keys: list[str]) -> float:
        # pairs within groups minus pairs within the same agency inside those groups
        return c2(frame.groupby(keys).size()) - c2(frame.groupby([*keys, "a"]).size())

    tp, pred_pairs, true_pairs = c2(frame.groupby(["p", "t"]).size()), c2(frame.groupby("p").size()), c2(
        frame.groupby("t").size())
    xtp, xpred, xtrue = cross(["p", "t"]), cross(["p"]), cross(["t"])
    return {"precision": tp / pred_pairs if pred_pairs else 1.0, "recall": tp / true_pairs if true_pairs else 1.0,
            "x_precision": xtp / xpred if xpred else 1.0, "x_recall": xtp / xtrue if xtrue else 1.0}
