"""ETL servers for the hostile-input tests that run in their own process (`uvicorn tests.hostile_apps:...`)."""

from __future__ import annotations

import time

from tests.transforms import StreamUpper, Upper

upper = Upper().app
stream_upper = StreamUpper().app


class SlowUpper(Upper):
    """A transform that takes its time (a model): objects pile up in front of it."""

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        time.sleep(0.2)
        return super().transform(data, path, etl_args)


slow_upper = SlowUpper().app
