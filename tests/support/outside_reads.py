"""A pytest plugin that fails any test opening a file outside the checkout, other than the
system's and the test environment's own (Python, the virtualenv, temporary folders, /proc,
/etc, ...): a user's clone has nothing beside it, so a test reading a sibling folder passes
here and fails there.

Only this process is watched (an audit hook on ``open``); servers the tests start as child
processes open what they like.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
_SYSTEM = ("/proc", "/sys", "/dev", "/etc", "/usr", "/lib", "/lib64", "/run", "/var/lib")


def allowed_roots() -> tuple[str, ...]:
    roots = {
        str(CHECKOUT),
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        tempfile.gettempdir(),
        os.path.realpath(tempfile.gettempdir()),
        *(p for p in sysconfig.get_paths().values()),
        *_SYSTEM,
    }
    return tuple(sorted(os.path.realpath(r) for r in roots))


_ROOTS = allowed_roots()
_CHECKOUT = os.path.realpath(CHECKOUT)
_BESIDE = os.path.realpath(CHECKOUT.parent)
# What stands beside the checkout is what a user's clone lacks, even where the checkout
# itself sits in a temporary folder (a clone made with mktemp -d); only where its parent is
# itself a system place (a clone straight into /tmp) can the siblings not be told apart.
SIBLINGS_WATCHED = _BESIDE not in _ROOTS
_seen: list[str] = []


def is_outside(path: str) -> bool:
    """Whether ``path`` is outside the checkout and the system's own places.

    Example:
        >>> is_outside(str(CHECKOUT.parent / "shared" / "spec.yaml"))
        True
        >>> is_outside(str(CHECKOUT / "tests" / "conftest.py"))
        False
    """
    real = os.path.realpath(path)
    if real == _CHECKOUT or real.startswith(_CHECKOUT + os.sep):
        return False
    if SIBLINGS_WATCHED and (real == _BESIDE or real.startswith(_BESIDE + os.sep)):
        return True
    return not any(real == root or real.startswith(root + os.sep) for root in _ROOTS)


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and args and isinstance(args[0], str | bytes | os.PathLike):
        path = os.fsdecode(args[0])  # type: ignore[arg-type]
        # Only what exists here: a test may probe a missing path (and pdb looks for a
        # ~/.pdbrc), and what does not exist cannot make a test pass here and fail there.
        if is_outside(path) and os.path.exists(path):
            _seen.append(path)


sys.addaudithook(_hook)


@pytest.fixture(autouse=True)
def _no_reads_outside_the_checkout() -> Iterator[None]:
    _seen.clear()
    yield
    if _seen:
        found = sorted(set(_seen))
        _seen.clear()
        pytest.fail(f"opened outside the checkout: {', '.join(found)}", pytrace=False)
