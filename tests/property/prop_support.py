"""Shared pieces of the property tests: the settings every example uses, the one-line check, and
strategies for the garbage a configuration, an argument list or a venue can hand the bot."""

from __future__ import annotations

import copy
import math
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Repeatable in CI (no example database, a fixed seed), no deadline (first imports are slow),
#: a few function-scoped fixtures reused across examples on purpose (each example cleans up).
FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def few(n: int) -> settings:
    """FAST with ``n`` examples (for the expensive properties)."""
    return settings(FAST, max_examples=n)


def assert_one_line(message: str) -> None:
    """A classified error: one non-empty line, no traceback."""
    assert message.strip(), "empty error message"
    assert len(message.splitlines()) == 1, f"not one line: {message!r}"
    assert "Traceback" not in message, message


#: Text that breaks naive one-line formatting: every character str.splitlines() splits on.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

weird_text = st.one_of(
    st.text(max_size=30),
    st.text(
        alphabet=st.sampled_from(f"{LINE_BREAKS}\t \x00é€😀\u202e\ufeffBTC-USD0.5-e"), max_size=12
    ),
    st.sampled_from(
        ["", " ", "-", "--", "nan", "NaN", "inf", "-inf", "1e999", "-1", "0", "1e-999"]
    ),
)

#: Numbers as they arrive on the wire or in YAML: ints, floats (NaN and infinities included),
#: numeric strings, huge and negative values, garbage strings.
wire_numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "0",
            "-0",
            "1",
            "-1",
            "0.5",
            "1e308",
            "1e999999999",
            "-1e999999999",
            "1E+1000000000",
            "NaN",
            "sNaN",
            "Infinity",
            "-inf",
            "",
            " ",
            "1,5",
            "0x10",
            "1_000",
            "١٢",
            "²",
            "12abc",
        ]
    ),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=8),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Arbitrary JSON documents (what json.loads can return)."""
    return st.recursive(
        json_scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=8), children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


def is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found.extend(paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found.extend(paths(value, (*prefix, index)))
    return found


#: fresh containers each draw (st.just would hand out one shared, mutable object)
garbage = st.one_of(
    wire_numbers, json_values(), st.builds(dict), st.builds(list), st.builds(lambda: [{}])
)


@st.composite
def mutated(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one to three places deleted, replaced by garbage, or wrapped in more nesting."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from(paths(doc)))
        op = draw(st.sampled_from(["delete", "replace", "replace", "nest", "null"]))
        if not where:
            doc = draw(garbage) if op == "replace" else ([doc] if op == "nest" else doc)
            continue
        parent: Any = doc
        for step in where[:-1]:
            parent = parent[step]
        last = where[-1]
        if op == "delete":
            del parent[last]
        elif op == "replace":
            parent[last] = draw(garbage)
        elif op == "nest":
            parent[last] = draw(st.sampled_from([[parent[last]], {"value": parent[last]}]))
        else:
            parent[last] = None
    return doc
