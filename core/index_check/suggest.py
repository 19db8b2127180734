"""Index suggestions by MongoDB's ESR rule: Equality fields first, then the Sort keys, then
Range fields (https://www.mongodb.com/docs/manual/tutorial/equality-sort-range-rule/).

Per that page: ``$ne``, ``$nin`` and ``$regex`` are range operators; ``$in`` is an equality
when used alone and a range when the query also sorts. Equality fields may come in any
order, which is what lets suggestions merge: ``{a}`` and ``{a, b}`` become one index
``{a: 1, b: 1}`` that serves both. A suggestion is dropped when an existing index already
starts with its keys (equality fields in any order, sort directions as given or all
reversed, range fields in any order).

Example:
    >>> from obs.mongo_queries.shape import shape_of
    >>> shape = shape_of("app", {"find": "cars", "filter": {"manufacturer": "Ford",
    ...                  "cost": {"$gt": 10000}}, "sort": {"model": 1}})
    >>> [s.keys for s in suggest(shape, existing=[])]
    [(('manufacturer', 1), ('model', 1), ('cost', 1))]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from obs.mongo_queries.shape import EQUALITY_OPERATORS, Predicate, QueryShape

IndexKeys = tuple[tuple[str, int], ...]
ID_INDEX: IndexKeys = (("_id", 1),)


@dataclass(frozen=True)
class IndexSuggestion:
    """An index for one collection, keys in Equality, Sort, Range order."""

    collection: str
    keys: tuple[tuple[str, int], ...]

    @property
    def create_index(self) -> str:
        """The mongosh statement that creates it.

        Example:
            >>> IndexSuggestion("users", (("status", 1), ("createdAt", -1))).create_index
            'db.getCollection("users").createIndex({ status: 1, createdAt: -1 })'
        """
        keys = ", ".join(f"{_js_key(k)}: {d}" for k, d in self.keys)
        return f'db.getCollection("{self.collection}").createIndex({{ {keys} }})'


def _js_key(name: str) -> str:
    return name if name.isidentifier() else f'"{name}"'


@dataclass(frozen=True)
class Need:
    """What one query asks of an index on one collection (by name: suggestions are per
    collection, whatever database a test suite or tenant uses)."""

    collection: str
    equality: frozenset[str]
    sort: IndexKeys
    ranges: frozenset[str]

    @property
    def empty(self) -> bool:
        return not (self.equality or self.sort or self.ranges)

    def keys(self) -> IndexKeys:
        """ESR order; equality and range fields by name."""
        return _ordered(self.equality, [self.equality], self.sort, self.ranges, [self.ranges])


def needs(shape: QueryShape) -> list[Need]:
    """The index needs of a shape's own query part (``$lookup`` shapes are separate).

    One need for the conjunctive filter; for an ``$or`` with no indexable conjunctive
    field, one per branch (mongod answers each branch with its own index).

    Example:
        >>> from obs.mongo_queries.shape import shape_of
        >>> [sorted(n.equality) for n in needs(shape_of("app", {"find": "u",
        ...     "filter": {"$or": [{"a": 1}, {"b": 2}]}}))]
        [['a'], ['b']]
    """
    base = [p for p in shape.predicates if not p.path.startswith("$")]
    if shape.alternatives and not base:
        found = [_need(shape, [*base, *branch]) for branch in shape.alternatives]
    else:
        found = [_need(shape, base)]
    return [n for n in found if not n.empty]


def _need(shape: QueryShape, preds: Sequence[Predicate]) -> Need:
    sorting = bool(shape.sort)
    equality = {
        p.path
        for p in preds
        if p.operator in EQUALITY_OPERATORS and not (sorting and p.operator == "$in")
    }
    sort_fields = {name for name, _ in shape.sort}
    sort = tuple(key for key in shape.sort if key[0] not in equality)
    ranges = {
        p.path for p in preds if not p.path.startswith("$") and p.path not in equality
    } - sort_fields
    return Need(shape.collection, frozenset(equality), sort, frozenset(ranges))


def served_by(need: Need, index: IndexKeys) -> bool:
    """Whether ``index`` starts with what ``need`` asks (see the module docstring)."""
    at = 0
    for group in (need.equality, None, need.ranges):
        if group is None:
            part = index[at : at + len(need.sort)]
            if len(part) != len(need.sort) or not _same_order(part, need.sort):
                return False
            at += len(need.sort)
            continue
        if {name for name, _ in index[at : at + len(group)]} != group:
            return False
        at += len(group)
    return True


def _same_order(have: IndexKeys, want: IndexKeys) -> bool:
    if [k for k, _ in have] != [k for k, _ in want]:
        return False
    same = all(a == b for (_, a), (_, b) in zip(have, want, strict=True))
    reversed_ = all(a == -b for (_, a), (_, b) in zip(have, want, strict=True))
    return same or reversed_


def usable(need: Need, index: IndexKeys) -> bool:
    """Whether the planner could use ``index`` for ``need`` at all: its first key is a
    filtered field, or the first sort key."""
    if not index:
        return False
    first = index[0][0]
    return first in need.equality or first in need.ranges or need.sort[:1] == index[:1]


def open_needs(shape: QueryShape, existing: Iterable[IndexKeys]) -> list[Need]:
    """The shape's needs that no existing index serves (``_id`` always exists)."""
    indexes = [*existing, ID_INDEX]
    return [n for n in needs(shape) if not any(served_by(n, i) for i in indexes)]


def suggest(shape: QueryShape, existing: Iterable[IndexKeys]) -> list[IndexSuggestion]:
    """Suggestions for the shape's own query part that no existing index serves."""
    return merged_suggestions(open_needs(shape, existing))


@dataclass
class _Group:
    """A widest need and the narrower needs it serves once its fields are ordered so."""

    widest: Need
    equality_chain: list[frozenset[str]] = field(default_factory=list)
    range_chain: list[frozenset[str]] = field(default_factory=list)

    def absorb(self, need: Need) -> bool:
        wide = self.widest
        if need.collection != wide.collection:
            return False
        if not need.sort and not need.ranges and need.equality <= wide.equality:
            return _extend_chain(self.equality_chain, need.equality)
        keys = need.keys()
        if self.keys()[: len(keys)] == keys:  # e.g. {age} as equality and as range
            return True
        if need.equality != wide.equality or wide.sort[: len(need.sort)] != need.sort:
            return False
        if not need.ranges:
            return True
        return (
            need.sort == wide.sort
            and need.ranges <= wide.ranges
            and _extend_chain(self.range_chain, need.ranges)
        )

    def keys(self) -> IndexKeys:
        wide = self.widest
        return _ordered(
            wide.equality, self.equality_chain, wide.sort, wide.ranges, self.range_chain
        )


def _extend_chain(chain: list[frozenset[str]], members: frozenset[str]) -> bool:
    """Add ``members`` if it nests with every set already in the chain."""
    if all(members <= other or other <= members for other in chain):
        chain.append(members)
        return True
    return False


def _ordered(
    equality: frozenset[str],
    equality_chain: list[frozenset[str]],
    sort: IndexKeys,
    ranges: frozenset[str],
    range_chain: list[frozenset[str]],
) -> IndexKeys:
    def layered(members: frozenset[str], chain: list[frozenset[str]]) -> list[str]:
        out: list[str] = []
        for layer in sorted([*chain, members], key=len):
            out += sorted(layer - set(out))
        return out

    return (
        *((name, 1) for name in layered(equality, equality_chain)),
        *sort,
        *((name, 1) for name in layered(ranges, range_chain)),
    )


def _groups(all_needs: Iterable[Need]) -> list[_Group]:
    unique = sorted(
        set(all_needs),
        key=lambda n: (n.collection, -len(n.keys()), n.keys()),
    )
    groups: list[_Group] = []
    for need in unique:
        if not any(g.absorb(need) for g in groups):
            groups.append(_Group(need))
    return groups


def merged_suggestions(all_needs: Iterable[Need]) -> list[IndexSuggestion]:
    """One suggestion per merged group, keys ordered so that every need it absorbed is a
    prefix.

    Example:
        >>> a = Need("u", frozenset({"b"}), (), frozenset())
        >>> ab = Need("u", frozenset({"a", "b"}), (("t", -1),), frozenset())
        >>> [s.keys for s in merged_suggestions([a, ab])]
        [(('b', 1), ('a', 1), ('t', -1))]
    """
    return [IndexSuggestion(g.widest.collection, g.keys()) for g in _groups(all_needs)]
