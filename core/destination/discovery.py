"""Finding and loading destinations through the `crm_push.destinations` entry points.

Only the named entry point is imported (stevedore's DriverManager), so an unused or broken
plugin costs nothing and breaks nothing. `CRM_PUSH_PLUGINS` (comma-separated) loads only the
listed destinations; `CRM_PUSH_BLOCK_PLUGINS` hides the listed ones. `PluginFilter` says what
they hide and which of their names are not installed, so a filter never hides silently.
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


def _env_names(var: str) -> list[str] | None:
    raw = os.environ.get(var, "").strip()
    return list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip())) if raw else None


def _all_entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return {ep.name: ep for ep in sorted(eps, key=lambda e: e.name)}


class PluginFilter(BaseModel):
    """What `CRM_PUSH_PLUGINS` and `CRM_PUSH_BLOCK_PLUGINS` do to the installed destinations."""

    installed: list[str]
    only: list[str] | None = None  # CRM_PUSH_PLUGINS, when set
    blocked: list[str] | None = None  # CRM_PUSH_BLOCK_PLUGINS, when set

    @classmethod
    def from_environment(cls, installed: list[str] | None = None) -> PluginFilter:
        names = list(_all_entry_points()) if installed is None else installed
        return cls(installed=names, only=_env_names(ONLY_ENV), blocked=_env_names(BLOCK_ENV))

    def hidden_by(self, name: str) -> str | None:
        """The variable (as `NAME=value`) that hides this destination, or None."""
        if self.only is not None and name not in self.only:
            return f"{ONLY_ENV}={','.join(self.only)}"
        if self.blocked and name in self.blocked:
            return f"{BLOCK_ENV}={','.join(self.blocked)}"
        return None

    def allowed(self, name: str) -> bool:
        return self.hidden_by(name) is None

    def unknown(self) -> dict[str, list[str]]:
        """Names in either variable that no installed destination has (a typo, say)."""
        out = {}
        for var, names in ((ONLY_ENV, self.only), (BLOCK_ENV, self.blocked)):
            missing = [n for n in names or () if n not in self.installed]
            if missing:
                out[var] = missing
        return out

    def notes(self) -> list[str]:
        """What to tell the user (on stderr) about the filter: warnings first, then what is
        hidden. Empty when neither variable is set."""
        installed = ", ".join(self.installed) or "none"
        lines = [
            f"warning: {var} names {', '.join(map(repr, names))}, which "
            f"{'is' if len(names) == 1 else 'are'} not installed (installed: {installed})"
            for var, names in self.unknown().items()
        ]
        hidden = [n for n in self.installed if not self.allowed(n)]
        active = [
            f"{var}={','.join(names)}"
            for var, names in ((ONLY_ENV, self.only), (BLOCK_ENV, self.blocked))
            if names is not None
        ]
        if active:
            what = f"{len(hidden)} hidden: {', '.join(hidden)}" if hidden else "none hidden"
            lines.append(f"note: destinations filtered by {' and '.join(active)} ({what})")
        return lines


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    rules = PluginFilter.from_environment(installed=[])
    return {name: ep for name, ep in _all_entry_points().items() if rules.allowed(name)}


def available() -> list[str]:
    """Names of the installed (and allowed) destinations, without importing any of them."""
    return list(_entry_points())


def describe_available() -> str:
    """The allowed destinations for a message, saying what the variables hide, if anything."""
    rules = PluginFilter.from_environment()
    names = [n for n in rules.installed if rules.allowed(n)]
    text = ", ".join(names) or "none"
    hidden = [n for n in rules.installed if not rules.allowed(n)]
    if hidden:
        causes = sorted({str(rules.hidden_by(n)) for n in hidden})
        text += f" ({', '.join(hidden)} hidden by {' and '.join(causes)})"
    elif not names:
        text = "none installed"
    return text


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
        rules = PluginFilter.from_environment()
        hidden_by = rules.hidden_by(name) if name in rules.installed else None
        if hidden_by:
            var = hidden_by.partition("=")[0]
            fix = "add it to" if var == ONLY_ENV else "remove it from"
            raise DestinationNotFound(
                f"destination {name!r} is installed but hidden by {hidden_by}",
                next_step=f"{fix} {var}, or unset {var}",
            )
        raise DestinationNotFound(
            f"no destination named {name!r}; installed destinations: {describe_available()}",
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
