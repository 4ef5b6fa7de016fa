"""Retry with exponential backoff for an unreachable source; a refused login is never retried."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ptp_pipeline.pull.errors import LoginRefused, SourceError, SourceUnreachable

T = TypeVar("T")
log = logging.getLogger(__name__)


class Transient(Exception):
    """Raised by a connector for a fault worth retrying (network, server busy, HTTP 5xx)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    first_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 60.0


def with_retry(what: str, conn_id: str, policy: RetryPolicy, fn: Callable[[], T]) -> T:
    """Run `fn`; retry `Transient` faults with backoff, then raise SourceUnreachable naming the connection."""
    delay = policy.first_delay
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except (LoginRefused, SourceError):
            raise
        except Transient as exc:
            if attempt == policy.attempts:
                raise SourceUnreachable(
                    f"{what} through connection '{conn_id}' failed {attempt} times: {exc}",
                    hint=f"Check that the partner's server is up and that connection '{conn_id}' has the right "
                         "host and port; the pull can be rerun at any time (nothing half-landed).",
                ) from None
            log.warning("%s through connection '%s' failed (%s); retry %d/%d in %.1fs",
                        what, conn_id, exc, attempt, policy.attempts - 1, delay)
            time.sleep(delay)
            delay = min(delay * policy.factor, policy.max_delay)
    raise AssertionError("unreachable")
