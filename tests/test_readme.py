"""The README's settings table names every setting, and opens with exactly the two commands."""

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
