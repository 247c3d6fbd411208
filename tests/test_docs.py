"""The README and the documentation pages (docs/*.md, the mkdocs site) work as written: every YAML block loads as
part of a config, every `rlvr` command line parses (and, with --dry-run, runs), every `make` target, script and pip
extra they name exists, the Python example runs with its doctest, a console block's commands print what it shows,
every relative link and anchor resolves (on GitHub and on the site), every page is in mkdocs.yml's nav, and
`mkdocs build --strict` passes. Docs cannot drift from code."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from rl.cli import build_parser, main
from rl.config import load_experiment
from tests.conftest import REPO

PAGES = sorted((REPO / "docs").glob("*.md"))
DOCS = [REPO / "README.md", *PAGES]
TEXT = {p.relative_to(REPO).as_posix(): p.read_text() for p in DOCS}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.MULTILINE | re.DOTALL)
BLOCKS = [(name, lang, body) for name, text in TEXT.items() for lang, body in FENCE.findall(text)]
YAML_BLOCKS = [(name, body) for name, lang, body in BLOCKS if lang == "yaml"]
PYTHON_BLOCKS = [(name, body) for name, lang, body in BLOCKS if lang == "python"]
CONSOLE_BLOCKS = [(name, body) for name, lang, body in BLOCKS if lang == "console"]
SHELL_LINES = [
    (name, line.split("  #")[0].split(" # ")[0].strip())
    for name, lang, body in BLOCKS
    if lang == "bash"
    for line in body.splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]
RLVR_LINES = [(name, line) for name, line in SHELL_LINES if re.match(r"^(\.venv/bin/)?rlvr ", line)]
PLACEHOLDERS = {"CONFIG": "configs/tiny-arith.yaml"}
DEMO_RESULT = re.compile(r"<!-- demo-result -->\n(.*?)<!-- /demo-result -->", flags=re.DOTALL)


def ids(items) -> list[str]:
    return [f"{name}: {line}" for name, line in items]


def test_the_docs_have_snippets_to_check():
    assert len(YAML_BLOCKS) >= 2 and len(RLVR_LINES) >= 15 and PYTHON_BLOCKS and CONSOLE_BLOCKS
    assert {lang for _, lang, _ in BLOCKS} <= {"bash", "yaml", "python", "console", "text"}, "a block nobody checks"


def test_the_readme_fits_the_first_screens():
    assert len(TEXT["README.md"].splitlines()) <= 80


# ------------------------------------------------------------------ code blocks
def uncommented(body: str) -> str:
    """The block with its commented-out alternatives (`  # key: value   # why`) switched on."""
    return re.sub(r"^(\s*)# (\w[\w.]*: .*?)(\s+#.*)?$", r"\1\2", body, flags=re.MULTILINE)


def merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.mark.parametrize("variant", ["as written", "alternatives on"])
@pytest.mark.parametrize("name,body", YAML_BLOCKS, ids=[f"{n}: {b.split(chr(10))[0]}" for n, b in YAML_BLOCKS])
def test_yaml_block_loads_as_part_of_a_config(name, body, variant, tmp_path):
    body = body if variant == "as written" else uncommented(body)
    snippet = yaml.safe_load(body)
    assert isinstance(snippet, dict), f"{name}: {body}"
    base = yaml.safe_load((REPO / "configs" / "tiny-arith.yaml").read_text())
    path = tmp_path / "snippet.yaml"
    path.write_text(yaml.safe_dump(merged(base, snippet)))
    load_experiment(str(path), [])  # raises RlvrError naming the key a snippet gets wrong


def argv_of(line: str) -> list[str]:
    return [PLACEHOLDERS.get(a, a) for a in shlex.split(line)[1:]]


@pytest.mark.parametrize("name,line", RLVR_LINES, ids=ids(RLVR_LINES))
def test_rlvr_command_parses_and_names_real_files(name, line, monkeypatch):
    monkeypatch.chdir(REPO)
    args = build_parser().parse_args(argv_of(line))  # an unknown flag exits 2 here
    target = getattr(args, "config", None) or getattr(args, "spec", None)
    if target and target.startswith(("configs/", "experiments/")):
        assert (REPO / target).is_file(), f"{name}: {line}: no such file {target}"


DRY_RUNS = [(name, line) for name, line in RLVR_LINES if "--dry-run" in line]


@pytest.mark.parametrize("name,line", DRY_RUNS, ids=ids(DRY_RUNS))
def test_dry_run_commands_succeed(name, line, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert main(argv_of(line)) == 0, capsys.readouterr().err


def test_make_targets_and_files_exist():
    makefile = (REPO / "Makefile").read_text()
    for name, line in SHELL_LINES:
        words = shlex.split(line)
        if words[0] == "make":
            assert re.search(rf"^{re.escape(words[1])}:", makefile, flags=re.MULTILINE), f"{name}: {line}"
        for word in words:
            if word.startswith(("experiments/", "configs/", "tests/", "docs/")) and not re.search(r"[*<]", word):
                assert (REPO / word).exists(), f"{name}: {line}: no such file {word}"


def test_pip_extras_named_in_the_docs_exist():
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = set(re.findall(r"pip install -e '\.\[(\w+)\]'", "".join(TEXT.values())))
    assert named and named <= set(extras), named - set(extras)


@pytest.mark.parametrize("name,body", PYTHON_BLOCKS, ids=[n for n, _ in PYTHON_BLOCKS])
def test_python_block_runs_with_its_doctests(name, body):
    """In a fresh interpreter: a block may register things (a reward) that other tests must not see."""
    script = (
        "import doctest, sys, types\n"
        "mod = types.ModuleType('snippet')\n"
        "sys.modules['snippet'] = mod\n"
        f"exec(compile({body!r}, 'snippet', 'exec'), mod.__dict__)\n"
        "failed, tried = doctest.testmod(mod)\n"
        "print(f'doctests: {tried} tried, {failed} failed')\n"
        "sys.exit(1 if failed or not tried else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{name}:\n{out.stdout}\n{out.stderr}"


def console_commands(body: str) -> list[tuple[str, list[str]]]:
    """(`$ command`, the output lines shown under it) for each command of a console block."""
    found: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        elif found:
            found[-1][1].append(line)
    return found


CONSOLE_COMMANDS = [(name, cmd, shown) for name, body in CONSOLE_BLOCKS for cmd, shown in console_commands(body)]


@pytest.mark.parametrize("name,command,shown", CONSOLE_COMMANDS, ids=[f"{n}: {c}" for n, c, _ in CONSOLE_COMMANDS])
def test_console_block_prints_what_it_shows(name, command, shown, monkeypatch, capsys):
    """Each line shown under `$ rlvr ...` is printed, in that order (a block may leave lines out: `| head`)."""
    assert command.startswith("rlvr "), f"{name}: only rlvr commands are run: {command}"
    monkeypatch.chdir(REPO)
    main(argv_of(command.split(" | ")[0]))
    captured = capsys.readouterr()
    printed = iter((captured.out + captured.err).splitlines())
    missing = [line for line in shown if line not in printed]  # `in` on an iterator: in order
    assert not missing, f"{name}: `{command}` did not print, in this order:\n" + "\n".join(missing)


# ------------------------------------------------------------------ links
def prose(text: str) -> str:
    """The text outside code blocks and inline code, where links live."""
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return re.sub(r"`(?:[^`\n]|\n(?!\n))*`", "", text)  # a code span may wrap lines, not paragraphs


def headings(text: str) -> list[str]:
    """Markdown headings outside code blocks, inline code kept (it is part of the anchor)."""
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return [m.group(1) for m in re.finditer(r"^#{1,6}\s+(.*?)\s*$", text, flags=re.MULTILINE)]


def plain(heading: str) -> str:
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    return re.sub(r"<[^>]+>", "", heading.replace("`", "")).strip()


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", plain(heading).lower()).replace(" ", "-")


def mkdocs_anchor(heading: str) -> str:
    """Python-Markdown's toc slugify (what mkdocs uses)."""
    value = unicodedata.normalize("NFKD", plain(heading)).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def anchors(path: Path) -> set[str]:
    """Anchors that work on GitHub and on the site alike."""
    found = headings(path.read_text())
    return {github_anchor(h) for h in found} & {mkdocs_anchor(h) for h in found}


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
LINKS = [
    (name, target)
    for name, text in TEXT.items()
    for target in LINK.findall(prose(text))
    if not re.match(r"^[a-z]+:", target)  # http:, https:, mailto:
]


def test_the_docs_have_links_to_check():
    assert len(LINKS) >= 30


@pytest.mark.parametrize("name,target", LINKS, ids=ids(LINKS))
def test_relative_link_resolves(name, target):
    page = REPO / name
    path, _, anchor = target.partition("#")
    assert not path.startswith("/"), f"{name}: {target}: absolute links break on GitHub or on the site"
    resolved = (page.parent / path).resolve() if path else page
    assert resolved.is_relative_to(REPO) and resolved.exists(), f"{name}: {target}: no such file"
    if page.parent == REPO / "docs" and not resolved.is_relative_to(REPO / "docs"):
        # mkdocs leaves a link without a file extension (a folder) as it is; a file outside docs/ fails its build,
        # except inside the demo-result markers, which the site replaces with the README's table
        inside_markers = any(target in m for m in DEMO_RESULT.findall(TEXT[name]))
        assert resolved.is_dir() or inside_markers, f"{name}: {target}: link a folder outside docs/, not a file"
    if anchor:
        assert resolved.suffix == ".md", f"{name}: {target}: an anchor into a file that is not a page"
        assert anchor in anchors(resolved), f"{name}: {target}: no heading with this anchor in {resolved.name}"


# ------------------------------------------------------------------ the site
MKDOCS = yaml.safe_load((REPO / "mkdocs.yml").read_text())


def nav_pages(nav) -> list[str]:
    out = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out += nav_pages(value) if isinstance(value, list) else [value]
    return out


def test_every_page_is_in_the_nav_and_linked_from_the_readme_and_the_home_page():
    nav = nav_pages(MKDOCS["nav"])
    assert MKDOCS["docs_dir"] == "docs" and len(nav) == len(set(nav))
    assert sorted(nav) == sorted(p.name for p in PAGES), "mkdocs.yml's nav and docs/*.md differ"
    readme = {t for n, t in LINKS if n == "README.md"}
    home = {t.partition("#")[0] for n, t in LINKS if n == "docs/index.md"}
    for page in PAGES:
        if page.name != "index.md":
            assert f"docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"
            assert page.name in home, f"docs/index.md does not link {page.name}"


def test_the_demo_result_is_in_one_marked_place():
    found = {name: DEMO_RESULT.findall(text) for name, text in TEXT.items()}
    assert len(found["README.md"]) == 1 and "| 0 (`make demo`) |" in found["README.md"][0]
    others = [name for name, blocks in found.items() if blocks and name != "README.md"]
    assert others == ["docs/quickstart.md"]  # shows the README's block on the site (docs/hooks.py)
    assert "| seed |" not in found["docs/quickstart.md"][0]


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed: it is in the dev extra, `make` installs it",
)
def test_mkdocs_build_strict_passes(tmp_path):
    site = tmp_path / "site"
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", "mkdocs.yml", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    built = {p.parent.name for p in site.glob("*/index.html")}
    assert (site / "index.html").is_file() and built == {p.stem for p in PAGES if p.name != "index.md"}
    quickstart = (site / "quickstart" / "index.html").read_text()
    numbers = re.findall(r"\d\.\d{3}", DEMO_RESULT.findall(TEXT["README.md"])[0])
    assert numbers and all(n in quickstart for n in numbers), "the site's Quickstart lacks the README's demo table"
