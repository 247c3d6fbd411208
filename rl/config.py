"""Experiment configs: nested YAML mapped 1:1 onto dataclasses.

Unknown keys and wrong types are errors that name the key (and the closest valid one). The `grpo:` section is
passed straight into TRL's `GRPOConfig` and validated against its fields, so every TRL knob keeps working.
Command-line overrides use dotted paths: `--set grpo.beta=0.04 --set rewards.1.weight=0.5`.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rl.distenv import world_size
from rl.errors import RlvrError

PACKAGE_CONFIGS = Path(__file__).parent / "configs"
DEFAULT_CONFIG = PACKAGE_CONFIGS / "tiny-arith.yaml"

# Fixed sets of values some fields below take, defined once: `rlvr eval` offers the same ones.
BUILTIN_PREFIX = "builtin:"
"""A `model.name_or_path` or `data.source` starting with this names something rlvr builds offline."""
TEMPLATES = ("plain", "r1_zero", "chat")
WANDB_MODES = ("auto", "online", "offline", "disabled")
BACKENDS = ("wandb", "trackio")
QUANTIZE = ("4bit", "8bit")
ALL_LINEAR = "all-linear"


@dataclass
class LoraConfig:
    """LoRA adapters through peft (QLoRA with `quantize: 4bit`); the base weights stay frozen. See rl/train/lora.py."""

    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    """Module names (or name suffixes) to adapt; ["all-linear"]: every linear layer but the output head."""
    merge: bool = False
    """Save `final/` merged into the base weights (a plain model); default false: the adapter only."""
    quantize: str | None = None
    """4bit (QLoRA: nf4, double quantisation) | 8bit: load the frozen base with bitsandbytes. CUDA only."""


@dataclass
class ModelConfig:
    name_or_path: str = "builtin:tiny-qwen2"
    """`builtin:tiny-{qwen2,llama,mistral,falcon,deepseek}` (built offline), a hub name, a local directory, or a
    LoRA adapter directory (loaded on its base)."""
    dtype: str = "float32"
    """float32 | bfloat16 | float16 | auto: the dtype the weights load in. The optimizer still steps fp32 weights
    (rl/train/precision.py): rlvr upcasts the trainable ones on one device or DDP; DeepSpeed and FSDP2 keep
    fp32 masters."""
    pure_bf16: bool = False
    """Train the parameters in bf16 with no fp32 masters (one device or DDP, dtype bfloat16): less memory, but AdamW
    updates below 2^-9 of a weight round away, so at lr 1e-6 most weights never move."""
    revision: str | None = None
    gguf_file: str | None = None
    """Load a GGUF checkpoint (dequantised by transformers) from `name_or_path`."""
    attn_implementation: str | None = None
    """sdpa | eager | flash_attention_2 (when installed); None lets transformers choose."""
    trust_remote_code: bool = False
    lora: LoraConfig | None = None
    """Train LoRA adapters instead of all weights (absent: full fine-tuning)."""


@dataclass
class PassRateFilter:
    """Keep the training rows whose `pass_rate` column (written by `rlvr filter`) lies in [min, max], both included.
    With 8 samples per problem, 0.1 and 0.9 drop exactly the never- and always-solved ones."""

    min_pass_rate: float = 0.0
    max_pass_rate: float = 1.0
    column: str = "pass_rate"


@dataclass
class DataConfig:
    source: str = "builtin:arithmetic"
    """`builtin:<task>`, `gsm8k`, `math500`, a local .jsonl/.parquet file, or a hub dataset name."""
    eval_source: str | None = None
    """Held-out rows from another source (same forms as `source`; a built-in task takes `params` and `seed`), e.g.
    training on a `rlvr filter` output and evaluating on the task's own held-out split. Default: `source`."""
    filter: PassRateFilter | None = None
    """Train only on rows whose pass rate lies in a range (rows need the column: `rlvr filter` writes it)."""
    path: str | None = None
    """Local copy of a named dataset (e.g. ../shared/data/gsm8k); default: $RLVR_DATA_DIR/<name>, then the hub."""
    train_split: str = "train"
    eval_split: str = "test"
    train_size: int | None = None
    """Rows used for training (None: all)."""
    eval_size: int | None = 256
    """Held-out rows evaluated before and after training (None: all)."""
    template: str = "plain"
    """plain (prompt as is) | r1_zero (DeepSeek-R1-Zero text template) | chat (the model's chat template)."""
    system_prompt: str | None = None
    """With template `chat`: a system message placed before the question."""
    prompt_column: str | None = None
    answer_column: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    """Parameters of a built-in task (e.g. arithmetic: {digits: 3})."""
    seed: int = 1234
    """Seed of built-in task generation and shuffling; fixed apart from the run seed so held-out sets agree."""


@dataclass
class RewardConfig:
    name: str = ""
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class WarmupConfig:
    """A short supervised warm-up on the data's `solution` column before GRPO (for models that start from zero)."""

    enabled: bool = False
    max_steps: int = 400
    batch_size: int = 64
    learning_rate: float = 2.0e-3
    warmup_steps: int = 30
    target_accuracy: float = 0.5
    """Stop as soon as greedy accuracy on a probe of training prompts reaches this."""
    check_every: int = 25
    check_size: int = 128
    cache: bool = True
    """Reuse a warm-up with identical inputs from the cache directory ($RLVR_CACHE_DIR, default ~/.cache/rlvr)."""


@dataclass
class DynamicSamplingConfig:
    """DAPO dynamic sampling: drop zero-variance groups, refill from fresh prompts (rl/train/dynamic_sampling.py)."""

    enabled: bool = False
    max_rounds: int = 2
    """At most this many extra generation rounds per step to refill the batch."""


@dataclass
class CurriculumMix:
    """The share of each step's prompts drawn from each pool (rl/train/curriculum.py); a short pool's share goes to
    `fresh` and `learning`. Any non-negative numbers: they are normalised."""

    fresh: float = 0.5
    """Never visited."""
    learning: float = 0.4
    """Visited and right sometimes; prompts nearer a 50% pass rate are drawn more often."""
    easy: float = 0.05
    """Retired: all right over the last `window` visits (revisited rarely, in case the policy forgets)."""
    hard: float = 0.05
    """Retired: all wrong over the last `window` visits (revisited rarely, in case the policy learns them)."""


@dataclass
class CurriculumConfig:
    """Online curriculum: per-prompt pass rates from the rollouts retire always- and never-solved prompts, and a
    difficulty-pool sampler draws each step's prompts toward `mix` (rl/train/curriculum.py). Composes with dynamic
    sampling; its state is saved in every checkpoint."""

    enabled: bool = False
    window: int = 2
    """A prompt right on every completion (or on none) in each of its last `window` visits is retired."""
    mix: CurriculumMix = field(default_factory=CurriculumMix)
    solved_above: float = 0.5
    """A completion counts as right when the accuracy reward scores it above this."""
    reward: str | None = None
    """The reward whose verdicts count (default: the first that checks answers, as in run health)."""

    def mix_weights(self) -> dict[str, float]:
        return dataclasses.asdict(self.mix)


@dataclass
class BudgetConfig:
    """Compute-matched runs: stop on a generation budget, not only on a step count."""

    max_generated_tokens: int | None = None
    """Stop after the step at which this many completion tokens have been generated in all (every rank, every
    dynamic-sampling round; logged as `tokens/generated`). `grpo.max_steps` still caps the steps; give it room.
    Compare variants that generate different lengths (a curriculum, dynamic sampling) at equal cost."""


@dataclass
class EvalConfig:
    before: bool = True
    after: bool = True
    max_new_tokens: int = 256
    batch_size: int = 64
    timeout: float = 1.0
    """Per-item grading timeout in seconds."""
    every_steps: int | None = None
    """Also evaluate every N optimizer steps during training (None: off): `eval/pass@1` and the other held-out
    figures at that step in metrics.jsonl, wandb and trackio, the completions in RUN/eval/step-N.jsonl. The last
    step is left to the evaluation after training (`after`), when that is on."""


@dataclass
class LoggingConfig:
    wandb_project: str = "rlvr"
    wandb_entity: str | None = None
    wandb_group: str | None = None
    wandb_job_type: str | None = None
    wandb_name: str | None = None
    """Default: the run directory's name."""
    wandb_tags: list[str] = field(default_factory=list)
    wandb_mode: str = "auto"
    """auto (online if WANDB_API_KEY is set, else offline) | online | offline | disabled."""
    backends: list[str] = field(default_factory=lambda: ["wandb"])
    """Where metrics go besides metrics.jsonl (TRL's `report_to`): wandb and/or trackio, a local dashboard
    (`rlvr dashboard RUN_DIR`; its store is RUN_DIR/trackio, or $RLVR_TRACKIO_DIR when set). The wandb_* project,
    group, job_type and name apply to both."""
    log_completions: bool = True
    """Send a completions table (prompt, completion, per-reward scores, advantage) to wandb."""
    num_completions_to_print: int = 0


@dataclass
class LaunchConfig:
    """The hardware a recipe is written for. `rlvr launch` plans for it when --gpus/--nodes/--gpu-memory are absent;
    `rlvr train` ignores it."""

    gpus: int | None = None
    """GPUs per node."""
    nodes: int = 1
    gpu_memory: float = 80.0
    """GiB per GPU."""
    prompt_tokens: int = 512
    """Longest prompt (tokens) the memory planner assumes; TRL does not cap prompts."""


@dataclass
class RewardHackingCheck:
    """A trained reward other than the accuracy one (times its weight), or all of them summed, rises while accuracy
    stays flat or falls, persistently."""

    enabled: bool = True
    window: int = 20
    """Compare the last `window` logged steps with the `window` before them."""
    min_rise: float = 0.05
    """The smallest rise of a reward's mean (in its own units, times its weight) that counts."""
    alpha: float = 0.01
    """One-sided Welch t-test level for "rises"."""
    patience: int = 10
    """The condition must hold now and at 80% of the last `patience` logged steps ("flat": accuracy rose by less
    than one standard error of the difference between the windows)."""


@dataclass
class GraderDisagreementCheck:
    """Every `every` steps, math-verify regrades completions the accuracy reward paid (in worker processes)."""

    enabled: bool = True
    every: int = 10
    sample: int = 32
    """Paid completions regraded per check (from the latest batch, per process)."""
    max_rate: float = 0.2
    """Alert when more than this share of the paid completions are rejected by the independent check..."""
    min_checked: int = 32
    """...pooled over the checks of the last 5 x `every` steps, newest first, until this many were regraded. The
    check abstains (not counted) on answers with words in them: math-verify would read letters as variables."""
    timeout: float = 5.0


@dataclass
class EntropyCollapseCheck:
    """Token entropy falls under `fraction` of its starting level (the mean of the first `window` logged steps)."""

    enabled: bool = True
    fraction: float = 0.3
    window: int = 10


@dataclass
class LengthBlowupCheck:
    """Truncation climbs (clipped ratio), or mean length grows while accuracy does not."""

    enabled: bool = True
    window: int = 20
    max_clipped: float = 0.2
    """Alert when the last window's clipped ratio is above this and at least `min_rise` above the first window's."""
    min_rise: float = 0.1
    growth: float = 0.3
    """Alert when mean length grew by this fraction from one window to the next while accuracy (or, without an
    accuracy reward, the total reward) rose by less than one standard error."""


@dataclass
class NoSignalCheck:
    """Groups whose completions all score the same teach nothing (`frac_reward_zero_std`; with dynamic sampling,
    the share of the trained batch still made of them, `dynamic_sampling/filler_share`)."""

    enabled: bool = True
    max_fraction: float = 0.9
    steps: int = 10
    """Consecutive logged steps at or above `max_fraction`."""


@dataclass
class GraderTroubleCheck:
    """A reward's None / timeout / error rate, or its share of the step's time, over the last `window` steps."""

    enabled: bool = True
    window: int = 10
    max_rate: float = 0.05
    """Timeouts or errors per graded completion."""
    max_none_rate: float = 0.2
    """Completions scored None (e.g. a gold answer the grader cannot read)."""
    max_time_share: float = 0.5
    """Seconds spent in the reward over the step's seconds."""


@dataclass
class InstabilityCheck:
    """Gradient-norm spikes, and KL jumps when `grpo.beta > 0`, against the median of the previous `window` steps;
    entropy rising far above its start."""

    enabled: bool = True
    window: int = 10
    grad_spike: float = 10.0
    kl_jump: float = 5.0
    min_kl: float = 0.05
    """A KL jump must also exceed the median by this much (KL starts near 0)."""
    entropy_rise: float = 3.0
    """Entropy over the last `window` steps above this multiple of the first 3 logged steps': the policy is coming
    apart (typically a learning rate far too high), the opposite of entropy_collapse."""


@dataclass
class HealthConfig:
    """Run health: detectors on the logged metrics that print an alert while training runs (rl/train/health.py).

    Windows count logged steps (every `grpo.logging_steps`)."""

    enabled: bool = True
    stop_on: list[str] = field(default_factory=list)
    """Alert kinds that end the run: a checkpoint is saved, the run finishes its summary, and exits with code 4."""
    accuracy_reward: str | None = None
    """The reward that checks answers; default: the first of the experiment's rewards that does (math_accuracy,
    countdown). It can be trained with weight 0: then it only watches."""
    reward_hacking: RewardHackingCheck = field(default_factory=RewardHackingCheck)
    grader_disagreement: GraderDisagreementCheck = field(default_factory=GraderDisagreementCheck)
    entropy_collapse: EntropyCollapseCheck = field(default_factory=EntropyCollapseCheck)
    length_blowup: LengthBlowupCheck = field(default_factory=LengthBlowupCheck)
    no_signal: NoSignalCheck = field(default_factory=NoSignalCheck)
    grader_trouble: GraderTroubleCheck = field(default_factory=GraderTroubleCheck)
    instability: InstabilityCheck = field(default_factory=InstabilityCheck)


@dataclass
class Experiment:
    name: str = "experiment"
    variant: str | None = None
    """Set by `rlvr ablate`: the ablation variant this run belongs to (also the wandb job_type)."""
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rewards: list[RewardConfig] = field(default_factory=list)
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    grpo: dict[str, Any] = field(default_factory=dict)
    """Passed to trl.GRPOConfig (validated against its fields)."""
    dynamic_sampling: DynamicSamplingConfig = field(default_factory=DynamicSamplingConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)
    health: HealthConfig = field(default_factory=HealthConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------------- loading


class _Loader(yaml.SafeLoader):
    """YAML with 1.2-style floats: `1e-6` is a number, not the string PyYAML (YAML 1.1) makes of it."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+|\.[0-9_]+"
        r"(?:[eE][-+]?[0-9]+)?|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def load_experiment(path: str | Path | None = None, overrides: list[str] | None = None) -> Experiment:
    """Read a YAML config (default: the embedded tiny-arith), apply `key=value` overrides, validate."""
    raw = read_yaml(Path(path) if path else DEFAULT_CONFIG)
    for item in overrides or []:
        apply_override(raw, item)
    exp = from_dict(Experiment, raw, "")
    validate(exp)
    return exp


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RlvrError(f"config file not found: {path}")
    try:
        data = parse_yaml(path.read_text())
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise RlvrError(f"{path}: invalid YAML{line}: {getattr(e, 'problem', e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RlvrError(f"{path}: top level must be a mapping of sections, got {type(data).__name__}")
    return data


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one `dotted.key=value` override (value parsed as YAML) to the raw config mapping."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise RlvrError(f"--set expects key=value, got {item!r}")
    try:
        value = parse_yaml(text)
    except yaml.YAMLError:
        value = text
    parts = key.strip().split(".")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        node = _child(node, part, parts[: i + 1])
    last = parts[-1]
    if isinstance(node, list):
        node[_index(node, last, parts)] = value
    else:
        node[last] = value


def _child(node: Any, part: str, path: list[str]) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, path)]
    if not isinstance(node, dict):
        raise RlvrError(f"--set {'.'.join(path)}: {'.'.join(path[:-1])} is not a section")
    if node.get(part) is None:
        node[part] = {}
    return node[part]


def _index(node: list, part: str, path: list[str]) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise RlvrError(f"--set {'.'.join(path)}: index {part!r} out of range (the list has {len(node)} items)")
    return int(part)


def from_dict(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types raise RlvrError naming the key."""
    if not isinstance(raw, dict):
        raise RlvrError(f"{where or 'config'}: expected a mapping, got {_kind(raw)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise RlvrError(f"unknown config key '{path}'{_did_you_mean(str(key), names, where)}")
        kwargs[key] = _convert(value, hints[key], path)
    return cls(**kwargs)


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], path)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value if value is not None else {}, path)
    if origin is list:
        if not isinstance(value, list):
            raise RlvrError(f"config key '{path}' must be a list, got {_kind(value)}")
        (item_tp,) = typing.get_args(tp)
        return [_convert(v, item_tp, f"{path}.{i}") for i, v in enumerate(value)]
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise RlvrError(f"config key '{path}' must be a mapping, got {_kind(value)}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise RlvrError(f"config key '{path}' must be true or false, got {_kind(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise RlvrError(f"config key '{path}' must be an integer, got {_kind(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads `1e-4` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise RlvrError(f"config key '{path}' must be a number, got {_kind(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise RlvrError(f"config key '{path}' must be a string, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return type(value).__name__
    return f"{type(value).__name__} {value!r}"[:80]


def _did_you_mean(key: str, valid: list[str], where: str) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    prefix = f"{where}." if where else ""
    if close:
        return f" (did you mean '{prefix}{close[0]}'?)"
    return f" (valid keys: {', '.join(valid)})"


# --------------------------------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Bound:
    """The range a numeric config value must lie in (None: unbounded on that side), and why, shown when it does not."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    why: str = ""

    def holds(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        low, high = _number(self.low), _number(self.high)
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {low}"
        return f"{'<' if self.high_open else '<='} {high}"

    def check(self, path: str, value: Any) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not self.holds(value):
            why = f" ({self.why})" if self.why else ""
            raise RlvrError(f"{path} must be {self}, got {value!r}{why}")


def _number(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


AT_LEAST_1 = Bound(1)
POSITIVE = Bound(0, low_open=True)
NON_NEGATIVE = Bound(0)
SHARE = Bound(0, 1)
SEED = Bound(0, 2**32 - 1, why="numpy seeds are unsigned 32-bit integers")

FIELD_BOUNDS: dict[str, Bound] = {
    "seed": SEED,
    "data.seed": SEED,
    "data.train_size": AT_LEAST_1,
    "data.eval_size": Bound(1, why="to skip the held-out evaluation set eval.before and eval.after to false"),
    "warmup.max_steps": AT_LEAST_1,
    "warmup.batch_size": AT_LEAST_1,
    "warmup.learning_rate": POSITIVE,
    "warmup.warmup_steps": NON_NEGATIVE,
    "warmup.target_accuracy": Bound(0, 1, low_open=True),
    "warmup.check_every": AT_LEAST_1,
    "warmup.check_size": AT_LEAST_1,
    "eval.max_new_tokens": AT_LEAST_1,
    "eval.batch_size": AT_LEAST_1,
    "eval.timeout": POSITIVE,
    "eval.every_steps": Bound(1, why="null turns it off"),
    "logging.num_completions_to_print": NON_NEGATIVE,
    "launch.prompt_tokens": AT_LEAST_1,
    "launch.gpu_memory": Bound(0, low_open=True, why="GiB per GPU"),
    "budget.max_generated_tokens": AT_LEAST_1,
}
"""Ranges of rlvr's own numeric fields (sections with their own validators, health and curriculum, check theirs)."""

GRPO_BOUNDS: dict[str, Bound] = {
    "learning_rate": NON_NEGATIVE,
    "per_device_train_batch_size": Bound(1, why="completions each process trains on per step"),
    "per_device_eval_batch_size": AT_LEAST_1,
    "gradient_accumulation_steps": AT_LEAST_1,
    "num_generations": Bound(2, why="GRPO's advantage compares the completions of one prompt's group"),
    "num_iterations": AT_LEAST_1,
    "max_completion_length": Bound(1, why="tokens generated per completion"),
    "temperature": Bound(
        0, low_open=True, why="at 0 every completion of a group is the same: zero advantage, nothing learned"
    ),
    "top_p": Bound(0, 1, low_open=True),
    "top_k": Bound(-1, why="0 (or -1 with vLLM) turns it off"),
    "min_p": SHARE,
    "repetition_penalty": POSITIVE,
    "beta": NON_NEGATIVE,
    "epsilon": NON_NEGATIVE,
    "epsilon_high": NON_NEGATIVE,
    "delta": POSITIVE,
    "max_grad_norm": NON_NEGATIVE,
    "warmup_steps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "adam_beta1": Bound(0, 1, high_open=True),
    "adam_beta2": Bound(0, 1, high_open=True),
    "adam_epsilon": NON_NEGATIVE,
    "num_train_epochs": POSITIVE,
    "logging_steps": POSITIVE,
    "save_steps": POSITIVE,
    "eval_steps": POSITIVE,
    "steps_per_generation": AT_LEAST_1,
    "generation_batch_size": AT_LEAST_1,
    "vllm_gpu_memory_utilization": Bound(0, 1, low_open=True),
    "dataloader_num_workers": NON_NEGATIVE,
    "seed": SEED,
}
"""Ranges of `grpo:` fields that TRL or transformers only reject mid-run (or never, training on nonsense)."""


def check_bounds(exp: Experiment) -> None:
    """Every numeric field in its range: rlvr's own sections and the `grpo:` fields TRL leaves unchecked."""
    for path, bound in FIELD_BOUNDS.items():
        node: Any = exp
        for part in path.split("."):
            node = getattr(node, part)
        bound.check(path, node)
    for key, value in exp.grpo.items():
        if key in GRPO_BOUNDS:
            GRPO_BOUNDS[key].check(f"grpo.{key}", value)
    max_steps = exp.grpo.get("max_steps", -1)
    if isinstance(max_steps, int) and max_steps != -1 and max_steps < 1:
        raise RlvrError(f"grpo.max_steps must be at least 1 (or -1: grpo.num_train_epochs decides), got {max_steps}")


def check_batch_shape(grpo: dict[str, Any]) -> None:
    """What TRL's GRPOConfig checks of the generation batch, said in the fields a user sets: the completions
    generated per step (per_device_train_batch_size x processes x steps_per_generation, or generation_batch_size)
    must hold whole groups of num_generations."""
    per_device = grpo.get("per_device_train_batch_size", 8)
    generations = grpo.get("num_generations", 8)
    steps = grpo.get("steps_per_generation") or grpo.get("gradient_accumulation_steps", 1)
    total = grpo.get("generation_batch_size") or per_device * world_size() * steps
    if total % generations == 0:
        return
    if grpo.get("generation_batch_size"):
        made = f"grpo.generation_batch_size ({total})"
    else:
        made = (
            f"per_device_train_batch_size {per_device} x {world_size()} process(es) x {steps} step(s) per generation"
        )
    fits = [g for g in range(generations - 1, 1, -1) if total % g == 0][:1] + [
        g for g in range(generations + 1, total + 1) if total % g == 0
    ][:1]
    hint = f"e.g. num_generations {' or '.join(str(g) for g in sorted(fits))}, or " if fits else ""
    raise RlvrError(
        f"grpo.num_generations ({generations}) must divide the completions generated per step, {made} = {total}: "
        f"{hint}a per_device_train_batch_size that is a multiple of {generations}"
    )


def grpo_type_ok(value: Any, tp: Any) -> bool:
    """Whether `value` (as YAML gives it) fits a GRPOConfig field annotation; annotations rlvr does not model pass."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(grpo_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if tp is list or origin is list:
        return isinstance(value, list)
    if tp is dict or origin is dict:
        return isinstance(value, dict)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return isinstance(value, tp) or value in {e.value for e in tp}
    return True


def _type_name(tp: Any) -> str:
    """`a number`, `an integer or null`, ...: a GRPOConfig annotation in words."""
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list"}
    words[dict] = "a mapping"
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    names = [
        words.get(typing.get_origin(a) or a) or ("null" if a is type(None) else getattr(a, "__name__", str(a)))
        for a in args
    ]
    return " or ".join(dict.fromkeys(names))


# Keys rlvr sets itself from other sections; setting them in `grpo:` would be silently overwritten.
RESERVED_GRPO_KEYS = {
    "output_dir": "--output-dir",
    "seed": "the top-level 'seed'",
    "reward_weights": "rewards[].weight",
}


def validate(exp: Experiment) -> None:
    """Cross-field checks that do not need heavy imports (rewards registry and GRPOConfig fields included).

    Health, precision and the curriculum own their sections' rules; their modules never import this one at run
    time, so the lazy imports below keep the dependency one-way (tests/test_imports.py checks it)."""
    import rewards

    if exp.data.template not in TEMPLATES:
        raise RlvrError(f"data.template must be one of {', '.join(TEMPLATES)}, got {exp.data.template!r}")
    if exp.logging.wandb_mode not in WANDB_MODES:
        raise RlvrError(f"logging.wandb_mode must be one of {', '.join(WANDB_MODES)}, got {exp.logging.wandb_mode!r}")
    backends = exp.logging.backends
    if not isinstance(backends, list) or any(b not in BACKENDS for b in backends):
        raise RlvrError(f"logging.backends must be a list of {', '.join(BACKENDS)} (or []), got {backends!r}")
    if exp.dynamic_sampling.enabled and exp.dynamic_sampling.max_rounds < 1:
        raise RlvrError("dynamic_sampling.max_rounds must be at least 1 when dynamic sampling is enabled")
    if exp.dynamic_sampling.enabled and world_size() > 1:
        raise RlvrError("dynamic_sampling runs with one training process for now (TRL splits groups across ranks)")
    if (exp.launch.gpus is not None and exp.launch.gpus < 1) or exp.launch.nodes < 1:
        raise RlvrError("launch.gpus and launch.nodes must be at least 1")
    rate = exp.data.filter
    if rate is not None and not 0.0 <= rate.min_pass_rate <= rate.max_pass_rate <= 1.0:
        raise RlvrError(
            "data.filter needs 0 <= min_pass_rate <= max_pass_rate <= 1, "
            f"got {rate.min_pass_rate:g} and {rate.max_pass_rate:g}"
        )
    validate_grpo_keys(exp.grpo)
    check_bounds(exp)
    check_batch_shape(exp.grpo)
    if not exp.rewards:
        raise RlvrError(
            "rewards: at least one reward is required (see `rlvr rewards` for the names); a config file is complete "
            "on its own, not layered on the default: copy configs/tiny-arith.yaml and change what differs"
        )
    known = rewards.names()
    for i, r in enumerate(exp.rewards):
        if r.name not in known:
            hint = difflib.get_close_matches(r.name, known, n=1, cutoff=0.5)
            also = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(known)})"
            raise RlvrError(f"rewards.{i}.name: unknown reward '{r.name}'{also}")
    from rl.train.health import validate_health

    validate_health(exp)
    from rl.train.precision import check_trl_casts

    check_trl_casts(exp.grpo, exp.model)
    from rl.train.curriculum import validate_curriculum

    validate_curriculum(exp)
    if exp.model.lora is not None:
        check_lora(exp.model.lora)


def check_lora(cfg: LoraConfig) -> None:
    """The `model.lora` checks that need no model (rl/train/lora.py checks `target_modules` against the loaded one)."""
    if cfg.r < 1:
        raise RlvrError(f"model.lora.r must be a positive integer, got {cfg.r}")
    if cfg.alpha <= 0:
        raise RlvrError(f"model.lora.alpha must be above 0, got {cfg.alpha}")
    if not 0 <= cfg.dropout < 1:
        raise RlvrError(f"model.lora.dropout must be in [0, 1), got {cfg.dropout}")
    if not cfg.target_modules or not all(isinstance(t, str) and t for t in cfg.target_modules):
        raise RlvrError(f"model.lora.target_modules must be a non-empty list of names, got {cfg.target_modules}")
    if ALL_LINEAR in cfg.target_modules and len(cfg.target_modules) > 1:
        raise RlvrError("model.lora.target_modules: 'all-linear' stands alone (it already takes every linear layer)")
    if cfg.quantize is not None and cfg.quantize not in QUANTIZE:
        raise RlvrError(f"model.lora.quantize must be one of {', '.join(QUANTIZE)} or null, got {cfg.quantize!r}")
    if cfg.quantize and cfg.merge:
        raise RlvrError(
            "model.lora.merge cannot merge into a quantised base; save the adapter (merge: false) and merge it "
            "into the full-precision base afterwards"
        )


def grpo_field_names() -> list[str]:
    from trl import GRPOConfig

    return [f.name for f in dataclasses.fields(GRPOConfig)]


# Fields whose bad values TRL 1.16 only notices mid-training (after minutes of rollouts): check them up front.
GRPO_CHOICE_FIELDS = ("loss_type", "scale_rewards", "importance_sampling_level", "vllm_mode")
# A name in single quotes in a help text (`'dapo'`), not the value of a named argument (`level='sequence'`).
_QUOTED = re.compile(r"(?<![=\w`'])([`']+)(\w+)([`']+)")


@functools.cache
def grpo_choices() -> dict[str, tuple]:
    """The values TRL allows for each of GRPO_CHOICE_FIELDS, read from its GRPOConfig help texts (the only place
    TRL lists them): the single-quoted names that are not field names, then True and False if the help offers both
    (scale_rewards: `True` or 'group', `False` or 'none')."""
    from trl import GRPOConfig

    fields = {f.name: f for f in dataclasses.fields(GRPOConfig)}
    choices = {}
    for name in GRPO_CHOICE_FIELDS:
        help_text = fields[name].metadata.get("help", "") if name in fields else ""
        quoted = [v for pre, v, post in _QUOTED.findall(help_text) if "'" in pre + post and v not in fields]
        values: list = list(dict.fromkeys(quoted))
        if len(values) < 2:
            raise RlvrError(
                f"cannot read the values of grpo.{name} from trl.GRPOConfig's help text (has TRL changed its "
                "layout?); update rl.config.grpo_choices"
            )
        if "`True`" in help_text and "`False`" in help_text:
            values += [True, False]
        choices[name] = tuple(values)
    return choices


@functools.cache
def grpo_types() -> dict[str, Any]:
    from trl import GRPOConfig

    return typing.get_type_hints(GRPOConfig)


def validate_grpo_keys(grpo: dict[str, Any]) -> None:
    """Every `grpo:` key is a GRPOConfig field rlvr does not own, of the field's type (TRL checks few types: a
    string learning rate would fail minutes into the run), and a choice field holds one of TRL's values."""
    valid = grpo_field_names()
    for key, value in grpo.items():
        if key in RESERVED_GRPO_KEYS:
            raise RlvrError(f"grpo.{key} is set by rlvr; use {RESERVED_GRPO_KEYS[key]} instead")
        if key not in valid:
            raise RlvrError(
                f"unknown grpo field 'grpo.{key}' (not a trl.GRPOConfig field){_did_you_mean(key, valid, 'grpo')}"
            )
        if key not in GRPO_CHOICE_FIELDS and not grpo_type_ok(value, grpo_types()[key]):  # choices: checked below
            raise RlvrError(f"config key 'grpo.{key}' must be {_type_name(grpo_types()[key])}, got {_kind(value)}")
        if key in GRPO_CHOICE_FIELDS and value not in grpo_choices()[key]:
            choices = ", ".join(str(c) for c in grpo_choices()[key])
            raise RlvrError(f"grpo.{key} must be one of {choices}, got {value!r}")


def dump_yaml(exp: Experiment) -> str:
    return yaml.safe_dump(exp.to_dict(), sort_keys=False, default_flow_style=None, width=119)
