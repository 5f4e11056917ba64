"""Field names of Go API types, read from their ``json`` tags (kubeadm v1beta4, kubelet v1beta1).

``python -m tests.baremetal.go_fields`` rewrites ``api_fields.json`` from the Kubernetes sources
in the Go module cache (the simulator's toolchain downloads them); the tests read the JSON.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS_JSON = HERE / "api_fields.json"
MODCACHE = Path(os.environ.get("GOMODCACHE", "/var/cache/gigafactory/go/mod"))
KUBERNETES = "1.36.3"
SOURCES = {
    "kubeadm.k8s.io/v1beta4": f"k8s.io/kubernetes@v{KUBERNETES}/cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go",
    "kubelet.config.k8s.io/v1beta1": f"k8s.io/kubelet@v0.{KUBERNETES.split('.', 1)[1]}/config/v1beta1/types.go",
}
# Types from other packages that the documents use, as upstream defines them (core/v1 Taint).
EXTERNAL = {"Taint": {"key": "string", "value": "string", "effect": "TaintEffect", "timeAdded": "Time"}}

_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.S | re.M)
_FIELD = re.compile(r"^\s+(?:(\w+)\s+)?([\w.*\[\]]+)\s+`json:\"([^\",]*)[^`]*`", re.M)


def struct_fields(source: str) -> dict[str, dict[str, str]]:
    """struct name -> {json field name: Go type name without package, pointer or slice}."""
    out: dict[str, dict[str, str]] = {}
    inline: dict[str, list[str]] = {}
    for name, body in _STRUCT.findall(source):
        fields: dict[str, str] = {}
        for _, gotype, json_name in _FIELD.findall(body):
            bare = gotype.lstrip("*[]").split(".")[-1].split("]")[-1].lstrip("*")
            if not json_name:  # inline: metav1.TypeMeta, or a struct of this file (APIServer)
                if bare == "TypeMeta":
                    fields.update({"apiVersion": "string", "kind": "string"})
                else:
                    inline.setdefault(name, []).append(bare)
                continue
            fields[json_name] = bare
        out[name] = fields
    for name, embedded in inline.items():
        for other in embedded:
            out[name].update(out.get(other, {}))
    return out


def read_sources() -> dict[str, dict[str, dict[str, str]]] | None:
    """The fields per API version from the module cache, or None when it lacks the sources."""
    paths = {api: MODCACHE / rel for api, rel in SOURCES.items()}
    if not all(p.is_file() for p in paths.values()):
        return None
    return {api: {**EXTERNAL, **struct_fields(p.read_text())} for api, p in paths.items()}


if __name__ == "__main__":
    data = read_sources()
    if data is None:
        raise SystemExit(f"Kubernetes sources not found under {MODCACHE}")
    FIELDS_JSON.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
