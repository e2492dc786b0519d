"""The retry policy as data (section 3.6; base_etl_server.py RETRY_BACKOFF_BASE / RETRY_BACKOFF_MAX)."""

from __future__ import annotations

BACKOFF_BASE = 2.0
BACKOFF_MAX = 30.0


def backoff_delay(attempt: int) -> float:
    """Seconds to sleep after failed attempt `attempt` (0-based): 1, 2, 4, 8, 16, 30, 30, ..."""
    return min(BACKOFF_BASE ** min(attempt, 16), BACKOFF_MAX)  # capped exponent: no float overflow


def retry_budget(retries: int, replayable: bool) -> int:
    """Local retries allowed: none when the source is a one-shot request body (3.6)."""
    return retries if replayable else 0
