"""`ETLServer`: the SDK-shaped base class (environment, transform detection), without any I/O."""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import resource
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from ..server.stats import ServerStats, redact_logs
from ..wire import DEFAULT_MIME_TYPE, Settings, decode_fqn, read_settings
from ..wire.safety import redact
from . import features
from .environ import environ_layer


@contextlib.contextmanager
def environ_override(environ: Mapping[str, str]) -> Iterator[None]:
    """Run the block as if `environ` were the whole of os.environ (a hermetic server, in tests and demos)."""
    with environ_layer(environ, inherit=False):
        yield


def current_environ() -> Mapping[str, str]:
    """os.environ as the calling context sees it: a served server's own settings (aisetl.api.environ)."""
    return os.environ


def _raise_open_file_limit() -> None:
    # CRI-O starts pods with a soft limit of 1024 open files; AIS keeps many connections per target.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class ETLServer:
    """Base class of every AIS ETL server: override `transform` or `transform_stream`.

    ```python
    class Upper(aisetl.FastAPIServer):
        def transform(self, data, path, etl_args):
            return data.upper()
    ```

    The environment is read once, at construction (AIS_TARGET_URL is required; see the README for the
    rest). When both methods are overridden, `transform` (buffered) is used, as in the SDK.
    """

    def __init__(self) -> None:
        _raise_open_file_limit()
        self.settings: Settings = read_settings(current_environ())
        # The SDK's attribute names, for transformers that read them.
        self.host_target: str = self.settings.target_url
        self.direct_put: bool = self.settings.direct_put
        self.direct_fqn: bool = self.settings.direct_fqn
        self.direct_put_retries: int = self.settings.direct_put_retries
        self.token: str | None = self.settings.authn_token
        self.logger = logging.getLogger(f"aisetl.{type(self).__name__}")
        self.stats = ServerStats(secrets=self.settings.secrets)
        # Log lines of this server, and uvicorn's (an escaped traceback), never show the secret or token.
        redact_logs(self.logger, self.settings.secrets)
        redact_logs(logging.getLogger("uvicorn.error"), self.settings.secrets)

        cls = type(self)
        has_transform = cls.transform is not ETLServer.transform
        has_stream = cls.transform_stream is not ETLServer.transform_stream
        if not has_transform and not has_stream:
            raise TypeError(f"{cls.__name__} must override either transform() or transform_stream()")
        self.use_streaming: bool = has_stream and not has_transform
        # An `async def transform` runs on the event loop; a plain one in a worker thread.
        self.transform_is_async: bool = has_transform and inspect.iscoroutinefunction(self.transform)

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        """Buffered mode: return the transformed object.

        `data` is the object's bytes, or its file path (str) on the first pipeline stage when
        ETL_DIRECT_FQN is true. `path` is the object path ("bucket/object"), `etl_args` the per-request
        argument string ("" when absent).
        """
        raise NotImplementedError("Subclass must override either transform() or transform_stream()")

    def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
        """Streaming mode: read the object from `reader` (binary, file-like), yield output chunks.

        Memory stays constant whatever the object size; each yielded chunk is one body write.
        """
        raise NotImplementedError("Subclass must override either transform() or transform_stream()")

    def get_mime_type(self) -> str:
        """Content-Type of transformed responses (read once, on the first request)."""
        return DEFAULT_MIME_TYPE

    def sanitize_fqn(self, fqn: str) -> str:
        """Decode an `etl_fqn` value once more and normalise it to an absolute path."""
        return decode_fqn(fqn)

    def start(self) -> None:
        """Run the server (blocking)."""
        raise NotImplementedError

    @classmethod
    def serve(
        cls,
        target: Any = None,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str | None = None,
        **env: object,
    ) -> Any:
        """Run this server in a daemon thread of the current process (a notebook kernel, a script).

        Returns a handle with `.url`, `.put()` (hpush), `.get()` (hpull), `.ws()`, `.stop()`,
        `.restart()`; see `aisetl.ServerHandle`. `env` sets environment variables for this server only.
        """
        return features.call("serve", cls, target=target, host=host, port=port, name=name, **env)

    @classmethod
    def export(cls, dest: str | os.PathLike[str], **options: Any) -> Path:
        """Write a container build context for this server to `dest` (Dockerfile, source, pinned
        requirements, init.json, etl_spec.yaml, README). Options: image, comm, workers, python,
        direct_put, direct_fqn, init_timeout, obj_timeout, env, name, os_packages, resources, file_group,
        ca_bundle, force; see aisetl.ship.export.export."""
        path: Path = features.call("export", cls, dest, **options)
        return path

    @classmethod
    def build(cls, image: str | None = None, **options: Any) -> Any:
        """Build this server's container image with docker, podman or buildah; returns a BuiltImage (.name,
        .id). The log streams into the cell. Options: tool, ca_bundle, progress, network, force and
        export's; see aisetl.ship.image.build."""
        return features.call("build", cls, image, **options)

    @classmethod
    def deploy(cls, client_or_url: Any, image: Any, **options: Any) -> str:
        """Initialise this ETL on the AIS cluster of `client_or_url` (an aistore Client or the proxy URL)
        through the aistore SDK; `image` is a name or a BuiltImage. See aisetl.ship.deploy.deploy."""
        answer: str = features.call("deploy", cls, client_or_url, image, **options)
        return answer

    def __repr__(self) -> str:
        mode = "streaming" if self.use_streaming else "buffered"
        return f"<{type(self).__name__} {mode} target={redact(self.host_target, self.settings.secrets)!r}>"
