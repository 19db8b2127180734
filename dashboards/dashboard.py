"""A dashboard as a value: identity key, title, template variables and ordered widgets.

``key`` is the dashboard's identity for ``obs provision`` (it goes into the ownership marker
in the description); the title may change freely. ``adopt_id`` takes over an existing
dashboard that obs did not create (``obs provision import`` writes it).

Example:
    >>> from obs.dashboards.widgets import Note
    >>> d = Dashboard("demo", "Demo", (Note("hello"),), template_variables=(ENV,))
    >>> d.variable_names()
    ('env',)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from obs.dashboards.widgets import Graph, Group, Widget
from obs.metric_query.tree import Query


@dataclass(frozen=True)
class TemplateVariable:
    """A dashboard filter: ``$name`` in queries expands to ``prefix:<chosen value>``."""

    name: str
    prefix: str | None = None
    default: str = "*"
    available_values: tuple[str, ...] = ()


ENV = TemplateVariable("env", "env")
SERVICE = TemplateVariable("service", "service")


@dataclass(frozen=True)
class Dashboard:
    """An ordered dashboard."""

    key: str
    title: str
    widgets: tuple[Widget, ...]
    description: str = ""
    template_variables: tuple[TemplateVariable, ...] = ()
    teams: tuple[str, ...] = ()
    notify_list: tuple[str, ...] = ()
    reflow: Literal["auto", "fixed"] | None = None
    adopt_id: str | None = None

    def walk(self) -> Iterator[Widget]:
        """Every widget, groups' members included, in order."""
        for widget in self.widgets:
            yield widget
            if isinstance(widget, Group):
                yield from widget.walk()

    def queries(self) -> Iterator[Query]:
        for widget in self.walk():
            if isinstance(widget, Graph):
                yield from widget.queries()

    def variable_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.template_variables)
