"""A streaming ETL for subprocess tests: `uvicorn tests.streaming_app:app` (AIS_TARGET_URL from the env)."""

from __future__ import annotations

from tests.transforms import StreamUpper

app = StreamUpper().app
