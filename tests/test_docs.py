"""The README's snippets work as written: every YAML block loads as part of a config, every `rlvr` command line
parses (and, with --dry-run, runs), every `make` target and script it names exists. Docs cannot drift from code."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from rl.cli import build_parser, main
from rl.config import load_experiment
from tests.conftest import REPO

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)
YAML_BLOCKS = [body for lang, body in BLOCKS if lang == "yaml"]
SHELL_LINES = [
    line.split("  #")[0].split(" # ")[0].strip()
    for lang, body in BLOCKS
    if lang == "bash"
    for line in body.splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]
RLVR_LINES = [line for line in SHELL_LINES if re.match(r"^(\.venv/bin/)?rlvr ", line)]
PLACEHOLDERS = {"CONFIG": "configs/tiny-arith.yaml"}


def test_the_readme_has_snippets_to_check():
    assert len(YAML_BLOCKS) >= 2 and len(RLVR_LINES) >= 15


def uncommented(body: str) -> str:
    """The block with its commented-out alternatives (`  # key: value   # why`) switched on."""
    return re.sub(r"^(\s*)# (\w[\w.]*: .*?)(\s+#.*)?$", r"\1\2", body, flags=re.MULTILINE)


def merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.mark.parametrize("variant", ["as written", "alternatives on"])
@pytest.mark.parametrize("index", range(len(YAML_BLOCKS)))
def test_yaml_block_loads_as_part_of_a_config(index, variant, tmp_path):
    body = YAML_BLOCKS[index] if variant == "as written" else uncommented(YAML_BLOCKS[index])
    snippet = yaml.safe_load(body)
    assert isinstance(snippet, dict), body
    base = yaml.safe_load((REPO / "configs" / "tiny-arith.yaml").read_text())
    path = tmp_path / "snippet.yaml"
    path.write_text(yaml.safe_dump(merged(base, snippet)))
    load_experiment(str(path), [])  # raises RlvrError naming the key a snippet gets wrong


@pytest.mark.parametrize("line", RLVR_LINES)
def test_rlvr_command_parses_and_names_real_files(line, monkeypatch):
    monkeypatch.chdir(REPO)
    argv = [PLACEHOLDERS.get(a, a) for a in shlex.split(line)[1:]]
    args = build_parser().parse_args(argv)  # an unknown flag exits 2 here
    target = getattr(args, "config", None) or getattr(args, "spec", None)
    if target and target.startswith(("configs/", "experiments/")):
        assert (REPO / target).is_file(), f"{line}: no such file {target}"


@pytest.mark.parametrize("line", [x for x in RLVR_LINES if "--dry-run" in x])
def test_dry_run_commands_succeed(line, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    argv = [PLACEHOLDERS.get(a, a) for a in shlex.split(line)[1:]]
    assert main(argv) == 0, capsys.readouterr().err


def test_make_targets_and_scripts_exist():
    makefile = (REPO / "Makefile").read_text()
    for line in SHELL_LINES:
        words = shlex.split(line)
        if words[0] == "make":
            assert re.search(rf"^{re.escape(words[1])}:", makefile, flags=re.MULTILINE), line
        for word in words:
            if word.startswith("experiments/") and "." in word.rsplit("/", 1)[-1]:
                assert (REPO / word).is_file(), f"{line}: no such file {word}"


def test_pip_extras_named_in_the_readme_exist():
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = set(re.findall(r"pip install -e '\.\[(\w+)\]'", README))
    assert named and named <= set(extras), named - set(extras)
