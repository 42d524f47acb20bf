"""Turning pydantic validation errors into messages a person can act on.

Each message names the entry (``nodes["gpu-a"]`` or ``nodes[3]``), the field, what was
expected and what was found, plus a "did you mean" for misspelled names.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from allocator.io.errors import InputProblem
from allocator.io.source import Loc, SourceDocument

# Mappings whose keys name entries (messages say `gpu_types["H200"]`).
NAMED_SECTIONS = ("gpu_types", "current_placement")


SUGGEST_AMONG = 2_000  # a longer list of names is not searched for a close match


def suggest(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''. Lists longer than
    SUGGEST_AMONG are not searched, so that many unknown names cost linear time."""
    lowered = {c.lower(): c for c in choices}
    if len(lowered) > SUGGEST_AMONG:
        return ""
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[match[0]]!r}?)" if match else ""


def entry_label(doc: SourceDocument, loc: Loc) -> tuple[str | None, Loc]:
    """Split a location into an entry label and the field path inside the entry.

    The entry is the deepest list item on the path that has an `id` (named by it when
    the id is unique in its list: `nodes["gpu-a"]`, `topology.sites["east"].rows[1]`),
    or the key under a mapping of named entries (`gpu_types["H200"]`); top-level
    sections without such items are their own entry.
    """
    if not loc:
        return None, ()
    label, data, split = str(loc[0]), _child(doc.data, loc[0]), 1
    text = label
    for depth, part in enumerate(loc[1:], start=1):
        if isinstance(part, int) and isinstance(data, list) and 0 <= part < len(data):
            item = data[part]
            item_id = item.get("id") if isinstance(item, dict) else None
            unique = isinstance(item_id, str) and item_id and _id_counts(doc, data)[item_id] == 1
            text += f'["{item_id}"]' if unique else f"[{part}]"
            label, split = text, depth + 1
        elif depth == 1 and isinstance(data, dict) and str(loc[0]) in NAMED_SECTIONS:
            text += f'["{part}"]'
            label, split = text, depth + 1
        elif isinstance(part, int):
            break
        else:
            text += f".{part}"
        data = _child(data, part)
    return label, loc[split:]


def _id_counts(doc: SourceDocument, items: list) -> Counter[Any]:
    """How often each `id` occurs in a list of the document, counted once per list (so
    that naming entries stays linear in the number of problems)."""
    key = id(items)
    counts = doc.id_counts.get(key)
    if counts is None:
        counts = Counter(
            o.get("id") for o in items if isinstance(o, dict) and isinstance(o.get("id"), str)
        )
        doc.id_counts[key] = counts
    return counts


def _child(data: Any, part: str | int) -> Any:
    if isinstance(data, dict):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return None


def field_path(loc: Loc) -> str | None:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        else:
            parts.append(str(part))
    return ".".join(parts) or None


def problem_at(doc: SourceDocument, loc: Loc, message: str) -> InputProblem:
    entry, rest = entry_label(doc, loc)
    position = doc.position(loc)
    return InputProblem(
        file=doc.path,
        message=message,
        entry=entry,
        field=field_path(rest),
        line=position[0] if position else None,
        column=position[1] if position else None,
    )


def translate(
    doc: SourceDocument, root: type[BaseModel], error: ValidationError
) -> list[InputProblem]:
    problems = []
    seen: set[tuple[Loc, str]] = set()
    for err in error.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not _is_branch_tag(p))
        message = _message(root, loc, err)
        if (loc, message) in seen:
            continue
        seen.add((loc, message))
        problems.append(problem_at(doc, loc, message))
    return problems


def _number(value: float) -> str:
    """A bound as people write it: 1,000,000 rather than 1e+06."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:g}"


def _is_branch_tag(part: Any) -> bool:
    """Pydantic inserts validator names such as 'function-before[...]' into locations."""
    return isinstance(part, str) and part.startswith(("function-", "constrained-"))


def _message(root: type[BaseModel], loc: Loc, err: dict[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = _show(err.get("input"))
    if kind == "missing":
        described = _description(root, loc)
        return f"missing required field {loc[-1]!r}" + (f" ({described})" if described else "")
    if kind == "extra_forbidden":
        allowed = _fields_at(root, loc[:-1])
        hint = suggest(str(loc[-1]), allowed) if allowed else ""
        listing = f"; allowed fields: {', '.join(sorted(allowed))}" if allowed and not hint else ""
        return f"unknown field {loc[-1]!r}{hint}{listing}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {
            "greater_than": ">",
            "greater_than_equal": ">=",
            "less_than": "<",
            "less_than_equal": "<=",
        }[kind]
        bound = next(iter(ctx.values()))
        shown = _number(bound) if isinstance(bound, int | float) else bound
        what = "a positive number" if (op, bound) == (">", 0) else f"a number {op} {shown}"
        return f"expected {what}, got {got}"
    if kind == "finite_number":
        return f"expected a finite number, got {got}"
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return f"expected a whole number, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got}"
    if kind == "string_type":
        return f"expected text, got {got}"
    if kind == "bool_type":
        return f"expected true or false, got {got}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of fields, got {got}"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",")]
        hint = suggest(str(err.get("input")), options) if isinstance(err.get("input"), str) else ""
        return f"expected {expected}, got {got}{hint}"
    if kind == "string_pattern_mismatch":
        return (
            f"expected an id made of letters, digits and . _ : / @ + - "
            f"(starting with a letter or digit), got {got}"
        )
    if kind == "string_too_short":
        return "expected non-empty text"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length', 1)} entry, got {got}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg']}, got {got}"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null (nothing)"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return f"a list of {len(value)}" if value else "an empty list"
    return str(value)


def _annotation_at(root: type[BaseModel], loc: Loc) -> Any:
    """Follow a location through the model's annotations (lists, dicts, nested models)."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int) or (typing.get_origin(current) is dict):
            args = typing.get_args(current)
            current = args[-1] if args else Any
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = info.annotation
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated/unions down to the model, list or dict inside."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else args[-1]
        else:
            return annotation


def _fields_at(root: type[BaseModel], loc: Loc) -> list[str]:
    model = _annotation_at(root, loc)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _description(root: type[BaseModel], loc: Loc) -> str | None:
    model = _annotation_at(root, loc[:-1])
    if isinstance(model, type) and issubclass(model, BaseModel):
        info = model.model_fields.get(str(loc[-1]))
        return info.description if info else None
    return None
