"""Finding and loading destinations through the `crm_push.destinations` entry points.

Only the named entry point is imported (stevedore's DriverManager), so an unused or broken
plugin costs nothing and breaks nothing. `CRM_PUSH_PLUGINS` (comma-separated) loads only the
listed destinations; `CRM_PUSH_BLOCK_PLUGINS` hides the listed ones.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
from typing import Any

from crm_push.destination.facade import Destination, is_stub
from crm_push.errors import DestinationNotFound, PluginLoadError
from pydantic import BaseModel
from stevedore import DriverManager, ExtensionManager

ENTRY_POINT_GROUP = "crm_push.destinations"
ONLY_ENV = "CRM_PUSH_PLUGINS"
BLOCK_ENV = "CRM_PUSH_BLOCK_PLUGINS"


class PluginInfo(BaseModel):
    """One installed destination as `crm-push plugins` shows it."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    status: str  # "ok", "stub" or "broken"
    error: str | None = None


def _env_names(var: str) -> set[str] | None:
    raw = os.environ.get(var, "").strip()
    return {n.strip() for n in raw.split(",") if n.strip()} if raw else None


def _allowed(name: str) -> bool:
    only, blocked = _env_names(ONLY_ENV), _env_names(BLOCK_ENV)
    return (only is None or name in only) and not (blocked and name in blocked)


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return {ep.name: ep for ep in sorted(eps, key=lambda e: e.name) if _allowed(ep.name)}


def available() -> list[str]:
    """Names of the installed (and allowed) destinations, without importing any of them."""
    return list(_entry_points())


def _instantiate(name: str, obj: Any) -> object:
    # An entry point may name a module, an instance or a class; a class gets one instance per
    # load so that two loaded destinations never share state.
    return obj() if inspect.isclass(obj) else obj


def _raise(_manager: Any, entrypoint: Any, exc: BaseException) -> None:
    raise PluginLoadError(
        f"destination {entrypoint.name!r} could not be loaded: {type(exc).__name__}: {exc}",
        next_step=f"reinstall the plugin's package, or block it with {BLOCK_ENV}={entrypoint.name}",
    ) from exc


def load_destination(name: str) -> Destination:
    """Load one destination by its entry-point name, in its own PluginManager."""
    if name not in _entry_points():
        known = ", ".join(available()) or "none"
        raise DestinationNotFound(
            f"no destination named {name!r}; installed destinations: {known}",
            next_step="pick one of those with --dest, or install the plugin's package",
        )
    # stevedore caches a group's entry points per process; drop it so a plugin installed (or a
    # test distribution added to sys.path) since the last load is seen.
    ExtensionManager.ENTRY_POINT_CACHE.pop(ENTRY_POINT_GROUP, None)
    manager = DriverManager(
        namespace=ENTRY_POINT_GROUP,
        name=name,
        invoke_on_load=False,
        on_load_failure_callback=_raise,
    )
    return Destination(name, _instantiate(name, manager.driver))


def list_plugins() -> list[PluginInfo]:
    """Every installed destination with its status; each is loaded in isolation."""
    infos = []
    for name, ep in _entry_points().items():
        dist = getattr(ep, "dist", None)
        info: dict[str, Any] = {
            "name": name,
            "module": ep.value,
            "distribution": dist.name if dist else None,
            "version": dist.version if dist else None,
        }
        try:
            dest = load_destination(name)
        except Exception as exc:  # any failure of a third-party plugin must stay contained
            cause = exc.__cause__ or exc
            infos.append(
                PluginInfo(**info, status="broken", error=f"{type(cause).__name__}: {cause}")
            )
        else:
            infos.append(PluginInfo(**info, status="stub" if is_stub(dest.plugin) else "ok"))
    return infos
