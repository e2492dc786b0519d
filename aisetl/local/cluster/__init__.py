"""LocalCluster: a small AIS cluster in this process for the unmodified aistore SDK (see cluster.py)."""

from __future__ import annotations

from .cluster import LocalCluster as LocalCluster

__all__ = ["LocalCluster"]
