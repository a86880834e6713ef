"""The Flask app: its pages (sign-in, Settings → Integrations, Visitors) on the given settings."""

from __future__ import annotations

import secrets

from flask import Flask, abort, request, session

from . import customers, integrations, visitors
from .settings import Settings

#: The form field (and session key) of the token every POST must carry.
CSRF_FIELD = "csrf_token"


def csrf_token() -> str:
    """This session's form token, made on first use: a page of another site cannot know it, so
    it cannot post a form here (Connect, Disconnect, Push all) in the signed-in customer's
    name."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return str(session[CSRF_FIELD])


def create_app(settings: Settings) -> Flask:
    app = Flask(__name__)
    app.config["HOSTAPP"] = settings
    app.config["SECRET_KEY"] = settings.session_key
    # The OAuth state rides in the session cookie: keep it from scripts, send it back on the
    # CRM's redirect (a top-level GET, which SameSite=Lax allows).
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.register_blueprint(customers.bp)
    app.register_blueprint(integrations.bp)
    app.register_blueprint(visitors.bp)

    @app.before_request
    def forms_carry_the_token() -> None:
        if request.method == "POST":
            sent = request.form.get(CSRF_FIELD, "")
            if not sent or not secrets.compare_digest(sent, session.get(CSRF_FIELD, "")):
                abort(400, "This form has expired or did not come from this app: reload the page.")

    @app.context_processor
    def signed_in_customer() -> dict[str, object]:
        return {"customer": customers.current(), "csrf_token": csrf_token}

    return app
