"""Seeded synthetic partner extracts with ground truth, for the demo, tests and benchmarks.

``generate(out_dir, SyntheticConfig(...))`` writes a council, a health and a police extract
for one synthetic population calibrated to published figures (Hard Edges 2015 agency
overlap; the Total Place pilot's 80/20 cost concentration), with realistic identifier noise,
duplicates and invalid rows, plus truth files that say which person each row belongs to.
See ``SyntheticConfig`` for every default and its source.
"""

from ptp_pipeline.synthetic.config import ExtractFile, SyntheticConfig, SyntheticResult
from ptp_pipeline.synthetic.extracts import SPECS
from ptp_pipeline.synthetic.faults import INVALID_KINDS
from ptp_pipeline.synthetic.generator import generate

EXTRACT_COLUMNS: dict[str, tuple[str, ...]] = {
    f"{spec.partner}/{spec.dataset}": spec.columns for spec in SPECS.values()
}

__all__ = [
    "EXTRACT_COLUMNS",
    "INVALID_KINDS",
    "ExtractFile",
    "SyntheticConfig",
    "SyntheticResult",
    "generate",
]
