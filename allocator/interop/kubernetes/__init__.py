"""Kubernetes: cluster state (`kubectl get nodes/pods -o json`) in, pinned pod manifests out."""

from allocator.interop.kubernetes.export import export_kubernetes
from allocator.interop.kubernetes.importer import KubernetesImport, import_kubernetes

__all__ = ["KubernetesImport", "export_kubernetes", "import_kubernetes"]
