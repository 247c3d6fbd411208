"""mkdocs hook (mkdocs.yml `hooks:`): the demo's result table lives once, in README.md between
`<!-- demo-result -->` and `<!-- /demo-result -->`; a page holding the same markers shows it on the site. On GitHub
the page shows what is between its own markers (a link to the README's table)."""

from __future__ import annotations

import re
from pathlib import Path

MARKED = re.compile(r"<!-- demo-result -->\n.*?<!-- /demo-result -->", flags=re.DOTALL)


def demo_result(readme: Path) -> str:
    found = MARKED.findall(readme.read_text())
    if len(found) != 1:
        raise ValueError(
            f"{readme}: expected one <!-- demo-result --> ... <!-- /demo-result --> block, found {len(found)}"
        )
    return found[0]


def on_page_markdown(markdown: str, page, config, files) -> str:
    if not MARKED.search(markdown):
        return markdown
    table = demo_result(Path(config["config_file_path"]).parent / "README.md")
    return MARKED.sub(lambda _: table, markdown)
