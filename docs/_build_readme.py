"""Assemble README.md: docs/_readme_head.md, then a results index linking the pages in docs/results/.

The README stays short; the long tables live in docs/results/*.md (each page's first heading and
its first paragraph's first sentence make the index line).
"""
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ORDER = ["classical", "hclt", "flow", "wavelet", "inr", "nerv", "eval", "notebooks"]


def summary(page: Path) -> tuple[str, str]:
    """(title, first sentence) of a results page."""
    lines = page.read_text().splitlines()
    title = next((l.lstrip("# ").strip() for l in lines if l.startswith("#")), page.stem)
    body = " ".join(l.strip() for l in lines[1:40] if l.strip() and not l.startswith(("#", "!", "|", "```")))
    first = re.split(r"(?<=[.!?])\s", body, maxsplit=1)[0] if body else ""
    if len(first) > 180:
        first = first[:180].rsplit(" ", 1)[0] + " …"
    return title, first


parts = [(DOCS / "_readme_head.md").read_text().rstrip() + "\n"]
names = ORDER + sorted(p.stem for p in (DOCS / "results").glob("*.md") if p.stem not in ORDER)
for name in names:
    page = DOCS / "results" / f"{name}.md"
    if page.exists():
        title, first = summary(page)
        parts.append(f"- [{title}](docs/results/{name}.md): {first}")
(DOCS.parent / "README.md").write_text("\n".join(parts) + "\n")
print("README.md written")
