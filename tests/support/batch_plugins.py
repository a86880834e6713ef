"""A test distribution whose entry point registers FileCRM with the batch hooks as
`batchfilecrm`, for tests that push through the CLI or `Session` in batches."""

from __future__ import annotations

import os
from pathlib import Path

ENTRY_POINTS = """\
[crm_push.destinations]
batchfilecrm = support.filecrm:BatchFileCRM
"""


def install(site: Path, tests_dir: Path) -> dict[str, str]:
    """Write the distribution under `site`; the environment a subprocess needs to see it."""
    info = site / "crm_push_batchtestdests-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: crm-push-batchtestdests\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    path = os.pathsep.join([str(site), str(tests_dir), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}
