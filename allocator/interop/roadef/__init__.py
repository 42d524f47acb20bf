"""The Google ROADEF/EURO Challenge 2012 machine reassignment problem.

Reads the challenge's model, assignment and solution files into arrays
(:class:`RoadefInstance`, int64 machine indices), writes solutions in the challenge
format, and evaluates a reassignment exactly as the official checker does. See
docs/roadef.md for the formats and the objective.
"""

from allocator.interop.roadef.evaluate import KINDS, Evaluation, Violation, evaluate, usage
from allocator.interop.roadef.instance import (
    RoadefInstance,
    format_solution,
    parse_assignment,
    parse_model,
    read_assignment,
    read_model,
    write_solution,
)

__all__ = [
    "KINDS",
    "Evaluation",
    "RoadefInstance",
    "Violation",
    "evaluate",
    "format_solution",
    "parse_assignment",
    "parse_model",
    "read_assignment",
    "read_model",
    "usage",
    "write_solution",
]
