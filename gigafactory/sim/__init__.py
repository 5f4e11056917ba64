"""The local simulator: a real Kubernetes control plane on loopback with one simulated node per
node of a cluster, made from the site model.

``gigafactory sim up --stack sim`` runs etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, the KWOK controller (with node and pod lifecycle stages of our own) and Kueue
(out of cluster), all built by ``make toolchain``, all bound to 127.0.0.1. The nodes carry
exactly the labels, taints and GPU capacity that ``Pool.node(i)`` gives the real kubelet.

Modules:

- :mod:`gigafactory.sim.cluster`: the public API (``up``, ``down``, ``status``,
  ``kubeconfig_path``) and the state directory of a stack.
- :mod:`gigafactory.sim.pki`: certificates and kubeconfigs.
- :mod:`gigafactory.sim.procs`: starting, probing and stopping processes by pid.
- :mod:`gigafactory.sim.kwok`: the KWOK Stage objects.
- :mod:`gigafactory.sim.kueue`: Kueue's configuration, CRDs and webhooks for running it out of cluster.
- :mod:`gigafactory.sim.nodes`: simulated Node objects from the model, created in bulk.

Nothing here imports Pulumi.
"""

from __future__ import annotations
