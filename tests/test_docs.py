"""Docs checked by tests: every setting is in the README's table, and the quick start is two commands."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme():
    documented = set(re.findall(r"^\| `(HEARTH_[A-Z0-9_]+)` \|", README, flags=re.MULTILINE))
    expected = {f"HEARTH_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "settings missing from the README table"
    assert documented - expected == set(), "README documents settings that do not exist"


def test_every_setting_has_a_description():
    assert all(field.description for field in Settings.model_fields.values())


def test_quick_start_is_exactly_two_commands():
    quick = README.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "make test" in ci


def test_every_command_help_gives_an_example():
    """The README promises `--help` with examples for every command."""
    import click
    from click.testing import CliRunner

    from app.cli import cli

    def commands(group: click.Group, prefix: list[str]):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from commands(command, [*prefix, name])
            else:
                yield [*prefix, name]

    missing = []
    for path in commands(cli, []):
        shown = CliRunner().invoke(cli, [*path, "--help"]).output
        if "Example" not in shown:
            missing.append(" ".join(path))
    assert missing == []


def test_the_readme_names_every_field_of_a_questions_file():
    from app.datasets import IGNORED_FIELDS, QUESTION_FIELDS

    described = README.split("`hearth eval` measures Hearth on your own questions", 1)[1][:400]
    assert all(f"`{field}`" in described for field in (*QUESTION_FIELDS, *IGNORED_FIELDS))
