"""Just enough PromQL to run the queries ``obs autoscale`` writes over scraped samples:
``sum``/``max`` (with ``by (labels)``) of a selector ``name{label="value",label=~"re"}``,
numbers, parentheses and ``+ - *`` (vectors matched one-to-one on their labels).

Written from Prometheus' lexer rules, separately from obs's own quoting, so that a test
reading a query back proves the query says what was meant: string literals in double
quotes with Go's escapes, a raw newline or U+FFFD refused, regular expressions anchored
at both ends. Anything else raises :class:`PromQLError`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Sample = tuple[Mapping[str, str], float]  # labels (with __name__), value

_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", '"': '"',
}  # fmt: skip
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OPERATOR = re.compile(r"=~|!~|!=|=")
_AGGREGATIONS = {"sum": sum, "max": max}
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul}


class PromQLError(ValueError):
    """Text this reader (and so, for these shapes, Prometheus) would refuse."""


@dataclass(frozen=True)
class Matcher:
    label: str
    operator: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        seen = labels.get(self.label, "")
        if self.operator in ("=", "!="):
            return (seen == self.value) == (self.operator == "=")
        return (re.fullmatch(self.value, seen) is not None) == (self.operator == "=~")


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[Matcher, ...]

    def select(self, samples: Iterable[Sample]) -> list[Sample]:
        return [
            (labels, value)
            for labels, value in samples
            if labels.get("__name__") == self.name and all(m.matches(labels) for m in self.matchers)
        ]


@dataclass(frozen=True)
class Aggregation:
    operator: str
    by: tuple[str, ...]
    inner: Aggregation | Selector

    def evaluate(self, samples: Iterable[Sample]) -> list[Sample]:
        groups: dict[tuple[str, ...], list[float]] = {}
        for labels, value in evaluate(self.inner, samples):
            groups.setdefault(tuple(labels.get(k, "") for k in self.by), []).append(value)
        apply = _AGGREGATIONS[self.operator]
        return [(dict(zip(self.by, key, strict=True)), apply(v)) for key, v in groups.items()]


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Binary:
    operator: str
    left: Expression
    right: Expression


Expression = Aggregation | Selector | Number | Binary


def _labels(sample: Sample) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in sample[0].items() if k != "__name__"))


def evaluate(expression: Expression, samples: Iterable[Sample]) -> list[Sample]:
    """The instant vector ``expression`` gives over ``samples`` (a number: one sample
    without labels, matched with any vector element)."""
    samples = list(samples)
    if isinstance(expression, Selector):
        return expression.select(samples)
    if isinstance(expression, Aggregation):
        return expression.evaluate(samples)
    if isinstance(expression, Number):
        return [({}, expression.value)]
    apply = _ARITHMETIC[expression.operator]
    left, right = evaluate(expression.left, samples), evaluate(expression.right, samples)
    if isinstance(expression.left, Number):
        return [(dict(_labels(s)), apply(left[0][1], s[1])) for s in right]
    if isinstance(expression.right, Number):
        return [(dict(_labels(s)), apply(s[1], right[0][1])) for s in left]
    by_labels = {_labels(s): s[1] for s in right}
    return [
        (dict(_labels(s)), apply(s[1], by_labels[_labels(s)]))
        for s in left
        if _labels(s) in by_labels
    ]


def selectors(expression: Expression) -> list[Selector]:
    """Every selector in ``expression``, left to right."""
    if isinstance(expression, Selector):
        return [expression]
    if isinstance(expression, Aggregation):
        return selectors(expression.inner)
    if isinstance(expression, Binary):
        return selectors(expression.left) + selectors(expression.right)
    return []


def unquote(text: str, at: int) -> tuple[str, int]:
    """The string literal starting at ``text[at]`` (a double quote) and the index after it."""
    if text[at : at + 1] != '"':
        raise PromQLError(f"expected a string at {at}")
    out = bytearray()
    i = at + 1
    while True:
        if i >= len(text) or text[i] == "\n":
            raise PromQLError("unterminated quoted string")
        char = text[i]
        if char == "\ufffd":
            raise PromQLError("invalid UTF-8 rune")
        if char == '"':
            try:
                return out.decode(), i + 1
            except UnicodeDecodeError as error:
                raise PromQLError(f"string is not UTF-8: {error}") from None
        if char != "\\":
            out += char.encode()
            i += 1
            continue
        escape = text[i + 1 : i + 2]
        if escape in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[escape].encode()
            i += 2
        elif escape in _HEX_ESCAPES:
            digits = text[i + 2 : i + 2 + _HEX_ESCAPES[escape]]
            if len(digits) != _HEX_ESCAPES[escape] or not re.fullmatch("[0-9a-fA-F]+", digits):
                raise PromQLError(f"bad \\{escape} escape at {i}")
            number = int(digits, 16)
            if escape == "x":
                out.append(number)
            elif number > 0x10FFFF or 0xD800 <= number <= 0xDFFF:
                raise PromQLError(f"escape \\{escape}{digits} is not a character")
            else:
                out += chr(number).encode()
            i += 2 + len(digits)
        elif escape.isdigit():
            digits = text[i + 1 : i + 4]
            if not re.fullmatch("[0-7]{3}", digits) or int(digits, 8) > 255:
                raise PromQLError(f"bad octal escape at {i}")
            out.append(int(digits, 8))
            i += 4
        else:
            raise PromQLError(f"unknown escape sequence {escape!r} at {i}")


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def skip(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in " \t\n":
            self.at += 1

    def take(self, pattern: re.Pattern[str], what: str) -> str:
        self.skip()
        found = pattern.match(self.text, self.at)
        if not found:
            near = self.text[self.at : self.at + 20]
            raise PromQLError(f"expected {what} at {self.at}: {near!r}")
        self.at = found.end()
        return found.group()

    def expect(self, literal: str) -> None:
        self.skip()
        if not self.text.startswith(literal, self.at):
            raise PromQLError(f"expected {literal!r} at {self.at}")
        self.at += len(literal)

    def peek(self, literal: str) -> bool:
        self.skip()
        return self.text.startswith(literal, self.at)

    def expression(self) -> Expression:
        left = self.term()
        while self.peek("+") or self.peek("-"):
            operator = self.text[self.at]
            self.at += 1
            left = Binary(operator, left, self.term())
        return left

    def term(self) -> Expression:
        left = self.atom()
        while self.peek("*"):
            self.at += 1
            left = Binary("*", left, self.atom())
        return left

    def atom(self) -> Expression:
        if self.peek("("):
            self.expect("(")
            inner = self.expression()
            self.expect(")")
            return inner
        self.skip()
        if _NUMBER.match(self.text, self.at):
            return Number(float(self.take(_NUMBER, "a number")))
        name = self.take(_NAME, "a metric name or aggregation")
        if name in _AGGREGATIONS and (self.peek("(") or self.peek("by")):
            by: tuple[str, ...] = ()
            if self.peek("by"):
                self.expect("by")
                self.expect("(")
                labels = [self.take(_LABEL, "a label")]
                while self.peek(","):
                    self.expect(",")
                    labels.append(self.take(_LABEL, "a label"))
                self.expect(")")
                by = tuple(labels)
            self.expect("(")
            inner = self.expression()
            self.expect(")")
            return Aggregation(name, by, inner)
        matchers = []
        if self.peek("{"):
            self.expect("{")
            while not self.peek("}"):
                label = self.take(_LABEL, "a label")
                operator = self.take(_OPERATOR, "a match operator")
                self.skip()
                value, self.at = unquote(self.text, self.at)
                matchers.append(Matcher(label, operator, value))
                if not self.peek("}"):
                    self.expect(",")
            self.expect("}")
        return Selector(name, tuple(matchers))


def parse(text: str) -> Expression:
    """``text`` read as one of the shapes above; PromQLError for anything else."""
    reader = _Reader(text)
    expression = reader.expression()
    reader.skip()
    if reader.at != len(text):
        raise PromQLError(f"unexpected text at {reader.at}: {text[reader.at :]!r}")
    return expression
