"""The README: its settings table names every setting, it opens with exactly the two commands, and its
backtest example is what the command prints."""

from pathlib import Path

from engine.settings import Settings, env_name

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme():
    missing = [env_name(f) for f in Settings.__struct_fields__ if env_name(f) not in README]
    assert missing == []


def test_the_readme_starts_with_the_two_commands():
    block = README.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in block] == ["./scripts/serve", "./scripts/test"]
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "./scripts/test" in ci


def test_the_readme_backtest_example_is_what_the_command_prints():
    """The Backtest section's example output is the CLI's, line for line (its elided trades aside)."""
    import argparse
    import contextlib
    import io
    import re
    import shlex

    from engine.strategy import backtest as bt
    from tests.helpers import data_file

    section = README.split("## Backtest", 1)[1]
    command, shown = (block.strip() for block in re.findall(r"```\n(.*?)```", section, re.S)[:2])
    argv = shlex.split(command)[2:]
    argv[argv.index("--csv") + 1] = str(data_file(Path(argv[argv.index("--csv") + 1]).name))
    del argv[argv.index("--plot"):argv.index("--plot") + 2]  # the figure is not the test's to redraw
    parser = argparse.ArgumentParser()
    bt.add_arguments(parser)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bt.run(parser.parse_args(argv)) == 0
    printed = out.getvalue().splitlines()
    lines = [line for line in shown.splitlines() if line.strip() != "..."]
    assert [line for line in printed if line in lines] == lines
