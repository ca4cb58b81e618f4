"""Assemble README.md from docs/_readme_head.md and the per-topic docs/results_*.md pages.

Links in the pages are relative to docs/; they are rewritten to be relative to the repository root.
"""
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ORDER = ["classical", "hclt", "flow", "wavelet", "nerv", "eval", "notebooks"]


def fix_links(text: str) -> str:
    text = text.replace("](../", "](")
    return re.sub(r"\]\((?!http|#|/|docs\b|benchmarks\b|notebooks\b|ncodec\b)([^)]+)\)", r"](docs/\1)", text)


parts = [(DOCS / "_readme_head.md").read_text()]
for name in ORDER:
    page = DOCS / f"results_{name}.md"
    if page.exists():
        parts.append(fix_links(page.read_text()).rstrip() + "\n")
(DOCS.parent / "README.md").write_text("\n".join(parts))
print("README.md written")
