"""User errors: one clear line, a non-zero exit, never a traceback."""
import pytest

from corpus.cli import parse_size
from tests.conftest import DEMO_WARC, run_cli

CASES = {
    "unknown step": ('[[steps]]\nuse = "sparkle"\n', "unknown step 'sparkle'"),
    "unknown option": ('[[steps]]\nuse = "length"\nmin_char = 5\n', "no option 'min_char'"),
    "bad value": ('[[steps]]\nuse = "length"\nmin_chars = -3\n', "min_chars must be"),
    "bad backend": ('[[steps]]\nuse = "extract"\nbackend = "magic"\n', "backend must be one of"),
    "not toml": ("[[steps]\n", "not valid TOML"),
    "no steps": ("seed = 1\n", "at least one [[steps]]"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_is_one_line(tmp_path, case):
    text, message = CASES[case]
    (tmp_path / "c.toml").write_text(text)
    proc = run_cli("clean", DEMO_WARC, "-o", tmp_path / "out", "--config", tmp_path / "c.toml", check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_input_path(tmp_path):
    proc = run_cli("clean", tmp_path / "missing.warc.gz", "-o", tmp_path / "out", check=False)
    assert proc.returncode == 2 and "no such file or directory" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_refuses_to_clobber_a_foreign_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("precious")
    proc = run_cli("clean", DEMO_WARC, "-o", tmp_path / "out", check=False)
    assert proc.returncode == 2 and "not a xiulian output" in proc.stderr
    assert (tmp_path / "out" / "thesis.tex").exists()


def test_every_command_has_help_with_an_example():
    import argparse

    from corpus.cli import build_parser

    def commands(parser, path=()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield (*path, name), sub
                    yield from commands(sub, (*path, name))

    top = build_parser()
    assert "ablate" in top.format_help()  # the list of commands, each with its help line
    found = dict(commands(top))
    assert {("clean",), ("pretrain",), ("sft",), ("dpo",), ("bon",), ("ppo",), ("judge",),
            ("recipe", "run"), ("reward", "score")} <= set(found)
    for path, parser in found.items():
        text = parser.format_help()
        assert "example:" in text and "xiulian" in text, " ".join(path)
    assert "xiulian" in run_cli("clean", "--help").stdout  # and as a user runs it


def test_sizes():
    assert parse_size("1MB") == 1 << 20 and parse_size("256MiB") == 256 << 20
    assert parse_size("500k") == 500 << 10 and parse_size("12345") == 12345


def test_shard_size_below_the_minimum_is_one_line(tmp_path):
    proc = run_cli("clean", DEMO_WARC, "-o", tmp_path / "out", "--shard-size", "0", check=False)
    assert proc.returncode == 2 and "--shard-size must be at least 16KB" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_steps_lists_whole_descriptions_aligned():
    out = run_cli("steps").stdout.splitlines()
    heads = [line for line in out if line and not line.startswith(" ")]
    names = {line.split()[0] for line in heads}
    assert {"minhash_dedup", "gopher_repetition", "fineweb_quality"} <= names
    # every description starts in the same column, however long the step's name
    assert len({len(line) - len(line[len(line.split()[0]):].lstrip()) for line in heads}) == 1
    minhash = next(i for i, line in enumerate(out) if line.startswith("minhash_dedup"))
    description = " ".join(line.strip() for line in out[minhash:minhash + 4]
                           if "=" not in line)
    assert "with a surviving document." in description  # the sentence is not cut off


@pytest.mark.parametrize("option, value", [("--temperature", "-1"), ("--top-p", "0"),
                                           ("--top-p", "1.5"), ("--top-k", "0"),
                                           ("--max-new-tokens", "0")])
def test_sampling_options_out_of_range_are_refused(tmp_path, option, value):
    proc = run_cli("generate", tmp_path, "--prompt", "x", option, value, check=False)
    assert proc.returncode == 2 and f"argument {option}: {value} is outside" in proc.stderr
