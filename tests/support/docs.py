"""Reading the docs' examples: the ```python blocks of a Markdown file."""

from __future__ import annotations

import re

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[str]:
    """The code of every ```python block of a Markdown text, in order."""
    return _BLOCK.findall(text)
