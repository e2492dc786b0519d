"""aisetl: write, test and ship AIStore ETL transforms; a wire-exact, fast AIS ETL server."""

from __future__ import annotations

from ._base import ETLServer as ETLServer
from ._comm import ETLCallError as ETLCallError
from ._decorator import FunctionETL as FunctionETL, etl as etl
from ._exceptions import (
    ConfigError as ConfigError,
    DirectPutError as DirectPutError,
    ETLError as ETLError,
    ProtocolError as ProtocolError,
    TargetError as TargetError,
)
from ._job import Job as Job, JobReport as JobReport
from ._kernel import ServerHandle as ServerHandle
from ._server import FastAPIServer as FastAPIServer
from ._target import LocalTarget as LocalTarget

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DirectPutError",
    "ETLCallError",
    "ETLError",
    "ETLServer",
    "FastAPIServer",
    "FunctionETL",
    "Job",
    "JobReport",
    "LocalTarget",
    "ProtocolError",
    "ServerHandle",
    "TargetError",
    "etl",
    "__version__",
]
