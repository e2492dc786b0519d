"""`LocalCluster`: a proxy and N targets on 127.0.0.1 that the unmodified `aistore` SDK drives.

```python
cluster = aisetl.LocalCluster(targets=3, images={"registry.example.org/etl/upper:0.1": Upper})
client = cluster.client()          # aistore.sdk.Client(cluster.url)
```

Everything runs in this process: the proxy and each target are uvicorn threads, each ETL runs one
server per target. A cluster is registered under its `name`: creating another of the same name (a
notebook cell run again) stops the previous one first, as `serve()` does for servers.
"""

from __future__ import annotations

import atexit
import secrets
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...server.thread import ServerThread
from ...wire import object_uname
from .etl import ETL, ETLRegistry
from .hrw import owner
from .http import bad_request
from .jobs import ClusterJob, JobRegistry, expand_template
from .proxy import ProxyApp, check_bucket_name
from .target import ClusterTarget

if TYPE_CHECKING:
    from aistore.sdk import Client

    from .widget import ClusterWidget

_clusters: dict[str, LocalCluster] = {}
_clusters_lock = threading.Lock()


def _snode(node_id: str, kind: str, url: str, port: int, digest: int) -> dict[str, Any]:
    net = {"node_ip_addr": "127.0.0.1", "daemon_port": str(port), "direct_url": url}
    return {
        "daemon_id": node_id,
        "daemon_type": kind,
        "public_net": net,
        "intra_control_net": net,
        "intra_data_net": net,
        "flags": 0,
        "id_digest": digest,
    }


class LocalCluster:
    """An AIS cluster in this process: `.url` (the proxy), `.targets`, `.images`, `.client()`, `.stop()`.

    `images` maps an image name (what `client.etl(name).init(image=...)` sends) to what runs for it:
    an ETL server class, an `@etl` function, a folder made by `export`, or a `BuiltImage` from
    `build()` (each target then runs a container of it, see containers.py). `init_class` needs no
    entry: the class the SDK sends runs as is. `root` keeps the targets' objects in
    `<root>/t1`, `<root>/t2`, ... (default: temporary folders removed by `stop()`).
    """

    def __init__(
        self,
        targets: int = 3,
        images: Mapping[str, Any] | None = None,
        root: str | Path | None = None,
        name: str = "local",
    ) -> None:
        if not isinstance(targets, int) or targets < 1:
            raise ValueError(f"targets must be a positive number, got {targets!r}")
        self.name = name
        self.images: dict[str, Any] = dict(images or {})
        self.proxy_id = "p1"
        self.uuid = secrets.token_hex(5)
        self.root = Path(root) if root is not None else None
        self._buckets: set[str] = set()
        self._lock = threading.Lock()
        self.targets: list[ClusterTarget] = []
        self.etls = ETLRegistry(name, self.proxy_id, self.targets)
        self.jobs = JobRegistry()
        self._proxy: ServerThread | None = None
        self._widget: ClusterWidget | None = None
        self._created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with _clusters_lock:
            previous = _clusters.get(name)
            _clusters[name] = self
        if previous is not None:
            previous.stop()  # a re-run cell: the old cluster goes first
        secret = secrets.token_hex(8)  # one ETL secret for the cluster: direct puts cross targets
        try:
            for i in range(targets):
                node_id = f"t{i + 1}"
                folder = self.root / node_id if self.root is not None else None
                self.targets.append(ClusterTarget(self, node_id, folder, secret))
            for target in self.targets:
                _ = target.url  # start serving
                self._buckets.update(target.buckets())
            self._proxy = ServerThread(ProxyApp(self), name=f"aisetl-proxy:{name}", log_level="warning").start()
        except BaseException:
            self.stop()
            raise

    # --- the cluster map and placement ---------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._proxy is None:
            raise RuntimeError(f"LocalCluster {self.name!r} is stopped")
        return self._proxy.url

    def smap(self) -> dict[str, Any]:
        proxy_url = self.url
        proxy = _snode(self.proxy_id, "proxy", proxy_url, int(proxy_url.rsplit(":", 1)[1]), 0)
        return {
            "tmap": {t.node_id: _snode(t.node_id, "target", t.url, t.port_of(), t.id_digest) for t in self.targets},
            "pmap": {self.proxy_id: proxy},
            "proxy_si": proxy,
            "version": "1",
            "uuid": self.uuid,
            "creation_time": self._created,
        }

    def owner(self, bucket: str, obj: str) -> ClusterTarget:
        """The target that holds `bucket/obj`, by HRW over the cluster map (the SDK's choice too)."""
        return owner(self.targets, object_uname(bucket, obj))

    def target(self, node_id: str) -> ClusterTarget:
        for t in self.targets:
            if t.node_id == node_id:
                return t
        raise KeyError(f"no target {node_id!r}: targets are {', '.join(t.node_id for t in self.targets)}")

    # --- buckets -------------------------------------------------------------------------------------

    def has_bucket(self, name: str) -> bool:
        with self._lock:
            return name in self._buckets

    def bucket_names(self) -> list[str]:
        with self._lock:
            return sorted(self._buckets)

    def create_bucket(self, name: str) -> bool:
        """False when it exists already."""
        with self._lock:
            if name in self._buckets:
                return False
            self._buckets.add(name)
            return True

    def destroy_bucket(self, name: str) -> bool:
        with self._lock:
            if name not in self._buckets:
                return False
            self._buckets.discard(name)
        for t in self.targets:
            shutil.rmtree(Path(t.mountpath) / "@ais" / name, ignore_errors=True)
        return True

    # --- jobs ----------------------------------------------------------------------------------------

    def start_job(self, action: str, src: str, value: dict[str, Any], bck_to: str) -> str:
        """Start a transform or copy job (`etl-bck`, `etl-listrange`, `copy-bck`, `copy-listrange`)."""
        if not isinstance(value, dict):
            raise bad_request(f"{action}: the action's value must be an object")
        if action.endswith("-bck"):
            dst = self._bucket_of_path(bck_to, action)
        else:
            tobck = value.get("tobck")
            if not isinstance(tobck, dict) or not isinstance(tobck.get("name"), str):
                raise bad_request(f"{action}: the value needs tobck {{'name': ..., 'provider': 'ais'}}")
            dst = tobck["name"]
        check_bucket_name(dst)
        dry_run = bool(value.get("dry_run"))
        if dst == src and not dry_run:  # `inspect` is a dry run into the source bucket itself
            raise bad_request(f"{action}: source and destination are both ais://{src} (allowed only with dry_run)")
        etls: list[ETL] = []
        if action.startswith("etl-"):
            names = [str(value.get("id") or "")] + [str(n) for n in value.get("pipeline") or []]
            etls = [self.etls.running(n) for n in names]
        ext = value.get("ext") or None
        if ext is not None and not (isinstance(ext, dict) and all(isinstance(v, str) for v in ext.values())):
            raise bad_request(f"{action}: ext must map extensions to extensions, got {ext!r}")
        prefix, prepend = str(value.get("prefix") or ""), str(value.get("prepend") or "")
        by_target: dict[str, list[str]] = {t.node_id: [] for t in self.targets}
        missing: list[str] = []
        if action.endswith("-bck"):
            for t in self.targets:
                by_target[t.node_id] = t.list(src, prefix)
        else:
            for obj in self._selected(value):
                holder = self.owner(src, obj)
                if f"{src}/{obj}" in holder:
                    by_target[holder.node_id].append(f"{src}/{obj}")
                else:
                    missing.append(obj)
        if not dry_run:
            self.create_bucket(dst)  # AIS creates a missing destination
        workers = int(value.get("num-workers") or 0) or 8
        coer = bool(value.get("coer"))
        job = ClusterJob(self, action, src, dst, by_target, etls, ext, prepend, coer, workers, missing, dry_run)
        return self.jobs.add(job).id

    @staticmethod
    def _bucket_of_path(path: str, action: str) -> str:
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "ais" or not parts[1].startswith("@"):
            raise bad_request(f"{action}: bck_to {path!r} is not an ais:// bucket path (ais/@#/<bucket>/)")
        return parts[2]

    @staticmethod
    def _selected(value: dict[str, Any]) -> list[str]:
        if isinstance(value.get("objnames"), list):
            return [str(n) for n in value["objnames"]]
        if isinstance(value.get("template"), str):
            return list(expand_template(value["template"]))
        raise bad_request("a list/range job needs objnames (a list) or template (a string)")

    def etl_metrics(self, etl: ETL) -> dict[str, Any]:
        return {"etl_name": etl.spec.name, **etl.info()}

    # --- the client and the lifecycle ----------------------------------------------------------------

    def client(self, **options: Any) -> Client:
        """An `aistore.sdk.Client` for this cluster (the SDK is needed for this call only)."""
        try:
            from aistore.sdk import Client
        except ImportError:
            raise RuntimeError("LocalCluster.client() needs the aistore SDK: pip install aistore") from None
        return Client(self.url, **options)

    @property
    def running(self) -> bool:
        return self._proxy is not None

    def stop(self) -> None:
        """Stop jobs, ETL servers, the proxy and the targets; nothing of this cluster listens afterwards."""
        self.jobs.stop_all()
        self.etls.stop_all()
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            proxy.stop()
        for target in self.targets:
            target.close()
        with _clusters_lock:
            if _clusters.get(self.name) is self:
                del _clusters[self.name]

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def widget(self) -> ClusterWidget:
        """The live view (ipywidgets), created on first use."""
        if self._widget is None:
            from .widget import ClusterWidget

            self._widget = ClusterWidget(self)
        return self._widget

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        try:
            bundle: dict[str, Any] = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        except ImportError:  # no ipywidgets (the notebook extra): text only
            return {"text/plain": repr(self)}
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        where = self._proxy.url if self._proxy is not None else "stopped"
        return (
            f"<LocalCluster {self.name!r} {where}: {len(self.targets)} targets, "
            f"{len(self.bucket_names())} buckets, {len(self.etls.all())} ETLs, {len(self.jobs.all())} jobs>"
        )


def stop_all() -> None:
    with _clusters_lock:
        clusters = list(_clusters.values())
    for cluster in clusters:
        cluster.stop()


atexit.register(stop_all)
