"""Every `zybridge` command and subcommand has --help text and is named in README.md or
docs/*.md (DESIGN.md "Docs"; issue #5)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import cli

ROOT = Path(__file__).resolve().parents[2]
ADMIN = ("resync", "quarantine list", "quarantine show", "quarantine retry", "quarantine drop",
         "dead-letters list", "dead-letters show", "dead-letters retry", "dead-letters drop",
         "check", "runs")


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:  # type: ignore[type-arg]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def commands(parser: argparse.ArgumentParser, prefix: str = ""
             ) -> Iterator[tuple[str, argparse.ArgumentParser, str]]:
    """(path, parser, the one-line help its parent lists) of every command."""
    sub = _subparsers(parser)
    if sub is None:
        return
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    for name, child in sub.choices.items():
        path = f"{prefix}{name}"
        yield path, child, helps.get(name, "")
        yield from commands(child, f"{path} ")


ALL = sorted((path, p, h) for path, p, h in commands(cli.build_parser()))
PATHS = [path for path, _, _ in ALL]


def docs_text() -> str:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(f.read_text(encoding="utf-8") for f in files if f.exists())


def test_the_admin_commands_are_registered() -> None:
    assert set(ADMIN) <= set(PATHS)


@pytest.mark.parametrize(("path", "parser", "line"), ALL, ids=PATHS)
def test_every_command_has_help_text(path: str, parser: argparse.ArgumentParser,
                                     line: str) -> None:
    assert line.strip(), f"`zybridge {path}` has no one-line help"
    assert (parser.description or "").strip(), f"`zybridge {path}` has no description"


@pytest.mark.parametrize("path", PATHS)
def test_help_exits_0_and_prints_usage(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.build_parser().parse_args([*path.split(), "--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: zybridge {path}")


@pytest.mark.parametrize("path", PATHS)
def test_every_command_is_named_in_the_readme_or_docs(path: str) -> None:
    pattern = rf"(?:zybridge |`){re.escape(path)}(?![\w-])"
    assert re.search(pattern, docs_text()), f"`zybridge {path}` is in no README or docs page"
