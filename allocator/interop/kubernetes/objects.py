"""Reading `kubectl get ... -o json` (or `-o yaml`) output: a List of objects, or one object.

Each object comes back with its place in the file and the name messages use for it:
`nodes/gpu-a100-01` or `pods/serving/llama-0`, the way kubectl names resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from allocator.interop.reading import Problems, Where, describe, mapping, sequence, text
from allocator.io.source import SourceDocument, read_document

LIST_KINDS = ("List",)


@dataclass(frozen=True)
class KubeObject:
    """One object of a kubectl listing: its data, its name and where it sits."""

    data: dict
    name: str
    namespace: str | None
    where: Where


def read_objects(
    path: str | Path, kind: str, plural: str, problems: Problems, namespaced: bool
) -> list[KubeObject]:
    """The objects of `kind` in a kubectl listing; wrong kinds and nameless items are problems."""
    doc = read_document(path)
    top = Where(doc, (), "")
    out = []
    for item, where in _items(doc, kind, top, problems):
        found_kind = item.get("kind")
        if found_kind not in (None, kind):
            problems.add(
                where.at("kind"),
                f"expected a {kind}, found {describe(found_kind)}"
                + (" (are the NODES and PODS files swapped?)" if found_kind in _SWAP else ""),
            )
            continue
        meta = mapping(item.get("metadata"), where.at("metadata"), problems, required=True)
        if meta is None:
            continue
        name = text(meta.get("name"), where.at("metadata", "name"), problems, required=True)
        namespace = None
        if namespaced:
            namespace = text(meta.get("namespace"), where.at("metadata", "namespace"), problems)
            namespace = namespace or "default"
        if name is None:
            continue
        subject = f"{plural}/{namespace}/{name}" if namespaced else f"{plural}/{name}"
        out.append(KubeObject(item, name, namespace, Where(doc, where.loc, subject)))
    return out


_SWAP = ("Node", "Pod")


def _items(
    doc: SourceDocument, kind: str, top: Where, problems: Problems
) -> list[tuple[dict, Where]]:
    data = doc.data
    if not isinstance(data, dict):
        problems.add(
            top,
            f"expected the output of 'kubectl get {kind.lower()}s -o json': a List or a {kind}, "
            f"got {describe(data)}",
        )
        return []
    found_kind = data.get("kind")
    if found_kind == kind:
        return [(data, top)]
    if found_kind in (*LIST_KINDS, f"{kind}List") or (found_kind is None and "items" in data):
        items = sequence(data.get("items"), top.at("items"), problems, required=True) or []
        out = []
        for i, item in enumerate(items):
            where = Where(doc, ("items", i), f"items[{i}]")
            if mapping(item, where, problems, required=True) is not None:
                out.append((item, where))
        return out
    problems.add(
        top.at("kind"),
        f"expected a List of {kind} objects or a single {kind} "
        f"('kubectl get {kind.lower()}s -o json'), got kind {describe(found_kind)}",
    )
    return []
