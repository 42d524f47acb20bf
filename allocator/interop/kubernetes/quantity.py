"""Kubernetes resource quantities ("500m", "96", "1176521528Ki", "200Gi", "2e3") as exact numbers.

Every capacity and request in a Kubernetes object is a quantity string. Parsing them into
`Fraction`s keeps sums exact; conversion to allocator's units (millicores, MiB) rounds in
the safe direction chosen by the caller: capacities down, requests up.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL_SUFFIXES = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)"
)
EXAMPLES = "a number with an optional suffix, e.g. '500m', '4', '1.5', '2e3', '200Gi' or '1M'"
BYTES_PER_MIB = 2**20


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity; the message says what was expected."""


def parse_quantity(value: object) -> Fraction:
    """The exact value of a quantity: '500m' -> 1/2, '1Ki' -> 1024, '2e3' -> 2000.

    JSON and YAML numbers are accepted too (hand-written manifests use `cpu: 2`).
    """
    if isinstance(value, bool) or value is None:
        raise QuantityError(f"expected a quantity ({EXAMPLES}), got {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"expected a finite quantity, got {value!r}")
        return Fraction(str(value))
    if not isinstance(value, str):
        raise QuantityError(f"expected a quantity ({EXAMPLES}), got {type(value).__name__}")
    match = _QUANTITY.fullmatch(value)
    if match is None:
        raise QuantityError(f"expected a quantity ({EXAMPLES}), got {value!r}")
    number = Fraction(match["number"])
    if match["exponent"]:
        return number * Fraction(10) ** int(match["exponent"][1:])
    suffix = match["suffix"] or ""
    return number * BINARY_SUFFIXES.get(suffix, DECIMAL_SUFFIXES.get(suffix, 1))


def parse_nonnegative(value: object) -> Fraction:
    """A quantity that must not be negative (every capacity and request)."""
    amount = parse_quantity(value)
    if amount < 0:
        raise QuantityError(f"expected a quantity of at least 0, got {value!r}")
    return amount


def cores(value: object) -> Fraction:
    """CPU quantity in cores: '500m' -> 1/2, '96' -> 96."""
    return parse_nonnegative(value)


def mib(value: object) -> Fraction:
    """Memory quantity (bytes) in MiB: '200Gi' -> 204800, '1176521528Ki' -> 1148946.8..."""
    return parse_nonnegative(value) / BYTES_PER_MIB


def gib(value: object) -> Fraction:
    """Memory quantity (bytes) in GiB: '200Gi' -> 200."""
    return parse_nonnegative(value) / 2**30


def whole(value: object) -> int:
    """A count of devices (GPUs, MIG instances): must be a whole number."""
    amount = parse_nonnegative(value)
    if amount.denominator != 1:
        raise QuantityError(f"expected a whole number of devices, got {value!r}")
    return int(amount)


def millicores_down(amount: Fraction) -> int:
    """Whole millicores not above `amount` cores (for capacities)."""
    return math.floor(amount * 1000)


def millicores_up(amount: Fraction) -> int:
    """Whole millicores not below `amount` cores (for requests)."""
    return math.ceil(amount * 1000)


def mib_down(amount: Fraction) -> int:
    """Whole MiB not above `amount` MiB (for capacities)."""
    return math.floor(amount)


def mib_up(amount: Fraction) -> int:
    """Whole MiB not below `amount` MiB (for requests)."""
    return math.ceil(amount)
