"""Integrations: Settings → Integrations → Attio — Connect (OAuth), Test connection, Disconnect.

The OAuth web flow is two requests: `connect` asks crm-push for the consent URL and keeps its
`state` in the signed session cookie; Attio sends the browser back to `callback`, which hands
the answer and that state to crm-push, which checks it, exchanges the code and stores the
connection (encrypted with CRM_PUSH_SECRET_KEY) under the customer's id.
"""

from __future__ import annotations

from typing import Any

from crm_push import Connection, ConnectionStore, CrmPushError, ReconnectRequired, Session, oauth
from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from . import customers
from .settings import current as settings

bp = Blueprint("integrations", __name__, url_prefix="/settings/integrations")

DESTINATION = "attio"
#: The session key holding the state of the OAuth attempt under way.
STATE_KEY = "attio_oauth_state"


def _redirect_uri() -> str:
    # The same URI in both requests (the CRM checks it at the code exchange): this app's own
    # address as the browser reached it.
    return url_for("integrations.callback", _external=True)


def _open(tenant: str) -> Session:
    """The customer's Attio session: its stored connection, found by tenant."""
    return Session(DESTINATION, tenant=tenant, db_url=settings().db_url)


def problem(exc: CrmPushError) -> str:
    """What went wrong, and what the customer can do: a dead or revoked token means connecting
    again here (crm-push's own next step speaks to the app's developer)."""
    cause = exc.__cause__  # a push stopped (RunAborted) because of a dead token
    reconnect = next((e for e in (exc, cause) if isinstance(e, ReconnectRequired)), None)
    if reconnect is not None:
        return f"{reconnect.message.rstrip('.')}. Connect Attio again in Settings → Integrations."
    return str(exc)


def _render(test: Connection | None = None) -> str:
    stored = ConnectionStore(settings().db_url).load(DESTINATION, tenant=customers.tenant())
    return render_template("integrations.html", connection=stored, test=test)


@bp.get("")
@customers.signed_in
def page() -> str:
    return _render()


@bp.post("/attio/connect")
@customers.signed_in
def connect() -> Any:
    try:
        auth = oauth.begin(
            DESTINATION,
            redirect_uri=_redirect_uri(),
            client_id=settings().client_id,
            client_secret=settings().client_secret,
            options={"base_url": settings().attio_url},
        )
    except CrmPushError as exc:
        flash(f"Attio could not be connected: {exc}", "error")
        return redirect(url_for("integrations.page"))
    session[STATE_KEY] = auth.state
    return redirect(auth.url)


@bp.get("/attio/callback")
@customers.signed_in
def callback() -> Any:
    try:
        connection = oauth.complete(
            DESTINATION,
            query=request.args,
            state=session.pop(STATE_KEY, ""),
            redirect_uri=_redirect_uri(),
            db_url=settings().db_url,
            tenant=customers.tenant(),
        )
    except CrmPushError as exc:  # denied, a forged or replayed answer, a refused code
        # The message, without crm-push's next step (written for the app's developer).
        why = exc.message.rstrip(".")
        flash(f"Attio was not connected: {why}. Press Connect to try again.", "error")
    else:
        name = connection.workspace_name or connection.workspace_id
        flash(f"Attio is connected to the workspace {name}.", "ok")
    return redirect(url_for("integrations.page"))


@bp.post("/attio/test")
@customers.signed_in
def test() -> Any:
    try:
        with _open(customers.tenant()) as attio:
            if attio.stored is None:
                flash("Attio is not connected: connect it first.", "error")
                return redirect(url_for("integrations.page"))
            live = attio.connect()
    except CrmPushError as exc:
        flash(f"The Attio connection does not work: {problem(exc)}", "error")
        return redirect(url_for("integrations.page"))
    return _render(test=live)


@bp.post("/attio/disconnect")
@customers.signed_in
def disconnect() -> Any:
    try:
        with _open(customers.tenant()) as attio:
            if attio.stored is None:
                flash("Attio is not connected: there is nothing to disconnect.", "error")
                return redirect(url_for("integrations.page"))
            result = attio.disconnect()
    except CrmPushError as exc:  # the stored credentials are forgotten even then
        flash(f"Attio is disconnected, but: {exc}", "error")
    else:
        flash(f"Attio is disconnected. {result.message}", "ok")
    return redirect(url_for("integrations.page"))
