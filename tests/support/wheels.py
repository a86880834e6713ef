"""Building a wheel from a source folder, as the packaging tests do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q")


def build_wheel(src: Path, out: Path, name: str) -> Path:
    """`pip wheel` of `src` (no dependencies, no build isolation) into `out`: the one wheel
    whose file name starts with `name`."""
    subprocess.run(
        [*PIP_WHEEL, "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob(f"{name}-*.whl")
    return wheel
