"""Mutation testing (`make mutation`): mutmut on the modules where a wrong answer is silent.

Each module runs in its own scratch copy of the repository (`.mutation/<name>/`, git-ignored) with its
own mutmut settings: only that module is mutated, and only the tests that exercise it run, so a module
takes minutes, not hours. Prints a score per module: killed (or timed out) / mutants tested (a mutant
no selected test reaches counts as surviving). Survivors are listed in `.mutation/<name>.survivors`
(`mutmut show NAME` inside `.mutation/<name>/` shows one), and are either killed by a test or explained
in docs/mutation.md. Survivors reviewed as equivalent (the same behaviour for every input the module can
receive) are listed in scripts/mutation_equivalent.txt with their mutated line, and reasoned in
docs/mutation.md; the score leaves them out only while `mutmut show` still shows that line, so a list
gone stale after a code change counts them as survivors again.

    python scripts/mutation.py                 # every module below
    python scripts/mutation.py disclosure audit  # some of them
    python scripts/mutation.py audit --mutants .mutation/audit.survivors  # retest earlier survivors
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutation"
COPY = ("ptp_pipeline", "tests", "protocols", "config", "dags", "docs", "pyproject.toml", "README.md")

# module name -> (files mutated, tests run against each mutant)
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "disclosure": (["ptp_pipeline/pathways/disclosure.py"],
                   ["tests/property/test_disclosure.py", "tests/unit/pathways/test_disclosure_oracle.py"]),
    "audit": (["ptp_pipeline/warehouse/audit.py"],
              ["tests/unit/warehouse/test_audit_oracle.py", "tests/unit/warehouse/test_audit_entries.py"]),
    "tokens": (["ptp_pipeline/privacy/tokens.py"],
               ["tests/unit/privacy/test_keys_tokens.py", "tests/unit/privacy/test_tokens_oracle.py"]),
    "normalise": (["ptp_pipeline/privacy/normalise.py"],
                  ["tests/unit/privacy/test_normalise.py", "tests/property/test_normalise.py",
                   "tests/unit/quality/test_nhs_digit_sum.py", "tests/unit/privacy/test_nhs_oracle.py",
                   "tests/unit/privacy/test_normalise_exact.py", "tests/unit/privacy/test_excel_serial_bounds.py"]),
    "check": (["ptp_pipeline/extract/check.py"],
              ["tests/unit/quality/test_check_fields.py", "tests/unit/quality/test_nhs_digit_sum.py"]),
    "validate": (["ptp_pipeline/quality/validate.py", "ptp_pipeline/quality/accepted.py"],
                 ["tests/unit/quality/test_validate_parts.py"]),
    "linkage": (["ptp_pipeline/linkage/cluster.py", "ptp_pipeline/linkage/fields.py"],
                ["tests/unit/linkage/test_cluster_guards.py"]),
    "optout_retention": (["ptp_pipeline/warehouse/optout.py", "ptp_pipeline/warehouse/retention.py"],
                         ["tests/unit/warehouse/test_optout_retention_rules.py"]),
}


# extra pytest arguments per module: the audit's logic is the same on both backends, so its mutants run on
# DuckDB only (PostgreSQL's vault-access check is then unreached: see docs/mutation.md)
PYTEST_ARGS: dict[str, list[str]] = {"audit": ["-k", "not postgresql"]}


# Mutants tested by default, when not all of a module's (fnmatch patterns, as `--mutants`). Left out: code
# reached only through whole ingests or GX checkpoints (about a minute a mutant on this machine), which
# wires the parts below together: `check()`, `run_suite()` and `validate()`, the opt-out's `add()` and
# `withhold()`, retention's `purge()`; and the audit's PostgreSQL-only vault-access check.
ONLY: dict[str, list[str]] = {
    "check": ["*.x_status_of__*", "*.x_check_header__*", "*.x_parse_fields__*"],
    "validate": ["*.x_gx_frame__*", "*.x_narrow__*", "*.x_with_lines__*", "*.x_dropped__*", "*.x__keep__*",
                 "*.x_read__*", "*.x_batches__*"],
    "optout_retention": ["*.x_read_nhs_numbers__*", "*.x_count__*", "*.x_latest_protocols__*", "*.x_cutoff_for__*"],
    "audit": ["*.x__entry_hash__*", "*.x__mac__*", "*.x__key__*", "*.x_append__*", "*.x_head__*",
              "*.x_record_head__*", "*.x_verify__*", "*.x_entries__*"],
}
EQUIVALENT = ROOT / "scripts" / "mutation_equivalent.txt"


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def prepare(name: str) -> Path:
    """A fresh scratch copy of the repository whose pyproject mutates `name` and selects its tests."""
    files, tests = MODULES[name]
    work = SCRATCH / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for item in COPY:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, work / item, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
        elif src.exists():
            shutil.copy2(src, work / item)
    present = [t for t in tests if (work / t.split("::")[0]).exists()]
    settings = "\n".join([
        "", "[tool.mutmut]",
        'source_paths = ["ptp_pipeline"]',
        f"only_mutate = {_toml_list(files)}",
        f"pytest_add_cli_args_test_selection = {_toml_list(present)}",
        f"pytest_add_cli_args = {_toml_list(['-q', '-x', '-p', 'no:cov', *PYTEST_ARGS.get(name, [])])}",
        f"also_copy = {_toml_list([c for c in COPY if c not in ('ptp_pipeline', 'tests', 'pyproject.toml')])}",
        "use_git_change_detection = false",
        "",
    ])
    with (work / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write(settings)
    return work


def verdicts(work: Path) -> dict[str, str]:
    """Each checked mutant's verdict (killed, survived, timeout, ...), from mutmut's own files."""
    from mutmut.stats import status_by_exit_code

    found: dict[str, str] = {}
    for meta in (work / "mutants").rglob("*.py.meta"):
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        found.update({name: status_by_exit_code[code] for name, code in codes.items() if code is not None})
    return found


def run(name: str, children: int, mutants: list[str]) -> dict[str, object]:
    work = prepare(name)
    env = {**os.environ, "PYTHONPATH": "", "HYPOTHESIS_PROFILE": "ci"}
    started = time.monotonic()
    with (SCRATCH / f"{name}.log").open("w", encoding="utf-8") as log:
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *mutants],
                       cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    found = verdicts(work)
    if mutants:
        found = {k: v for k, v in found.items() if any(fnmatch.fnmatch(k, pattern) for pattern in mutants)}
    caught = sum(v in ("killed", "timeout", "segfault") for v in found.values())
    survivors = sorted(k for k, v in found.items() if v in ("survived", "no tests"))
    equivalent = [k for k in survivors if still_equivalent(work, k)]
    (SCRATCH / f"{name}.survivors").write_text("".join(f"{k}\n" for k in survivors if k not in equivalent),
                                               encoding="utf-8")
    judged = len(found) - len(equivalent)
    return {"module": name, "mutants": len(found), "killed": caught, "survived": len(survivors),
            "equivalent": len(equivalent), "score": round(100 * caught / len(found), 1) if found else None,
            "score_non_equivalent": round(100 * caught / judged, 1) if judged else None,
            "minutes": round((time.monotonic() - started) / 60, 1)}


def reviewed_equivalent() -> dict[str, str]:
    """Mutant name -> its mutated line, as reviewed (scripts/mutation_equivalent.txt: `name | line`)."""
    pairs = (line.split(" | ", 1) for line in EQUIVALENT.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#"))
    return {name.strip(): text.strip() for name, text in pairs}


def still_equivalent(work: Path, mutant: str) -> bool:
    """Listed as equivalent, and the mutant still changes the line that was reviewed."""
    reviewed = reviewed_equivalent().get(mutant)
    if reviewed is None:
        return False
    shown = subprocess.run([sys.executable, "-m", "mutmut", "show", mutant], cwd=work, capture_output=True,
                           text=True, check=False, env={**os.environ, "PYTHONPATH": ""}).stdout
    added = [line[1:].strip() for line in shown.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return reviewed in added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"any of: {', '.join(MODULES)} (default: all)")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--mutants", type=Path, help="a file of mutant names or patterns (one a line, e.g. a "
                        "module's .survivors from an earlier run, or ptp_pipeline.warehouse.audit.x_verify__*): test "
                        "only those, with one module")
    args = parser.parse_args()
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s): {', '.join(unknown)}")
    names = args.mutants.read_text(encoding="utf-8").split() if args.mutants else []
    if names and len(args.modules) != 1:
        parser.error("--mutants goes with exactly one module")
    results = [run(name, args.children, names or ONLY.get(name, [])) for name in (args.modules or list(MODULES))]
    print(f"{'module':<18}{'mutants':>8}{'killed':>8}{'survived':>9}{'equiv.':>7}{'score %':>9}{'non-eq. %':>10}"
          f"{'min':>6}")
    for r in results:
        print(f"{r['module']:<18}{r['mutants']:>8}{r['killed']:>8}{r['survived']:>9}{r['equivalent']:>7}"
              f"{r['score'] if r['score'] is not None else '-':>9}"
              f"{r['score_non_equivalent'] if r['score_non_equivalent'] is not None else '-':>10}{r['minutes']:>6}")
    (SCRATCH / "scores.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
