"""The Flask app: its pages (sign-in, Settings → Integrations, Visitors) on the given settings."""

from __future__ import annotations

from flask import Flask

from . import customers, integrations, visitors
from .settings import Settings


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

    @app.context_processor
    def signed_in_customer() -> dict[str, object]:
        return {"customer": customers.current()}

    return app
