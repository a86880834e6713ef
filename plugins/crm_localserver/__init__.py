"""What the bundled CRM-compatible servers share: the socket side and the command's run loop.

Like the servers themselves it imports nothing from crm_push, so a server stays an independent
peer of the plugin it tests.
"""

from crm_localserver.httpd import Handler, HTTPServer, Listener
from crm_localserver.run import listen_parser, serve_until_stopped

__all__ = ["HTTPServer", "Handler", "Listener", "listen_parser", "serve_until_stopped"]
