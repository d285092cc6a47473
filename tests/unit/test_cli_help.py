"""The `fapiao` parser: every command's --help (the server's too) ends with examples that the real parser accepts,
and what --target takes."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

import pytest

from fapiao_client.cli import build_parser


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def _ours(parser: argparse.ArgumentParser) -> bool:
    """A client command, or a group of them (the server's commands, when installed, are the server's)."""
    leaves = [child for _, child in _parsers(parser) if child._subparsers is None]
    return any(leaf.get_default("handler").__module__.startswith("fapiao_client") for leaf in leaves)


def client_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every client command and command group, by its words ("invoice list"), the top level left out."""
    return {" ".join(path): parser for path, parser in _parsers(build_parser()) if path and _ours(parser)}


def every_parser() -> dict[str, argparse.ArgumentParser]:
    """Every command and command group of `fapiao`, the server's included (they are installed with the suite)."""
    return {" ".join(path): parser for path, parser in _parsers(build_parser()) if path}


def client_commands() -> list[str]:
    """The client commands that do something (not groups), by their words."""
    return [name for name, parser in client_parsers().items() if parser._subparsers is None]


def _words(example: str) -> list[str]:
    """The command's words as a shell would pass them, up to a redirection or pipe."""
    lexer = shlex.shlex(example, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = list(lexer)
    cut = next((n for n, word in enumerate(words) if word in {"<", ">", ">>", "|", "&&", ";"}), len(words))
    return words[:cut]


def examples_of(parser: argparse.ArgumentParser) -> list[str]:
    return [line.strip() for line in parser.format_help().splitlines() if line.strip().startswith("fapiao ")]


@pytest.mark.parametrize("command", sorted(every_parser()))
def test_every_command_s_help_ends_with_examples_that_parse(command: str) -> None:
    parser = every_parser()[command]
    found = examples_of(parser)
    assert found, f"`fapiao {command} --help` shows no example"
    for example in found:
        words = _words(example)
        assert words[1 : 1 + len(command.split())] == command.split(), f"{example!r} is not an example of {command}"
        try:
            build_parser().parse_args(words[1:])
        except SystemExit:
            pytest.fail(f"`{example}` does not parse")


def test_the_examples_section_is_shown_as_written() -> None:
    help_text = client_parsers()["watch"].format_help()
    assert "\nexamples:\n  fapiao watch --tax-id" in help_text


@pytest.mark.parametrize(
    ("given", "dialled"),
    [
        ("fapiao.example.com", "fapiao.example.com:50051"),
        ("10.0.0.7", "10.0.0.7:50051"),
        ("10.0.0.7:7000", "10.0.0.7:7000"),
        ("[::1]", "[::1]:50051"),
        ("[::1]:7000", "[::1]:7000"),
        ("::1", "[::1]:50051"),
        ("[fe80::1%eth0]:7000", "[fe80::1%eth0]:7000"),
        ("dns:///fapiao.example.com:443", "dns:///fapiao.example.com:443"),
        ("unix:/run/fapiao.sock", "unix:/run/fapiao.sock"),
    ],
)
def test_a_target_without_a_port_means_the_port_fapiao_serve_listens_on(given: str, dialled: str) -> None:
    assert build_parser().parse_args(["whoami", "--target", given]).target == dialled


@pytest.mark.parametrize("given", ["host:https", "[::1", "[::1]x", "1::2::3", ""])
def test_a_target_that_cannot_be_one_is_refused_by_the_parser(given: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["whoami", "--target", given])
    assert exited.value.code == 2 and "--target" in capsys.readouterr().err


def test_the_target_help_names_the_default_port() -> None:
    assert "50051" in " ".join(client_parsers()["verify"].format_help().split())


def test_the_environment_s_target_gets_the_default_port_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPIAO_TARGET", "register.internal")
    assert build_parser().parse_args(["whoami"]).target == "register.internal:50051"
