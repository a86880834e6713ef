"""The in-memory workspace: its state, read and written under one lock, in Attio's shapes.

Every public method takes the workspace lock, validates everything before changing anything
(a failed write leaves no trace), and returns data in Attio's output shape.
"""

from __future__ import annotations

from .reads import Reads
from .writes import Writes


class Workspace(Reads, Writes):
    """One Attio workspace held in memory."""
