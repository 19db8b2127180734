"""Hypothesis strategies for MongoDB commands full of values a test can look for afterwards.

Every generated string value holds a *token* (``zq`` and ten letters or digits) between
random adversarial characters (quotes, braces, ``$``, ``:``, line breaks, NUL, non-ASCII):
no field name, operator or message contains one, so finding a token in any output proves a
value leaked. Large integers (twelve digits) stand for numeric values the same way.
:func:`leaked` lists what of a generated structure shows up in a text.

In aggregation expressions a string that starts with ``$`` is a field path, not a value
(MongoDB's own rule): there, literal strings that could start with ``$`` are wrapped in
``$literal`` as an application must write them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st

TOKEN = re.compile(r"zq[a-z0-9]{10}")
FIELDS = ("email", "status", "amount", "from", "as", "key", "q", "u", "op", "note", "tags")
COLLECTIONS = ("users", "orders", "events")

_noise = st.text(alphabet="'\"{}[]():,$\\ @#/?%&=\n\té€\x00*", max_size=3)
tokens = st.from_regex(TOKEN, fullmatch=True)
strings = st.builds(lambda a, t, b: a + t + b, _noise, tokens, _noise)
numbers = st.integers(min_value=10**11, max_value=10**12 - 1)
scalars = st.one_of(strings, numbers, st.booleans(), st.none(), st.floats(allow_nan=False))
fields = st.sampled_from(FIELDS)


def documents(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """Documents of generated values, nested ``depth`` levels at most."""
    leaf = scalars if depth == 0 else st.one_of(scalars, st.lists(scalars, max_size=3))
    values = leaf if depth == 0 else st.one_of(leaf, st.deferred(lambda: documents(depth - 1)))
    return st.dictionaries(fields, values, min_size=1, max_size=4)


# An aggregation expression's constant: a literal as an application writes it.
expression_constants = st.one_of(
    numbers,
    strings.filter(lambda s: not s.startswith("$")),
    st.builds(lambda v: {"$literal": v}, scalars),
)

_comparisons = st.sampled_from(("$eq", "$ne", "$gt", "$gte", "$lt", "$lte"))
_predicates = st.one_of(
    scalars,
    st.builds(lambda op, v: {op: v}, _comparisons, scalars),
    st.builds(lambda v: {"$in": v}, st.lists(scalars, min_size=1, max_size=4)),
    st.builds(lambda v: {"$regex": v}, strings),
    st.builds(lambda v: {"$not": {"$eq": v}}, scalars),
)
filters = st.recursive(
    st.dictionaries(fields, _predicates, min_size=1, max_size=3),
    lambda inner: st.one_of(
        st.builds(lambda parts: {"$or": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda parts: {"$and": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda f, v: {"$expr": {"$eq": [f"${f}", v]}}, fields, expression_constants),
    ),
    max_leaves=8,
)
updates = st.one_of(
    st.builds(
        lambda s, n, p: {"$set": s, "$inc": n, "$push": p},
        documents(1),
        st.dictionaries(st.just("amount"), numbers, min_size=1),
        st.dictionaries(st.just("tags"), scalars, min_size=1),
    ),
    st.builds(  # an update pipeline: expressions
        lambda f, v: [{"$set": {f: v}}], fields, expression_constants
    ),
)
_stages = st.one_of(
    st.builds(lambda f: {"$match": f}, filters),
    st.builds(lambda f, v: {"$project": {f: v}}, fields, expression_constants),
    st.builds(
        lambda f, v: {"$addFields": {f: {"$concat": [f"${f}", v]}}},
        fields,
        strings.filter(lambda s: not s.startswith("$")),
    ),
    st.builds(lambda v: {"$group": {"_id": "$status", "n": {"$sum": v}}}, expression_constants),
    st.builds(
        lambda start: {
            "$graphLookup": {
                "from": "users",
                "startWith": start,
                "connectFromField": "key",
                "connectToField": "email",
                "as": "chain",
            }
        },
        expression_constants,
    ),
    st.builds(
        lambda v, f: {
            "$lookup": {
                "from": "orders",
                "let": {"v": v},
                "pipeline": [{"$match": {"$expr": {"$eq": ["$key", "$$v"]}}}, {"$match": f}],
                "as": "joined",
            }
        },
        expression_constants,
        filters,
    ),
)
pipelines = st.lists(_stages, min_size=1, max_size=4)


@st.composite
def commands(draw: st.DrawFn) -> dict[str, Any]:
    """One command as pymongo sends it (a find, an aggregate, a write, ...)."""
    collection = draw(st.sampled_from(COLLECTIONS))
    kind = draw(st.sampled_from(("find", "aggregate", "update", "insert", "fam", "delete")))
    if kind == "find":
        return {"find": collection, "filter": draw(filters), "limit": draw(numbers)}
    if kind == "aggregate":
        return {"aggregate": collection, "pipeline": draw(pipelines), "cursor": {}}
    if kind == "update":
        statement = {"q": draw(filters), "u": draw(updates), "upsert": draw(st.booleans())}
        return {"update": collection, "updates": [statement]}
    if kind == "insert":
        return {"insert": collection, "documents": draw(st.lists(documents(), min_size=1))}
    if kind == "fam":
        return {"findAndModify": collection, "query": draw(filters), "update": draw(updates)}
    return {"delete": collection, "deletes": [{"q": draw(filters), "limit": 0}]}


def values_of(generated: Any) -> set[str]:
    """The tokens and large numbers inside ``generated`` (keys are names, not values)."""
    found: set[str] = set()
    stack = [generated]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += list(item.values())
        elif isinstance(item, list | tuple):
            stack += list(item)
        elif isinstance(item, str):
            found.update(TOKEN.findall(item))
        elif isinstance(item, int) and not isinstance(item, bool) and item >= 10**11:
            found.add(str(item))
    return found


def leaked(generated: Any, texts: Iterable[str | bytes]) -> set[str]:
    """The values of ``generated`` that appear in any of ``texts``."""
    values = values_of(generated)
    out: set[str] = set()
    for text in texts:
        body = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        out |= {v for v in values if v in body}
    return out
