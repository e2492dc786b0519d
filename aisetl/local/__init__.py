"""Local stand-ins for AIS: targets, jobs, and a small cluster."""

from __future__ import annotations
