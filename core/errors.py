"""Errors, typed by what the caller should do next.

Plugins raise these (or subclasses); the pusher decides from the type whether to retry, reject the
visitor, skip a step, or stop the run. Every message ends with the next step for the user.
"""

from __future__ import annotations


class CrmPushError(Exception):
    """Base of every error crm-push raises on purpose."""

    #: What the user should do, in one line. Subclasses set a default.
    next_step: str = ""
    #: Set by `crm_push.http` when the error came out of a write request: the write was sent
    #: (or tried), so it counts as sent.
    write_attempted: bool = False

    def __init__(self, message: str, *, next_step: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if next_step is not None:
            self.next_step = next_step

    def __str__(self) -> str:
        if self.next_step and self.next_step not in self.message:
            return f"{self.message} — {self.next_step}"
        return self.message


class RetryLater(CrmPushError):
    """Transient: rate limited, conflict, server error or timeout. Safe to retry the same call."""

    next_step = "retry later; the request was not applied"

    def __init__(
        self, message: str, *, retry_after: float | None = None, next_step: str | None = None
    ) -> None:
        super().__init__(message, next_step=next_step)
        self.retry_after = retry_after


class InvalidInput(CrmPushError):
    """The data is wrong: fix it and push again. Rejects one visitor, never the run."""

    next_step = "fix the value and push the visitor again"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        record: str | None = None,
        code: str | None = None,
        next_step: str | None = None,
    ) -> None:
        super().__init__(message, next_step=next_step)
        self.field = field
        self.record = record
        self.code = code


class ReconnectRequired(CrmPushError):
    """Credentials are missing, invalid, revoked or expired."""

    next_step = "reconnect: run `crm-push --dest <name> connect`"


class ScopeMissing(CrmPushError):
    """The token works but lacks a permission scope for this call."""

    def __init__(self, message: str, *, scope: str, next_step: str | None = None) -> None:
        super().__init__(
            message,
            next_step=next_step or f"grant the scope {scope!r} to the token or app, then reconnect",
        )
        self.scope = scope


class CapabilityMissing(CrmPushError):
    """The destination cannot do this optional step (e.g. notes). The step is skipped."""

    next_step = "the step is skipped; the rest of the push goes on"


class NotImplementedYet(CrmPushError):
    """A stub destination: the hook exists but does nothing yet. Never a fake success."""

    next_step = "use a destination whose status is `ok` in `crm-push plugins`"


class ConfigurationError(CrmPushError):
    """A setting is wrong (the state database URL, a missing driver, an unreadable file): fix it
    and run again. Nothing was pushed; the CLI exits 2, as for a usage error."""

    next_step = "fix the setting and run again; nothing was pushed"


class AmbiguousConnection(ConfigurationError):
    """Several connections are stored for a destination and none was chosen: choose one.

    `workspaces` lists the stored workspace ids; never "the most recent", which would push one
    customer's visitors into another's workspace.
    """

    def __init__(self, message: str, *, workspaces: tuple[str, ...], next_step: str) -> None:
        super().__init__(message, next_step=next_step)
        self.workspaces = workspaces


class DestinationNotFound(CrmPushError):
    """No installed destination has that name."""


class PluginLoadError(CrmPushError):
    """A destination is installed but could not be imported or registered."""


class Fatal(CrmPushError):
    """Give up: the CRM refused in a way a retry or an input fix will not change."""

    next_step = "check the destination's status and the error above; nothing more was written"


class RunAborted(CrmPushError):
    """The run cannot go on (credentials died): what was pushed stays pushed; re-run to resume."""
