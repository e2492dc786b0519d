"""`FastAPIServer`: the SDK's server class, with the same shape (`host`, `port`, `.app`, `.start()`)."""

from __future__ import annotations

from ..server.app import ETLApp
from ..server.config import uvicorn_options
from .base import ETLServer


class FastAPIServer(ETLServer):
    """An AIS ETL server: subclass it and override `transform` or `transform_stream`.

    ```python
    class Upper(aisetl.FastAPIServer):
        def transform(self, data, path, etl_args):
            return data.upper()

    server = Upper()          # reads AIS_TARGET_URL and the rest of the environment now
    app = server.app          # the ASGI app: `uvicorn module:app` serves it
    server.start()            # or run it here, on host:port, with the AIS uvicorn flags
    ```

    The name is the SDK's, so existing transformers move over by changing one import. `.app` is a
    plain ASGI app, not a FastAPI instance.
    """

    def __init__(self, host: str = "0.0.0.0", port: int = 8000) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.app = ETLApp(self)

    def start(self) -> None:
        """Serve on `host:port` until interrupted (blocking), as the AIS runtime image does."""
        import uvicorn

        uvicorn.run(self.app, host=self.host, port=self.port, **uvicorn_options())
