"""The servers the agent watches, and how they are named without their credentials.

A target's ``label`` (``mongodb://db1:27017,db2:27017``, ``redis://cache:6379/0``) is
what appears in metrics (``obs.target``), logs and ``--once`` output: scheme, hosts and
database only. Passwords, user names and query options (which can hold tokens) never
appear; :meth:`Target.scrub` removes them from driver error messages too.

Example:
    >>> t = RedisTarget(url="redis://app:s3cret@cache:6380/2")
    >>> t.label, t.scrub("auth failed for redis://app:s3cret@cache:6380/2 (s3cret)")
    ('redis://cache:6380/2', 'auth failed for redis://cache:6380/2 (***)')
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from obs.privacy.scrub import scrub_text
from obs.privacy.uris import credential_problem, redact, uri_label

__all__ = ["MongoTarget", "RedisTarget", "Target", "uri_label"]

MONGO_SCHEMES = ("mongodb", "mongodb+srv")
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


def _hosts(netloc: str) -> str:
    return netloc.rsplit("@", 1)[-1]


def _driver_problem(value: str, scheme: str) -> str | None:
    """What the driver says about ``value`` when it reads it (without connecting), its
    secrets redacted; None when it reads it."""
    try:
        if scheme in MONGO_SCHEMES:
            if scheme == "mongodb+srv":
                return None  # reading it resolves DNS: left to the first collection
            from pymongo import uri_parser

            uri_parser.parse_uri(value)
        else:
            from redis.connection import parse_url

            plain = scheme.removesuffix("+cluster")
            parse_url(plain + value[len(scheme) :])  # type: ignore[no-untyped-call]
    except Exception as exc:
        return redact(f"{type(exc).__name__}: {exc}", value)
    return None


def _check_uri(value: str, schemes: tuple[str, ...], what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"expected a {what} URI starting with {wanted}")
    problem = credential_problem(value)
    if problem is not None:
        raise ValueError(f"the {what} URI cannot be read: {problem}")
    if parts.scheme != "unix" and not _hosts(parts.netloc):
        raise ValueError(f"the {what} URI names no host")
    if parts.scheme.endswith("+cluster") and parts.path not in ("", "/", "/0"):
        raise ValueError("a Redis Cluster has only database 0")
    problem = _driver_problem(value, parts.scheme)
    if problem is not None:
        raise ValueError(f"the {what} URI cannot be read: {problem}")
    return value


MongoUri = Annotated[
    str, AfterValidator(functools.partial(_check_uri, schemes=MONGO_SCHEMES, what="MongoDB"))
]
RedisUrl = Annotated[
    str, AfterValidator(functools.partial(_check_uri, schemes=REDIS_SCHEMES, what="Redis"))
]


class Target(BaseModel):
    """Base of every target: one URI, named by its label. A bare string stands for a
    target with only its URI (the key named by ``SHORTHAND``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    SHORTHAND: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {cls.SHORTHAND: value} if isinstance(value, str) else value

    @property
    def uri(self) -> str:
        raise NotImplementedError

    @property
    def label(self) -> str:
        return uri_label(self.uri)

    def scrub(self, text: str) -> str:
        """``text`` with this target's URI replaced by its label and its secrets masked."""
        return scrub_text(redact(text, self.uri))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    __str__ = __repr__


class MongoTarget(Target):
    """One MongoDB deployment (a mongod, a replica set member or a mongos)."""

    SHORTHAND = "uri"
    mongo_uri: MongoUri = Field(alias="uri", repr=False)
    databases: list[str] | None = Field(
        None,
        description="Databases whose profiler and collection stats are read; "
        "default: every database except admin, local and config.",
    )

    @property
    def uri(self) -> str:
        return self.mongo_uri


class RedisTarget(Target):
    """One Redis server, or a Redis Cluster (``redis+cluster://`` / ``rediss+cluster://``
    and any node as the seed): its INFO (cache efficiency) and the BullMQ queues it holds."""

    SHORTHAND = "url"
    url: RedisUrl = Field(repr=False)
    info: bool = Field(True, description="Collect INFO (memory, hits and misses, evictions).")
    bullmq: bool = Field(True, description="Collect the BullMQ queues under the prefixes.")
    bullmq_prefixes: list[str] | None = Field(
        None, description="BullMQ key prefixes here; default: the global bullmq_prefixes."
    )
    queues: list[str] = Field(
        [], description="A static list of queue names; empty: discover them with SCAN."
    )

    @property
    def uri(self) -> str:
        return self.url
