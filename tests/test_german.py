"""The German texts stay in step with the English ones: README.de.md and one summary per lesson.

The tests check structure only: links, identical commands and a summary file for every lesson number.
Whether the German matches the English in meaning is for a reader to judge.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_EN = ROOT / "README.md"
README_DE = ROOT / "README.de.md"
SUMMARIES = ROOT / "lessons" / "de"

# The heading above the install-and-run and test commands in each README.
COMMANDS_HEADING = {README_EN: "Two commands", README_DE: "Zwei Befehle"}


def section(text: str, heading: str) -> str:
    """Return the text under the level-2 `heading`, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"no '## {heading}' heading found"
    return match.group(1)


def bash_blocks(path: Path) -> list[str]:
    """Return the fenced bash blocks under the commands heading of one README, stripped."""
    text = section(path.read_text(encoding="utf-8"), COMMANDS_HEADING[path])
    return [block.strip() for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)]


def test_readme_de_exists():
    assert README_DE.is_file(), f"{README_DE} is missing"


def test_readmes_link_each_other():
    english = README_EN.read_text(encoding="utf-8")
    german = README_DE.read_text(encoding="utf-8")
    assert "](README.de.md)" in english, "README.md has no Markdown link to README.de.md"
    assert "](README.md)" in german, "README.de.md has no Markdown link to README.md"


def test_readmes_share_commands():
    english, german = bash_blocks(README_EN), bash_blocks(README_DE)
    assert len(english) == 2, f"expected 2 bash blocks under '## Two commands' in README.md, found {english}"
    assert german == english, f"README.de.md commands {german} differ from README.md commands {english}"


def test_every_lesson_has_summary():
    notebooks = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
    numbers = {path.name[:2] for path in SUMMARIES.glob("[0-9][0-9]_*.md")}
    missing = [path.name for path in notebooks if path.name[:2] not in numbers]
    assert not missing, f"no German summary lessons/de/NN_*.md for {missing}; write one per lesson notebook"


@pytest.mark.parametrize("summary", sorted(SUMMARIES.glob("[0-9][0-9]_*.md")), ids=lambda path: path.name)
def test_index_links_summary(summary: Path):
    index = (SUMMARIES / "README.md").read_text(encoding="utf-8")
    assert f"]({summary.name})" in index, f"lessons/de/README.md has no link to {summary.name}"
