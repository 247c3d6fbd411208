"""Training and held-out rows: `{prompt, answer, data_source, ...}` from a built-in task, GSM8K, MATH-500,
a local JSONL/parquet file, or any hub dataset.

`prompt` is what the policy sees, already put in the configured template (a string, or chat messages for
`template: chat`, which TRL renders with the tokenizer's chat template exactly as `render_prompt` does).
`answer` is the gold the graders compare with; `solution` (when the source has one) feeds the warm-up.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import json
import os
import random
import re
from pathlib import Path
from typing import Any

from rl.config import BUILTIN_PREFIX, DataConfig
from rl.errors import RlvrError, first_line

R1_ZERO = (
    "A conversation between User and Assistant. The User asks a question, and the Assistant solves it. "
    "The Assistant first thinks about the reasoning process in the mind and then provides the User with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. "
    "User: {question} Assistant:"
)
NAMED = {  # short name -> (hub id, hub config, local folder, files per split)
    "gsm8k": ("openai/gsm8k", "main", "gsm8k", {"train": "train.jsonl", "test": "test.jsonl"}),
    "math500": ("HuggingFaceH4/MATH-500", None, "math500", {"test": "test.jsonl"}),
}
HUB_ALIASES = {hub: short for short, (hub, *_rest) in NAMED.items()}


# --------------------------------------------------------------------------------------------------- built-in tasks


def arithmetic_solution(a: int, b: int, tagged: bool = True) -> str:
    """Column addition, lowest digit first, carries written out: 347+589 -> 7+9=16 4+8+1=13 3+5+1=9; in the R1
    tags, or (`tagged=False`) as the steps then a GSM8K `#### N` line, which `math_accuracy` reads too."""
    da, db = str(a)[::-1], str(b)[::-1]
    steps, carry = [], 0
    for i in range(max(len(da), len(db))):
        x, y = int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0
        total = x + y + carry
        steps.append(f"{x}+{y}" + (f"+{carry}" if carry else "") + f"={total}")
        carry = total // 10
    if not tagged:
        return f"{' '.join(steps)}\n#### {a + b}"
    return f"<think>{' '.join(steps)}</think><answer>{a + b}</answer>"


HELD_OUT_RESERVE = 256
"""A built-in task draws its held-out problems first and its training problems after them (never the same one). It
draws at least this many held-out problems (arithmetic: where a digit count has room) and keeps the first
`eval_size`, so a held-out set of up to 256 problems is part of the 256 one and leaves the training rows as
they are: shrinking the evaluation changes neither the training nor a cached warm-up (rl/train/warmup.py). From 256
up, the rows are those of one draw of `eval_size` held-out problems, as before the reserve existed."""


def arithmetic_task(cfg: DataConfig) -> tuple[list[dict], list[dict]]:
    """`a + b` with `digits`-digit operands; held-out pairs (in either order) never appear in training.

    `digits` may be a list (e.g. [2, 3, 4, 5]): a mixed-difficulty task, an equal share of rows per digit count
    (held-out too), each row labelled `level: <digits>` so evaluation breaks accuracy down by difficulty."""
    params = dict(cfg.params)
    digits = params.pop("digits", 3)
    tagged = params.pop("tagged", 1.0)
    if params:
        raise RlvrError(
            f"data.params: unknown parameter(s) {', '.join(params)} for builtin:arithmetic (digits, tagged)"
        )
    if isinstance(tagged, bool) or not isinstance(tagged, (int, float)) or not 0 <= tagged <= 1:
        raise RlvrError(f"data.params.tagged must be a share between 0 and 1, got {tagged!r}")
    tag_rng = random.Random(f"{cfg.seed}:tagged")  # its own stream: the rows drawn do not change
    levels = digits if isinstance(digits, list) else [digits]
    if not levels or any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 9 for d in levels):
        raise RlvrError(f"data.params.digits must be an integer 1..9 or a list of them, got {digits!r}")
    if len(set(levels)) != len(levels):
        raise RlvrError(f"data.params.digits lists a digit count twice: {digits!r}")
    eval_size = cfg.eval_size if cfg.eval_size is not None else 256
    train_size = cfg.train_size if cfg.train_size is not None else 4096

    def shares(total: int) -> list[int]:  # an equal share per level, the first levels take the remainder
        return [total // len(levels) + (i < total % len(levels)) for i in range(len(levels))]

    reserves = []  # held-out pairs drawn per level: at least the level's share of HELD_OUT_RESERVE where it has room
    for d, n_eval, n_train, n_reserve in zip(
        levels, shares(eval_size), shares(train_size), shares(max(eval_size, HELD_OUT_RESERVE)), strict=True
    ):
        high = 10**d - 1
        n_pairs = (high + 1) * (high + 2) // 2
        if n_eval + n_train > n_pairs // 2:
            raise RlvrError(f"data: {d}-digit arithmetic has {n_pairs} distinct pairs; ask for fewer rows")
        reserves.append(max(n_eval, min(n_reserve, n_pairs // 2 - n_train)))
    rng = random.Random(cfg.seed)
    seen: set[tuple[int, int]] = set()

    def draw(n: int, d: int) -> list[dict]:
        high = 10**d - 1
        rows = []
        while len(rows) < n:
            a, b = rng.randint(0, high), rng.randint(0, high)
            key = (min(a, b), max(a, b))
            if key in seen:
                continue
            seen.add(key)
            row = {
                "question": f"What is {a} + {b}?",
                "answer": str(a + b),
                "solution": arithmetic_solution(a, b, tagged >= 1 or tag_rng.random() < tagged),
                "data_source": "arithmetic",
            }
            if len(levels) > 1:
                row["level"] = d
            rows.append(row)
        return rows

    def mixed(per_level: list[list[dict]], total: int) -> list[dict]:
        if len(levels) == 1:
            return per_level[0]
        rows = [r for part in per_level for r in part]
        random.Random(f"{cfg.seed}:mix:{total}").shuffle(rows)  # levels interleaved, not in blocks
        return rows

    reserved = [draw(n, d) for d, n in zip(levels, reserves, strict=True)]  # first: the training rows exclude them
    held_out = mixed([part[:n] for part, n in zip(reserved, shares(eval_size), strict=True)], eval_size)
    train = mixed([draw(n, d) for d, n in zip(levels, shares(train_size), strict=True)], train_size)
    return train, held_out


COUNTDOWN_PROMPT = (
    "Using the numbers {numbers}, create an equation that equals {target}. You can use basic arithmetic operations "
    "(+, -, *, /) and each number can be used at most once. Show your work in <think> </think> tags and return the "
    "final equation in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>."
)


def countdown_task(cfg: DataConfig) -> tuple[list[dict], list[dict]]:
    """TinyZero's Countdown: reach `target` from `numbers` with + - * /; targets come from a random expression."""
    params = dict(cfg.params)
    low, high = params.pop("min_numbers", 3), params.pop("max_numbers", 4)
    largest = params.pop("max_value", 99)
    if params:
        raise RlvrError(
            f"data.params: unknown parameter(s) {', '.join(params)} for builtin:countdown "
            "(min_numbers, max_numbers, max_value)"
        )
    if not (isinstance(low, int) and isinstance(high, int) and 2 <= low <= high <= 6):
        raise RlvrError("data.params: countdown needs 2 <= min_numbers <= max_numbers <= 6")
    rng = random.Random(cfg.seed)
    seen: set[tuple] = set()

    def one() -> dict | None:
        numbers = [rng.randint(1, largest) for _ in range(rng.randint(low, high))]
        value, expr = numbers[0], str(numbers[0])
        for n in numbers[1:]:
            op = rng.choice("+-*/")
            if op == "/" and (n == 0 or value % n):
                op = "+"
            value = {"+": value + n, "-": value - n, "*": value * n, "/": value // n}[op]
            expr = f"({expr} {op} {n})"
        key = (tuple(sorted(numbers)), value)
        if value <= 0 or value > 10_000 or key in seen:
            return None
        seen.add(key)
        shuffled = rng.sample(numbers, len(numbers))
        return {
            "question": COUNTDOWN_PROMPT.format(numbers=shuffled, target=value),
            "answer": str(value),
            "numbers": shuffled,
            "target": value,
            "solution": f"<think>{expr} = {value}</think><answer>{expr}</answer>",
            "data_source": "countdown",
        }

    def draw(n: int) -> list[dict]:
        rows: list[dict] = []
        while len(rows) < n:
            row = one()
            if row is not None:
                rows.append(row)
        return rows

    eval_size = cfg.eval_size if cfg.eval_size is not None else 256
    held_out = draw(max(eval_size, HELD_OUT_RESERVE))[:eval_size]  # first: the training rows exclude them all
    return draw(cfg.train_size if cfg.train_size is not None else 4096), held_out


BUILTIN_TASKS = {"arithmetic": arithmetic_task, "countdown": countdown_task}


# --------------------------------------------------------------------------------------------------- files and hub


FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
"""A data source with one of these endings is a single local file (it has no splits)."""
FOLDER_SUFFIXES = (".jsonl", ".parquet", ".json")
"""The files of a folder source: <split>.jsonl, <split>.parquet or <split>.json."""


def checkout_data_dir() -> Path | None:
    """../shared/data beside a source checkout of rlvr (the folder holding pyproject.toml and rl/); None when rl is
    imported from an installed package, whose neighbours are not the user's."""
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / "pyproject.toml").is_file():
        return None
    return checkout.parent / "shared" / "data"


def data_root() -> Path | None:
    """Folder of local dataset copies (<root>/<name>/): $RLVR_DATA_DIR when set (and then only it), else
    ../shared/data beside a source checkout; None for an installed package without $RLVR_DATA_DIR."""
    env = os.environ.get("RLVR_DATA_DIR")
    return Path(env).expanduser() if env else checkout_data_dir()


def shown(path: Path) -> str:
    """`path` as the user would type it: relative to the current directory when it lies below it, else absolute."""
    path = Path(path).absolute()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def searched(folder: str) -> str:
    """Where a named dataset's local copy was looked for, in words a user can act on."""
    env = os.environ.get("RLVR_DATA_DIR")
    if env:
        return f"looked in $RLVR_DATA_DIR/{folder} = {Path(env) / folder}"
    beside = checkout_data_dir()
    if beside is None:
        return "$RLVR_DATA_DIR is unset"
    return f"$RLVR_DATA_DIR is unset; looked in {shown(beside / folder)} beside this rlvr checkout"


def local_copy_hint(short: str, split: str) -> str:
    """What to set so that a named dataset loads from a local copy (`rlvr eval --data` reads $RLVR_DATA_DIR)."""
    folder, files = NAMED[short][2], NAMED[short][3]
    return (
        f"set $RLVR_DATA_DIR to a folder holding {folder}/{files.get(split, split + '.jsonl')} "
        f"(or, in a config, data.path to the {folder} folder itself)"
    )


def _load_file(path: Path) -> list[dict]:
    """Rows of a local .jsonl / .json / .parquet / .csv file."""
    try:
        if path.suffix == ".jsonl":
            with path.open() as f:
                return [json.loads(line) for line in f if line.strip()]
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            return data if isinstance(data, list) else data.get("data", data.get("rows", []))
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if path.suffix == ".csv":
            with path.open(newline="") as f:
                return list(csv.DictReader(f))
    except (OSError, ValueError, AttributeError) as e:
        raise RlvrError(f"data: cannot read {path}: {first_line(e)}") from None
    raise RlvrError(f"data: unsupported file type '{path.suffix}' for {path} (use .jsonl, .json, .parquet, .csv)")


def local_split(short: str, split: str) -> Path:
    """The local copy of a named dataset's split (benches read these); RlvrError, one line, naming where it looked
    and how to provide one."""
    hub, _, folder, files = NAMED[short]
    root = data_root()
    path = root / folder / files[split] if root is not None else None
    if path is None or not path.is_file():
        where = f"at {shown(path)}" if path is not None else f"({searched(folder)})"
        raise RlvrError(
            f"{short}: no local copy {where}; set $RLVR_DATA_DIR to a folder holding {folder}/{files[split]} "
            f"(the hub has it as {hub})"
        )
    return path


def _load_named(short: str, split: str, cfg: DataConfig) -> list[dict]:
    """A named dataset's split: from data.path, else $RLVR_DATA_DIR/<name> (or ../shared/data/<name> beside a
    checkout), else the hub; failing that, one line saying where it looked and what to set."""
    hub, hub_config, folder, files = NAMED[short]
    root = data_root()
    local = Path(cfg.path).expanduser() if cfg.path else root / folder if root is not None else None
    if cfg.path and not local.exists():
        raise RlvrError(f"data.path: no such directory '{cfg.path}'")
    if split not in files:
        raise RlvrError(
            f"data: {short} has no split '{split}' (splits: {', '.join(files)}){did_you_mean(split, files)}"
        )
    if local is not None and local.exists():
        return _load_file(local / files[split])
    return _load_hub(
        hub,
        hub_config,
        split,
        f"no local copy of {short} either ({searched(folder)}): {local_copy_hint(short, split)}",
    )


GENERIC_LOCAL_COPY = (
    "use a local copy (a .jsonl/.parquet file, or a folder of <split>.jsonl files) as data.source or --data"
)


def _load_hub(name: str, config: str | None, split: str, local: str | None = None) -> list[dict]:
    """A hub dataset's split. An unreachable hub fails at once in one line, without the libraries' retries; in
    offline mode (HF_HUB_OFFLINE=1) only the datasets cache is read. `local`: how to use a local copy instead (said
    when the hub cannot serve it)."""
    from rl import hub

    offline = hub.offline_mode()
    unreachable = None if offline else hub.unavailable()
    if unreachable:
        raise RlvrError(
            f"data: cannot fetch '{name}' from the hub ({unreachable}); {local or GENERIC_LOCAL_COPY}, or set "
            "HF_HUB_OFFLINE=1 to read the datasets cache"
        )
    from datasets import load_dataset

    try:
        return list(load_dataset(name, config, split=split))
    except Exception as e:  # noqa: BLE001 - offline hub, unknown name or split
        if offline:
            raise RlvrError(
                f"data: cannot fetch '{name}' split '{split}' ({offline} is set and the datasets cache has no copy); "
                f"{local or GENERIC_LOCAL_COPY}"
            ) from None
        msg = first_line(e)
        raise RlvrError(
            f"data: cannot load '{name}' split '{split}': {msg}" + (f"; {local}" if local else "")
        ) from None


def gsm8k_row(row: dict) -> dict:
    solution, _, final = row["answer"].rpartition("####")
    solution = re.sub(r"<<[^>]*>>", "", solution).strip()
    answer = final.strip().replace(",", "")
    return {
        "question": row["question"],
        "answer": answer,
        "solution": f"<think>{solution}</think><answer>{answer}</answer>",
        "data_source": "gsm8k",
    }


def math500_row(row: dict) -> dict:
    out = {"question": row["problem"], "answer": row["answer"], "data_source": "math500"}
    for key in ("level", "subject", "unique_id"):
        if key in row:
            out[key] = row[key]
    return out


MAPPERS = {"gsm8k": gsm8k_row, "math500": math500_row}


def generic_rows(rows: list[dict], cfg: DataConfig, source: str) -> list[dict]:
    if not rows:
        raise RlvrError(f"data: {source} has no rows")
    columns = list(rows[0])
    prompt_col = cfg.prompt_column or next((c for c in ("prompt", "question", "problem") if c in columns), None)
    answer_col = cfg.answer_column or "answer"
    if prompt_col is None or prompt_col not in columns:
        raise RlvrError(
            f"data: {source} has no prompt column '{prompt_col or 'prompt'}' (columns: {', '.join(columns)});"
            " set data.prompt_column"
        )
    if answer_col not in columns:
        raise RlvrError(
            f"data: {source} has no answer column '{answer_col}' (columns: {', '.join(columns)});"
            " set data.answer_column"
        )
    out = []
    for row in rows:
        new = {k: v for k, v in row.items() if k not in (prompt_col, answer_col, "prompt")}
        new.update(question=row[prompt_col], answer=str(row[answer_col]))
        new.setdefault("data_source", source)
        out.append(new)
    return out


def load_split(cfg: DataConfig, split: str) -> list[dict]:
    source = cfg.source
    check_source(source)
    short = HUB_ALIASES.get(source, source)
    if short in NAMED:
        return [MAPPERS[short](r) for r in _load_named(short, split, cfg)]
    path = Path(source).expanduser()
    if path.suffix in FILE_SUFFIXES:
        return generic_rows(_load_file(path), cfg, path.name)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.stem == split and p.suffix in FOLDER_SUFFIXES)
        if not files:
            have = folder_splits(path)
            listed = f" (splits: {', '.join(have)}){did_you_mean(split, have)}" if have else ""
            raise RlvrError(f"data.source: no {split}.jsonl or {split}.parquet in {source}{listed}")
        return generic_rows(_load_file(files[0]), cfg, source)
    return generic_rows(_load_hub(source, None, split), cfg, source)


# --------------------------------------------------------------------------------------------------- names and splits


def did_you_mean(word: str, choices, cutoff: float = 0.6) -> str:
    """`; did you mean 'x'?` for the choice closest to `word`, or nothing when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f"; did you mean '{close[0]}'?" if close else ""


def typo_distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) from `a` to `b`: how far a typo is from a name."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def known_sources() -> dict[str, str]:
    """Every data name rlvr knows, lowercased -> as written: the named datasets, their hub ids, `builtin:<task>`
    (and the bare task name, which means the built-in task)."""
    names = {n: n for n in NAMED} | {hub.lower(): hub for hub in HUB_ALIASES}
    names |= {f"{BUILTIN_PREFIX}{t}": f"{BUILTIN_PREFIX}{t}" for t in BUILTIN_TASKS}
    return names | {t: f"{BUILTIN_PREFIX}{t}" for t in BUILTIN_TASKS}


def close_known_source(source: str) -> str | None:
    """The name rlvr knows that `source` is a typo of (the same but for case, or one edit away, two for names of
    more than six characters), else None. A hub id is compared with hub ids only: `org/gsm8k-fr` is a dataset of
    its own, not a typo."""
    lowered = source.lower()
    best = None
    for key, name in known_sources().items():
        if ("/" in key) != ("/" in lowered) or key == lowered and name == source:
            continue
        distance = typo_distance(lowered, key)
        if distance <= (1 if len(key) <= 6 else 2) and (best is None or distance < best[0]):
            best = (distance, name)
    return best[1] if best else None


def check_source(source: str, what: str = "data.source") -> None:
    """Refuse at once, in one line, a data source that cannot be what the user meant, before a hub download retries
    it: an unknown built-in task, a name close to one rlvr knows (gsm8kk, openai/gsm8kk, arithmetic), or a local
    path (./x, /x, a .jsonl name or a near miss like .jsnol, a folder here with a name under it) that does not
    exist."""
    from rl.models import looks_like_path

    if source.startswith(BUILTIN_PREFIX):
        builtin_task(source, what)
        return
    if HUB_ALIASES.get(source, source) in NAMED:
        return
    path = Path(source).expanduser()
    if path.exists():
        return
    if path.suffix in FILE_SUFFIXES:
        raise RlvrError(f"{what}: no such file '{source}'")
    if path.suffix and any(typo_distance(path.suffix.lower(), known) <= 1 for known in FILE_SUFFIXES):
        raise RlvrError(f"{what}: no such file '{source}' (data files end in {', '.join(FILE_SUFFIXES)})")
    if looks_like_path(source):
        raise RlvrError(f"{what}: no such file or folder '{source}'")
    close = close_known_source(source)
    if close is not None:
        raise RlvrError(f"{what}: unknown data '{source}'; did you mean '{close}'?")


def folder_splits(path: Path) -> list[str]:
    """The splits of a folder source: the names of its .jsonl/.parquet/.json files."""
    return sorted({p.stem for p in path.iterdir() if p.suffix in FOLDER_SUFFIXES})


def splits_of(cfg: DataConfig) -> list[str] | None:
    """The split names `cfg.source` answers to: a built-in task's (train_split, eval_split), a named dataset's, a
    folder's files; [] for a single file (it has no splits); None for a hub dataset (known only once fetched)."""
    source = cfg.source
    if source.startswith(BUILTIN_PREFIX):
        return list(dict.fromkeys([cfg.train_split, cfg.eval_split]))
    short = HUB_ALIASES.get(source, source)
    if short in NAMED:
        return list(NAMED[short][3])
    path = Path(source).expanduser()
    if path.suffix in FILE_SUFFIXES:
        return []
    if path.is_dir():
        return folder_splits(path)
    return None


# --------------------------------------------------------------------------------------------------- templates


def apply_template(question: str, template: str, system_prompt: str | None = None) -> Any:
    if template == "plain":
        return question
    if template == "r1_zero":
        return R1_ZERO.format(question=question)
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": question}]


def render_prompt(prompt: Any, tokenizer) -> str:
    """The exact text the policy is conditioned on (TRL renders chat prompts the same way)."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def _finish(rows: list[dict], cfg: DataConfig, size: int | None, shuffle: bool) -> list[dict]:
    if shuffle:
        random.Random(cfg.seed).shuffle(rows)
    if size is not None:
        rows = rows[:size]
    for row in rows:
        row["prompt"] = apply_template(row["question"], cfg.template, cfg.system_prompt)
    return rows


def from_hub(cfg: DataConfig) -> bool:
    """Whether `cfg.source` (or `cfg.eval_source`) will be downloaded from the Hugging Face hub (no built-in task,
    file or local copy). A name that cannot be meant (`check_source`) or a split its source lacks (`check_splits`)
    is refused here, before any run starts."""

    def hub(source: str, what: str) -> bool:
        check_source(source, what)
        if source.startswith(BUILTIN_PREFIX):
            return False
        short = HUB_ALIASES.get(source, source)
        if short in NAMED:
            root = data_root()
            return not cfg.path and not (root is not None and (root / NAMED[short][2]).exists())
        path = Path(source).expanduser()
        return not (path.suffix in FILE_SUFFIXES or path.is_dir())

    hubs = [hub(cfg.source, "data.source"), cfg.eval_source is not None and hub(cfg.eval_source, "data.eval_source")]
    check_splits(cfg)
    return any(hubs)


def builtin_task(source: str, what: str = "data.source"):
    task = source[len(BUILTIN_PREFIX) :]
    if task not in BUILTIN_TASKS:
        known = ", ".join(BUILTIN_TASKS)
        raise RlvrError(f"{what}: unknown built-in task '{task}' (known: {known}){did_you_mean(task, BUILTIN_TASKS)}")
    return BUILTIN_TASKS[task]


def filter_by_pass_rate(rows: list[dict], cfg: DataConfig) -> list[dict]:
    """The rows whose pass-rate column lies in [min_pass_rate, max_pass_rate]; RlvrError when rows lack it or none
    is left."""
    rule = cfg.filter
    if rule is None:
        return rows
    missing = next((i for i, r in enumerate(rows) if not isinstance(r.get(rule.column), (int, float))), None)
    if missing is not None:
        raise RlvrError(
            f"data.filter: {cfg.source} row {missing} has no numeric '{rule.column}' column "
            "(write one with `rlvr filter`, or set data.filter.column)"
        )
    kept = [r for r in rows if rule.min_pass_rate <= r[rule.column] <= rule.max_pass_rate]
    if not kept:
        raise RlvrError(
            f"data.filter: no training row of {cfg.source} has {rule.column} in "
            f"[{rule.min_pass_rate:g}, {rule.max_pass_rate:g}]"
        )
    return kept


def check_splits(cfg: DataConfig) -> None:
    """Refuse, before anything loads, a data.train_split or data.eval_split that its source does not have (a named
    dataset's splits, a folder's files). A single file has no splits and a hub dataset's are known once fetched:
    those are not checked here."""
    held_out = dataclasses.replace(cfg, source=cfg.eval_source) if cfg.eval_source else cfg
    for source_cfg, key, split in ((cfg, "train_split", cfg.train_split), (held_out, "eval_split", cfg.eval_split)):
        if source_cfg.source.startswith(BUILTIN_PREFIX):
            continue
        known = splits_of(source_cfg)
        if known and split not in known:
            raise RlvrError(
                f"data.{key}: {source_cfg.source} has no split '{split}' (splits: {', '.join(known)})"
                + did_you_mean(split, known)
            )


def load_data(cfg: DataConfig) -> tuple[list[dict], list[dict]]:
    """Return (train rows, held-out rows), each row with prompt, answer, data_source (+ solution, extras)."""
    check_source(cfg.source)
    if cfg.eval_source:
        check_source(cfg.eval_source, "data.eval_source")
    check_splits(cfg)
    if cfg.source.startswith(BUILTIN_PREFIX):
        train, held_out = builtin_task(cfg.source)(cfg)
        train, held_out = _finish(train, cfg, None, False), _finish(held_out, cfg, None, False)
    else:
        # filtered before train_size caps it: train_size counts the rows trained on
        train = _finish(filter_by_pass_rate(load_split(cfg, cfg.train_split), cfg), cfg, cfg.train_size, True)
        held_out = None if cfg.eval_source else _finish(load_split(cfg, cfg.eval_split), cfg, cfg.eval_size, False)
    if cfg.eval_source:
        other = dataclasses.replace(cfg, source=cfg.eval_source, eval_source=None, filter=None)
        if other.source.startswith(BUILTIN_PREFIX):
            held_out = _finish(builtin_task(other.source)(other)[1], other, None, False)
        else:
            held_out = _finish(load_split(other, other.eval_split), other, other.eval_size, False)
    return (filter_by_pass_rate(train, cfg) if cfg.source.startswith(BUILTIN_PREFIX) else train), held_out


def to_dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_list(rows)
