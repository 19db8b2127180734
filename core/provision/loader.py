"""Find the dashboards, monitors and SLOs to provision: obs's own, and the user's from files,
folders or importable modules.

A source contributes every module-level :class:`Dashboard`, :class:`Monitor` or :class:`SLO`,
and those in module-level lists or tuples. A folder contributes its ``*.py`` files
(recursively, in name order, skipping names below the folder that start with ``_``).

Example:
    >>> found = load([], defaults=True)
    >>> len(found.dashboards) >= 5 and len(found.monitors) >= 8 and len(found.slos) >= 4
    True
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from obs.dashboards.dashboard import Dashboard
from obs.monitors.monitor import Monitor
from obs.provision.problems import ProvisionError
from obs.slos.slo import SLO

Definition = Dashboard | Monitor | SLO
_KINDS: dict[type, str] = {Dashboard: "dashboard", Monitor: "monitor", SLO: "slo"}


@dataclass(frozen=True)
class Definitions:
    """Everything to provision, each with where it came from (for error messages)."""

    dashboards: tuple[Dashboard, ...]
    monitors: tuple[Monitor, ...]
    origins: dict[str, str]
    slos: tuple[SLO, ...] = ()


def load(sources: Iterable[str], *, defaults: bool) -> Definitions:
    """Load ``sources`` (paths or module names), plus obs's shipped definitions if ``defaults``."""
    modules: list[tuple[str, ModuleType]] = []
    if defaults:
        for name in ("obs.dashboards.shipped", "obs.monitors.shipped", "obs.slos.shipped"):
            modules.append((name, importlib.import_module(name)))
    for source in sources:
        modules.extend(_modules(source))
    found: dict[str, list[Definition]] = {kind: [] for kind in _KINDS.values()}
    origins: dict[str, str] = {}
    seen: set[int] = set()
    for origin, module in modules:
        for value in _values(module):
            if id(value) in seen:
                continue
            seen.add(id(value))
            kind = next(k for t, k in _KINDS.items() if isinstance(value, t))
            label = f"{kind} {value.key}"
            if label in origins:
                raise ProvisionError(
                    f"{label} is defined twice: in {origins[label]} and in {origin}"
                )
            origins[label] = origin
            found[kind].append(value)
    return Definitions(
        tuple(found["dashboard"]),  # type: ignore[arg-type]
        tuple(found["monitor"]),  # type: ignore[arg-type]
        origins,
        tuple(found["slo"]),  # type: ignore[arg-type]
    )


def _values(module: ModuleType) -> Iterator[Definition]:
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if isinstance(value, Definition):
            yield value
        elif isinstance(value, list | tuple):
            yield from (v for v in value if isinstance(v, Definition))


def _modules(source: str) -> list[tuple[str, ModuleType]]:
    path = Path(source)
    if path.is_dir():
        # Only names below the folder count: a CI runner's /home/runner/_work/... is fine.
        files = sorted(
            p
            for p in path.rglob("*.py")
            if not any(part.startswith("_") for part in p.relative_to(path).parts)
        )
        if not files:
            raise ProvisionError(f"--from {source}: the folder holds no .py files")
        return [(str(f), _load_file(f)) for f in files]
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise ProvisionError(f"--from {source}: no such file")
        return [(str(path), _load_file(path))]
    try:
        return [(source, importlib.import_module(source))]
    except ImportError as exc:
        raise ProvisionError(
            f"--from {source}: neither a file, a folder nor an importable module ({exc})"
        ) from None
    except SystemExit as exc:
        raise _exited(source, exc) from None
    except Exception as exc:
        raise ProvisionError(f"--from {source}: importing it failed: {exc!r}") from None


def _exited(source: object, exc: SystemExit) -> ProvisionError:
    # sys.exit(0) in a definitions file would otherwise end obs with "nothing to do".
    return ProvisionError(f"--from {source}: it called sys.exit({exc.code!r}) while loading")


def _load_file(path: Path) -> ModuleType:
    name = f"obs_provision_source_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ProvisionError(f"--from {path}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look modules up by name
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:
        del sys.modules[name]
        raise _exited(path, exc) from None
    except Exception as exc:
        del sys.modules[name]
        raise ProvisionError(f"--from {path}: running it failed: {exc!r}") from None
    return module
