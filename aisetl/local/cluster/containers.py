"""An ETL of a LocalCluster whose image is one `build()` made: each target runs a container of it, as
AIS runs a pod per target. The container listens on a loopback port (host network), its AIS_TARGET_URL
points back at its target, and the target's folder is mounted read-only at the same path (etl_fqn).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ...ship.container import Container, run_container
from ...ship.engine import BuiltImage

LOG_LINES = 1000


class ContainerInstance:
    """The container of one ETL on one target: `.url`, `.lines` (its log, read when it stops), `.stop()`."""

    def __init__(self, image: BuiltImage, name: str, env: dict[str, str], target: Any) -> None:
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        mounts = [target.mountpath] if getattr(target, "mountpath", None) else []
        environ = {**env, "AIS_TARGET_URL": target.ais_target_url(name)}
        self.container: Container = run_container(image.name, environ, mounts, tool=image.tool)
        self.lines.append(
            f"container {self.container.id[:12]} of {image.name} serving on {self.url} for target {target.node_id}"
        )

    @property
    def url(self) -> str:
        return self.container.url

    def stop(self) -> None:
        self.lines.extend(self.container.logs().splitlines())
        self.container.stop()
        self.lines.append("stopped")
