"""aisetl: write, test and ship AIStore ETL transforms; a wire-exact, fast AIS ETL server.

The public API is what `__all__` lists; everything else is internal. The layers (ARCHITECTURE.md) are
imported lowest first; importing the notebook and shipping layers registers `.serve()` and `.export()`
on the server classes (aisetl.api.features).
"""

from __future__ import annotations

from ._exceptions import (
    ConfigError as ConfigError,
    DirectPutError as DirectPutError,
    ETLCallError as ETLCallError,
    ETLError as ETLError,
    ExportError as ExportError,
    ImageNameError as ImageNameError,
    ProtocolError as ProtocolError,
    TargetError as TargetError,
)
from ._version import __version__ as __version__
from .api.base import ETLServer as ETLServer
from .api.decorator import FunctionETL as FunctionETL, etl as etl
from .api.fastapi_server import FastAPIServer as FastAPIServer
from .check import check_handle as _check_handle  # noqa: F401 -- importing it registers server.check()
from .local.cluster import LocalCluster as LocalCluster
from .local.job import Job as Job, JobReport as JobReport
from .local.target import LocalTarget as LocalTarget
from .notebook.serve import ServerHandle as ServerHandle

# Importing these registers .export(), .build() and .deploy() on the server classes.
from .ship import deploy as _deploy, export as _export, image as _image  # noqa: F401
from .ship.engine import BuiltImage as BuiltImage

__all__ = [
    "BuiltImage",
    "ConfigError",
    "DirectPutError",
    "ETLCallError",
    "ETLError",
    "ETLServer",
    "ExportError",
    "FastAPIServer",
    "FunctionETL",
    "ImageNameError",
    "Job",
    "JobReport",
    "LocalCluster",
    "LocalTarget",
    "ProtocolError",
    "ServerHandle",
    "TargetError",
    "__version__",
    "etl",
]
