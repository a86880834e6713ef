"""An example host app of crm-push: each customer connects its own Attio through OAuth from
Settings → Integrations, and pushes its website visitors from the Visitors page.

Run it with `python -m hostapp` (see the README); embed it with `create_app(Settings(...))`.
"""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
