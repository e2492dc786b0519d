"""deploy(): initialise the ETL on an AIS cluster through the aistore SDK (an optional extra:
`pip install aistore`), with the same message export writes to init.json.

What a real cluster needs: AIS deployed on Kubernetes (ETLs run as pods next to each target), and the
image pushed to a registry its nodes can pull from (each pod pulls it, `imagePullPolicy: Always`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._exceptions import ExportError
from ..api import features
from .export import check_resources, default_name, init_message, validate_name
from .names import check_image_name

CLUSTER_NEEDS = (
    "a real cluster needs AIS deployed on Kubernetes (ETLs run as pods next to each target) and the image "
    "pushed to a registry its nodes can pull from (`docker push {image}`; each pod pulls it on init)"
)


def _client(client_or_url: Any) -> Any:
    try:
        from aistore.sdk import Client
    except ImportError:
        raise ExportError("deploy needs the aistore SDK: pip install aistore") from None
    return Client(client_or_url) if isinstance(client_or_url, str) else client_or_url


def deploy(
    cls: type,
    client_or_url: Any,
    image: Any,
    comm: str = "hpush",
    init_timeout: str = "5m",
    obj_timeout: str = "45s",
    direct_put: bool = True,
    direct_fqn: bool = False,
    name: str | None = None,
    env: Mapping[str, object] | None = None,
    resources: Mapping[str, Mapping[str, str]] | None = None,
    force: bool = False,
) -> str:
    """Initialise the ETL `name` (default: the class's) with `image` (a name or what build() returned) on
    the cluster of `client_or_url` (an aistore `Client` or the proxy's URL); returns the cluster's answer
    (the ETL's job ID)."""
    image = check_image_name(str(image), force)
    etl_name = validate_name(name or default_name(cls))
    client = _client(client_or_url)
    try:
        if resources is None:
            answer: str = client.etl(etl_name).init(
                image=image,
                comm_type=comm,
                init_timeout=init_timeout,
                obj_timeout=obj_timeout,
                direct_put=direct_put,
                direct_file_access=direct_fqn,
                **{k: str(v) for k, v in (env or {}).items()},
            )
            return answer
        # Etl.init cannot send the pods' resources: the same message, through the SDK's own request client.
        message = init_message(etl_name, image, comm, init_timeout, obj_timeout, direct_put, direct_fqn, env or {})
        message["resources"] = check_resources(resources)
        from aistore.sdk.const import HTTP_METHOD_PUT, URL_PATH_ETL
        from aistore.sdk.utils import convert_to_seconds

        response = client._request_client.request(
            HTTP_METHOD_PUT, path=URL_PATH_ETL, timeout=convert_to_seconds(init_timeout), json=message
        )
        return str(response.text)
    except Exception as exc:
        raise ExportError(
            f"deploy of ETL {etl_name!r} ({image}) failed: {type(exc).__name__}: {exc}. "
            + CLUSTER_NEEDS.format(image=image)
        ) from exc


features.provide("deploy", deploy)
