"""The docs against the parser (as sqlite-utils tests its CLI docs; issue 17): every
`zybridge …` command and `--flag` quoted in operator-interface.md, the README and
docs/*.md exists, every command has a section in docs/admin.md or docs/operations.md,
and the operators' docs never send them to the sqlite3 shell or the state file's tables."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import cli
from bridge.sandbox import cli as sandbox_cli
from tests.unit.test_cli_help import PATHS

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "spec" / "operator-interface.md"
PAGES = [p for p in [SPEC, ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
         if p.is_file()]
OPERATORS = [ROOT / "README.md", ROOT / "docs" / "admin.md", ROOT / "docs" / "operations.md"]
SECTIONS = [ROOT / "docs" / "admin.md", ROOT / "docs" / "operations.md"]
WRAPPERS = {"$", "sudo", "exec", "time", "nohup", "env"}


def _code_lines(text: str) -> Iterator[str]:
    """Inline code spans, and each line of the fenced blocks (`\\|` is a table's `|`)."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)
    for block in blocks:
        for line in block.splitlines():
            yield from (part for part in re.split(r"\s\|\s|&&|;", line.split(" # ")[0]))
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.M | re.S)
    for span in re.findall(r"`([^`\n]+)`", prose):
        yield span.replace("\\|", "|")


def _command(words: list[str]) -> list[str] | None:
    """The words after `zybridge` when the line runs it (prompt, sudo, env stripped)."""
    while words:
        word, rest = words[0], words[1:]
        if word in WRAPPERS or re.fullmatch(r"-[a-zA-Z]", word):
            words = rest[1:] if word in ("-u", "-g") else rest
        elif re.fullmatch(r"[A-Za-z_]+=.*", word) and not word.endswith("zybridge"):
            words = rest
        else:
            break
    if words and re.fullmatch(r"(?:\w+=)?(?:[\w./-]*/)?zybridge", words[0]):
        return words[1:]
    if words[:3] and words[0].endswith("python") and words[1:3] == ["-m", "bridge"]:
        return words[3:]
    return None


def quoted() -> list[tuple[str, list[str]]]:
    """(page, words after `zybridge`) of every zybridge command the pages quote."""
    out = []
    for page in PAGES:
        for line in _code_lines(page.read_text(encoding="utf-8")):
            cleaned = re.sub(r"[\[\]()…]", " ", line)
            words = _command(cleaned.split())
            if words is not None:
                out.append((page.name, words))
    return out


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return dict(parser._option_string_actions)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def problems(words: list[str]) -> list[str]:
    """What in this command line the parser does not know (empty: all of it exists)."""
    root = cli.build_parser()
    found: list[str] = []
    _walk(root, _options(root), words, "zybridge", found)
    return found


def _walk(parser: argparse.ArgumentParser, root: dict[str, argparse.Action],
          words: list[str], path: str, found: list[str]) -> None:
    if any(a.nargs == argparse.REMAINDER for a in parser._actions):
        parser = sandbox_cli.parser()  # `zybridge sandbox …` hands its words to the sandbox
    known = {**root, **_options(parser)}
    subs = _subparsers(parser)
    i = 0
    while i < len(words):
        word = words[i].rstrip(",.:`'\"")
        flag = word.split("=")[0]
        if flag.startswith("--"):
            if flag not in known:
                found.append(f"{path}: no option {flag}")
            elif known[flag].nargs != 0 and "=" not in word:
                i += 1  # its value
        elif subs and re.fullmatch(r"[a-z][a-z-]*(?:\|[a-z][a-z-]*)*", word):
            for name in word.split("|"):
                if name not in subs:
                    found.append(f"{path}: no command {name}")
                else:
                    _walk(subs[name], root, words[i + 1:], f"{path} {name}", found)
            return
        i += 1


QUOTED = quoted()


def test_the_pages_quote_commands_at_all() -> None:
    pages = {page for page, _ in QUOTED}
    assert {SPEC.name, "README.md", "admin.md", "operations.md"} <= pages, pages
    assert len(QUOTED) > 50


@pytest.mark.parametrize(("page", "words"), QUOTED,
                         ids=[f"{p}: {' '.join(w)[:60]}" for p, w in QUOTED])
def test_every_quoted_command_and_flag_exists(page: str, words: list[str]) -> None:
    assert problems(words) == [], f"{page}: zybridge {' '.join(words)}"


@pytest.mark.parametrize("words", [["resync", "--nope"], ["quarantine", "purge"],
                                   ["audit", "log", "--format", "x", "--colour"], ["frobnicate"],
                                   ["dead-letters", "retry|nuke"],
                                   ["sandbox", "serve", "--hots"]])
def test_the_check_catches_a_command_or_flag_that_does_not_exist(words: list[str]) -> None:
    assert problems(words)


@pytest.mark.parametrize("line", ["sudo -u zybridge zybridge --config /etc/z.toml check",
                                  "$ ZYBRIDGE_APP_SECRET=x zybridge status --json",
                                  "ExecStart=/usr/bin/zybridge --config /etc/z.toml run",
                                  ".venv/bin/python -m bridge runs"])
def test_a_command_is_found_behind_its_prompt_sudo_and_environment(line: str) -> None:
    assert _command(line.split()) is not None


@pytest.mark.parametrize("line", ["journalctl -u zybridge -o cat", "systemctl status zybridge",
                                  "install -d -o zybridge -g zybridge /var/lib/zybridge"])
def test_other_programs_naming_the_user_are_no_command(line: str) -> None:
    assert _command(line.split()) is None


def _headings(page: Path) -> str:
    return "\n".join(re.findall(r"^#+ .*$", page.read_text(encoding="utf-8"), re.M))


@pytest.mark.parametrize("path", PATHS)
def test_every_command_has_a_section_in_admin_or_operations(path: str) -> None:
    headings = "\n".join(_headings(p) for p in SECTIONS)
    words = path.split()
    names = [" ".join(words[:n]) for n in range(len(words), 0, -1)]
    assert any(re.search(rf"`zybridge {re.escape(n)}(?:`| [^`]*`)", headings) for n in names), (
        f"no heading of docs/admin.md or docs/operations.md names `zybridge {path}`")


def _shell(page: Path) -> str:
    text = page.read_text(encoding="utf-8")
    return "\n".join(re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S))


@pytest.mark.parametrize("page", OPERATORS, ids=lambda p: p.name)
def test_the_operators_docs_never_run_the_sqlite3_shell(page: Path) -> None:
    assert not re.search(r"\bsqlite3\b|\.backup\b", _shell(page))
    assert not re.search(r"sqlite3 [^`\n]*\.backup|`\.backup", page.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", OPERATORS, ids=lambda p: p.name)
def test_the_operators_docs_never_read_the_state_files_tables(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"\bSELECT\b.*\bFROM\b", text, re.I)
    assert not re.search(r"the `?rows`? table", text)


def test_the_admin_doc_says_a_handed_over_command_exits_with_the_daemons_result() -> None:
    text = (ROOT / "docs" / "admin.md").read_text(encoding="utf-8")
    section = text.split("## While the daemon runs", 1)[1]
    assert "exits with the daemon's result" in section
    assert not re.search(r"(resync|retry|drop)[^.]*exit 2 naming the daemon", section)


def test_the_readme_lists_every_doc_and_its_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^- `docs/([\w-]+\.md)`", text.split("## Docs", 1)[1], re.M))
    assert {p.name for p in (ROOT / "docs").glob("*.md")} <= listed
    assert re.search(r"^make demo\b", text, re.M) and re.search(r"^make test\b", text, re.M)
