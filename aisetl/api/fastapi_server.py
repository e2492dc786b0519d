"""`FastAPIServer`: the SDK's server class, with the same shape (`host`, `port`, `.app`, `.start()`)."""

from __future__ import annotations

from ..server.config import uvicorn_options
from ..server.fastapi_app import ETLFastAPI
from .base import ETLServer


class FastAPIServer(ETLServer):
    """An AIS ETL server: subclass it and override `transform` or `transform_stream`.

    ```python
    class Upper(aisetl.FastAPIServer):
        def transform(self, data, path, etl_args):
            return data.upper()

    server = Upper()          # reads AIS_TARGET_URL and the rest of the environment now
    app = server.app          # a FastAPI app: `uvicorn module:app` serves it, /docs documents it
    server.start()            # or run it here, on host:port, with the AIS uvicorn flags
    ```

    The name is the SDK's, so existing transformers move over by changing one import. `.app` is a
    `fastapi.FastAPI` instance: add routes, middleware, exception handlers, test it with `TestClient`.
    Object requests skip FastAPI while nothing added must see them (`fast_path`).
    """

    def __init__(self, host: str = "0.0.0.0", port: int = 8000) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.app = ETLFastAPI(self)

    @property
    def fast_path(self) -> bool:
        """Whether object requests go straight to the raw handler (True) or through FastAPI's middleware
        and routing (False: a user middleware, a route with path parameters or a mount exists)."""
        return self.app.fast_path

    def start(self) -> None:
        """Serve on `host:port` until interrupted (blocking), as the AIS runtime image does."""
        import uvicorn

        uvicorn.run(self.app, host=self.host, port=self.port, **uvicorn_options())
