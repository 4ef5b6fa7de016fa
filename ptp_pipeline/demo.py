"""`ptp demo`: synthetic partner extracts through every stage on the embedded DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ptp_pipeline.pathways import Headline, headline
from ptp_pipeline.pipeline import Outcome, ingest
from ptp_pipeline.privacy.keys import new_key_file
from ptp_pipeline.privacy.vault import new_reid_keypair
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.synthetic import SyntheticConfig, generate


@dataclass(frozen=True)
class DemoResult:
    outcomes: list[Outcome]
    headline: Headline
    key_created: str | None
    docs_index: str | None
    report: str | None = None


def ensure_demo_key(rt: Runtime) -> str | None:
    """Create local demo keys (0600) unless configured; returns the project key path if created.

    Also a re-identification key pair, so the demo's vault is sealed and `ptp reidentify` works.
    """
    s = rt.settings
    if s.reid_public_key_file is None and not s.default_reid_public_key_file.exists():
        new_reid_keypair(s.home / "keys" / "reid_private.pem", s.default_reid_public_key_file)
    if s.key is not None or s.key_file is not None or s.default_key_file.exists():
        return None
    return str(new_key_file(s.default_key_file))


def run_demo(rt: Runtime, n_persons: int = 5000, seed: int = 42,
             progress: Callable[[str], None] | None = None) -> DemoResult:
    created = ensure_demo_key(rt)
    generated = generate(rt.settings.home / "demo", SyntheticConfig(n_persons=n_persons, seed=seed))
    outcomes = []
    for extract in generated.extracts:
        if progress:
            progress(f"{extract.partner}/{extract.dataset}: {extract.path.name}")
        outcomes.append(ingest(rt, extract.path, extract.partner, extract.dataset))
    docs = rt.settings.docs_dir / "index.html"
    from ptp_pipeline.pathways import rebuild
    from ptp_pipeline.report import write_report

    rebuild(rt)
    report = write_report(rt.warehouse, rt.project, rt.settings.home / "reports" / "pathways.html")
    return DemoResult(outcomes, headline(rt.warehouse, rt.project.top_share), created,
                      str(docs.resolve()) if docs.exists() else None, str(report.resolve()))
