"""`ptp ingest` starts the validate stage's imports (Great Expectations: 3-4 s in a fresh process) on a
thread when the extract is received, so they overlap the check and pseudonymise stages instead of
following them. Run in fresh processes: this test session imported Great Expectations long ago."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ptp_pipeline.synthetic import SyntheticResult

SCRIPT = """
import json, secrets, sys, threading
from pathlib import Path
from ptp_pipeline import pipeline
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

seen = {"before": "great_expectations" in sys.modules}
real_check = pipeline.check

def check(rt, extract_id):
    names = [t.name for t in threading.enumerate()]
    seen["at_check"] = "ptp-import-validation" in names or "great_expectations" in sys.modules
    return real_check(rt, extract_id)

pipeline.check = check
rt = Runtime(load_settings({"PTP_HOME": sys.argv[2], "PTP_KEY": secrets.token_hex(32)}))
result = pipeline.ingest(rt, Path(sys.argv[1]), "police", "incidents")
seen["status"] = result.status
print(json.dumps(seen))
"""


def test_ingest_imports_validation_while_the_extract_is_checked(synthetic: SyntheticResult, tmp_path: Path) -> None:
    extract = next(e.path for e in synthetic.extracts if e.partner == "police")
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(extract), str(tmp_path / "home")], capture_output=True,
                         text=True, check=True, env={**os.environ}, timeout=300)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"before": False, "at_check": True, "status": "merged"}


def test_a_module_that_will_not_import_is_left_for_its_stage() -> None:
    script = ("from ptp_pipeline.preload import import_in_background\n"
              "t = import_in_background(('ptp_no_such_module', 'json'))\n"
              "t.join(); import sys; print('json' in sys.modules, 'ptp_no_such_module' in sys.modules)\n"
              "print(import_in_background(('json',)))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["True", "False", "None"] and "Traceback" not in out.stderr
