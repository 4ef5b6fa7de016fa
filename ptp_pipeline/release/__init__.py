"""Release review: outputs leave only after automatic disclosure checks and a second person's approval."""

from ptp_pipeline.release.checks import Check, run_checks
from ptp_pipeline.release.review import ReleaseRefused, Request, approve, request, requests

__all__ = ["Check", "ReleaseRefused", "Request", "approve", "request", "requests", "run_checks"]
