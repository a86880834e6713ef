"""Destinations: discovery through entry points, the typed facade, the stub base, the planner."""
