"""Plain JSON requests through the ``kubernetes`` client's connection (TLS, client certificate).

The typed API validates every body with pydantic models; for thousands of nodes and for CRDs
with large schemas that is slow and may drop fields, so the simulator sends and reads plain
dicts. Tests and users keep the typed API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from gigafactory.errors import GigafactoryError


class Unreachable(GigafactoryError):
    """The API server did not answer (connection refused, TLS failure, timeout)."""


POOL_SIZE = 32
"""HTTP connections kept to the API server (parallel node creation uses up to this many)."""


def api_client(kubeconfig: Path) -> client.ApiClient:
    """A client for ``kubeconfig`` (use it in a ``with``), never through a proxy."""
    configuration = client.Configuration()
    kube_config.load_kube_config(  # type: ignore[no-untyped-call]  # untyped in the client
        config_file=str(kubeconfig), client_configuration=configuration
    )
    configuration.connection_pool_maxsize = POOL_SIZE
    configuration.proxy = None
    return client.ApiClient(configuration)


def request(
    api: client.ApiClient,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = 30.0,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    """(HTTP status, decoded JSON body or None). Never raises for an HTTP error status.
    ``content_type``: of the body (a PATCH names its patch type here)."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    _, url, header_params, payload, _ = api.param_serialize(
        method=method, resource_path=path, header_params=headers, body=body
    )
    try:
        response = api.call_api(
            method, url, header_params=header_params, body=payload, _request_timeout=timeout
        )
    except (urllib3.exceptions.HTTPError, ApiException, OSError) as exc:
        raise Unreachable(f"{method} {path}: no answer from the API server: {exc}") from None
    response.read()  # type: ignore[no-untyped-call]  # untyped in the client
    raw = response.data
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return int(response.status), data


def message(data: Any) -> str:
    """The ``message`` of a Kubernetes Status body, else the body itself (shortened)."""
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return str(data)[:300]
