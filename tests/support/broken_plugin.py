"""A destination whose import fails, as a half-installed third-party plugin would."""

raise ImportError("this plugin needs a package that is not installed (on purpose, for tests)")
