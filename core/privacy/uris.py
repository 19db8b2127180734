"""Connection URIs without their secrets: a printable label, the pieces that must never be
printed, and a check that the credentials are escaped before any driver reads them.

A password holding an unescaped ``/``, ``?``, ``#`` or ``@`` moves the URI's structure: the
drivers then read part of the password as a host, a port or an option and fail with an
error (or a traceback) that quotes it. :func:`credential_problem` finds that first and says
what to do without echoing anything.

Example:
    >>> uri = "mongodb://app:s3cret@db1:27017,db2/app?authSource=admin&tls=true"
    >>> uri_label(uri), redact(f"login to {uri} failed (s3cret)", uri)
    ('mongodb://db1:27017,db2/app', 'login to mongodb://db1:27017,db2/app failed (***)')
    >>> credential_problem("redis://:pa/ss@cache:6379/0") == ESCAPING
    True
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus, unquote

# Options whose values describe the connection, never a secret: they stay in messages.
_PLAIN_OPTIONS = frozenset(
    name.lower()
    for name in (
        "authSource",
        "authMechanism",
        "replicaSet",
        "appName",
        "readPreference",
        "readPreferenceTags",
        "readConcernLevel",
        "w",
        "journal",
        "wtimeoutMS",
        "tls",
        "ssl",
        "tlsInsecure",
        "tlsAllowInvalidCertificates",
        "tlsAllowInvalidHostnames",
        "directConnection",
        "loadBalanced",
        "compressors",
        "zlibCompressionLevel",
        "retryWrites",
        "retryReads",
        "maxPoolSize",
        "minPoolSize",
        "maxIdleTimeMS",
        "maxConnecting",
        "waitQueueTimeoutMS",
        "connectTimeoutMS",
        "socketTimeoutMS",
        "serverSelectionTimeoutMS",
        "serverMonitoringMode",
        "heartbeatFrequencyMS",
        "localThresholdMS",
        "timeoutMS",
        "srvMaxHosts",
        "srvServiceName",
        "uuidRepresentation",
        "protocol",
        "db",
        "health_check_interval",
        "socket_timeout",
        "socket_connect_timeout",
        "decode_responses",
        "client_name",
    )
)
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_OPTION = re.compile(r"[A-Za-z_][\w.]*=")  # an option's name: an @ may follow in its value


def _split(uri: str) -> tuple[str, str, str, str]:
    """(scheme, userinfo, hosts, rest): the authority ends at the first ``/``, ``?`` or
    ``#`` after the last ``@`` that precedes it, as a reader of an escaped URI sees it."""
    scheme, separator, remainder = uri.partition("://")
    if not separator:
        return "", "", "", uri
    end = len(remainder)
    for mark in "/?#":
        found = remainder.find(mark)
        if found != -1:
            end = min(end, found)
    authority, rest = remainder[:end], remainder[end:]
    userinfo, at, hosts = authority.rpartition("@")
    return scheme, userinfo if at else "", hosts if at else authority, rest


def uri_label(uri: str) -> str:
    """``uri`` without credentials and options: scheme, hosts and path.

    Example:
        >>> uri_label("mongodb://u:p@a:1,b:2/app?authSource=admin&tls=true")
        'mongodb://a:1,b:2/app'
    """
    scheme, _, hosts, rest = _split(uri)
    if credential_problem(uri):
        return f"{scheme}://…"  # where the hosts start is not known
    path = rest.split("?", 1)[0].split("#", 1)[0]
    return f"{scheme}://{hosts}{'' if path in ('', '/') else path}"


ESCAPING = (
    "the password or user name holds a character that must be percent-escaped "
    "(/ ? # @ : %; e.g. with urllib.parse.quote_plus)"
)


def credential_problem(uri: str) -> str | None:
    """What is wrong with the escaping of ``uri``'s user name and password, or None.

    An ``@`` after the authority means the password held a ``/``, ``?`` or ``#`` that
    ended it early (an option's value may hold one: ``appName=a@b``). MongoDB URIs also
    need ``@``, a second ``:`` and a bare ``%`` escaped (pymongo refuses them).

    Example:
        >>> credential_problem("mongodb://app:p%40ss@db/app?appName=me@host") is None
        True
        >>> credential_problem("mongodb://app:p@ss@db/app") is not None
        True
    """
    scheme, userinfo, hosts, rest = _split(uri)
    before_fragment, _, fragment = rest.partition("#")
    path, _, query = before_fragment.partition("?")
    if "@" in path or "@" in fragment:
        return ESCAPING
    if any("@" in part and not _OPTION.match(part) for part in query.split("&")):
        return ESCAPING  # "?ss@host/db", "?=@host": a password's tail read as options
    if "@" in rest and not all(_is_host(host) for host in hosts.split(",")):
        return ESCAPING  # ":pa?=@host": the password's head read as a host
    strict = scheme.startswith("mongodb")
    if strict and ("@" in userinfo or userinfo.count(":") > 1 or _PERCENT.search(userinfo)):
        return ESCAPING
    return None


def _is_host(host: str) -> bool:
    """``host``, ``host:port`` or ``[v6]:port`` with a numeric port."""
    name, separator, port = host.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        return True
    return not separator or (port.isdigit() and bool(name))


def uri_secrets(uri: str) -> list[str]:
    """The pieces of ``uri`` that must never be printed, longest first: the userinfo with
    its password, the password (raw and unescaped), and the values of options that are not
    plainly connection settings (tokens, key passwords and mechanism properties travel
    there). With unescaped credentials, everything between ``://`` and the last ``@``.

    Example:
        >>> uri_secrets("mongodb://u:pw%21@h/?authSource=admin&tlsCertificateKeyFilePassword=k1")
        ['u%3Apw%21', 'u:pw%21', 'pw%21', 'u:pw!', 'pw!', 'k1']
    """
    found: list[str] = []
    if credential_problem(uri):
        body = uri.partition("://")[2]
        userinfo = body.rpartition("@")[0]
        found += [userinfo, *re.split(r"[:/?#@&=]", userinfo)]
    else:
        _, userinfo, _, rest = _split(uri)
        if userinfo:
            password = userinfo.partition(":")[2]
            found += [userinfo, password] if password else [userinfo]
        for option in rest.partition("?")[2].split("#")[0].split("&"):
            name, _, value = option.partition("=")
            if value and name.lower() not in _PLAIN_OPTIONS:
                # authMechanismProperties=SERVICE_NAME:x,AWS_SESSION_TOKEN:t: each value too
                found += [value, *(p.partition(":")[2] for p in value.split(","))]
    # and every spelling a message may quote them in: unescaped, escaped, as a repr
    plain = [unquote(piece) for piece in found]
    for piece in plain:
        found += [piece, quote(piece, safe=""), quote(piece), quote_plus(piece), repr(piece)[1:-1]]
    unique = {piece for piece in found if piece}
    return sorted(unique, key=lambda piece: (-len(piece), found.index(piece)))


def redact(text: str, uri: str) -> str:
    """``text`` with ``uri`` replaced by its label and its secrets by ``***`` wherever they
    stand as a whole (``20000.0ms`` keeps its digits when a timeout option is 20000).

    Example:
        >>> redact("timeout 20000.0ms", "mongodb://db/?serverSelectionTimeoutMS=20000")
        'timeout 20000.0ms'
    """
    text = text.replace(uri, uri_label(uri))
    for secret in uri_secrets(uri):
        text = re.sub(rf"(?<![\w%]){re.escape(secret)}(?![\w%])", "***", text)
    return text
