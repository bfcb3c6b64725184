"""The documentation stays true: every command is in the README, every table is described."""

from pathlib import Path

import pytest
import yaml

from threadvault.cli import cli
from threadvault.store import open_archive

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
METADATA = yaml.safe_load((ROOT / "metadata.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_is_documented_in_the_readme(command):
    assert f"### {command}\n" in README
    assert f"Usage: threadvault {command} " in README


def test_every_table_has_a_description_in_metadata(tmp_path):
    db = open_archive(tmp_path / "threadvault.db")
    tables = {name for name in db.table_names() if not name.startswith(("_", "posts_fts", "threads_fts"))}
    described = {name for name, table in METADATA["databases"]["threadvault"]["tables"].items() if table.get("description")}
    assert tables - described == set()


def test_quick_start_has_exactly_two_setup_commands():
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    first_block = quick_start.split("```bash\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()] == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
