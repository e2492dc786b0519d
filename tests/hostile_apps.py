"""ETL servers for the hostile-input tests that run in their own process (`uvicorn tests.hostile_apps:...`)."""

from __future__ import annotations

from tests.transforms import StreamUpper, Upper

upper = Upper().app
stream_upper = StreamUpper().app
