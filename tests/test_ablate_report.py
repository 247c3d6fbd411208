"""Ablation specs (validation, planning, skipping finished runs, emitted commands) and report aggregation."""

import json
import math
import os
import statistics

import pytest

from rl.errors import RlvrError
from rl.study.ablate import load_spec, merge, slurm_script, train_command
from rl.study.report import collect, discover, report, table
from tests.conftest import REPO, rlvr

SPEC = """
name: abl
base: {base}
seeds: [0, 1]
output_dir: {out}
variants:
  acc: {{rewards: [{{name: math_accuracy}}]}}
  acc+fmt: {{rewards: [{{name: math_accuracy}}, {{name: think_format, weight: 0.1}}], grpo.beta: 0.01}}
"""


def write_spec(tmp_path, body=None, **fields):
    text = body if body is not None else SPEC
    path = tmp_path / "spec.yaml"
    path.write_text(text.format(base=REPO / "configs" / "tiny-arith.yaml", out=tmp_path / "runs", **fields))
    return path


def test_merge_nested_lists_and_dotted_keys():
    base = {"grpo": {"beta": 0.0, "lr": 1}, "rewards": [{"name": "a"}, {"name": "b"}]}
    out = merge(base, {"grpo": {"beta": 0.1}, "rewards": [{"name": "c"}], "data.params.digits": 2})
    assert out == {"grpo": {"beta": 0.1, "lr": 1}, "rewards": [{"name": "c"}], "data": {"params": {"digits": 2}}}
    assert base["grpo"]["beta"] == 0.0  # not mutated


def test_spec_expands_variants_times_seeds_with_wandb_tags(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    assert [r.label for r in spec.runs] == ["acc__s0", "acc__s1", "acc+fmt__s0", "acc+fmt__s1"]
    run = spec.runs[3]
    assert run.experiment.seed == 1 and run.experiment.variant == "acc+fmt"
    assert run.experiment.grpo["beta"] == 0.01 and run.experiment.grpo["loss_type"] == "dr_grpo"
    assert [r.name for r in run.experiment.rewards] == ["math_accuracy", "think_format"]
    log = run.experiment.logging
    assert (log.wandb_group, log.wandb_job_type, log.wandb_name) == ("abl", "acc+fmt", "abl__acc+fmt__s1")
    assert run.run_dir == tmp_path / "runs" / "acc+fmt__s1"


@pytest.mark.parametrize(
    "body, message",
    [
        ("name: a\nbase: {base}\nseeds: []\nvariants: {{v: {{}}}}\n", "'seeds' must be a non-empty list"),
        ("name: a\nbase: {base}\nseeds: [0]\nvariants: {{}}\n", "'variants' must be a non-empty mapping"),
        (
            "name: a\nbase: {base}\nseeds: [0]\nvariants: {{v: {{modle: {{}}}}}}\n",
            "variant 'v': unknown config key 'modle'",
        ),
        (
            "name: a\nbase: {base}\nseeds: [0]\nvariants: {{v: {{rewards: [{{name: nope}}]}}}}\n",
            "unknown reward 'nope'",
        ),
        ("name: a\nbase: {base}\nseeds: [0]\nvariant: {{}}\n", "unknown ablation key 'variant'"),
        ("name: a\nseeds: [0]\nvariants: {{v: {{}}}}\n", "missing 'base'"),
    ],
)
def test_spec_errors(tmp_path, body, message):
    with pytest.raises(RlvrError, match=message.replace("(", r"\(").replace("'", "'")):
        load_spec(write_spec(tmp_path, body))


def test_spec_errors_through_the_cli_are_one_line(tmp_path):
    path = write_spec(tmp_path, "name: a\nbase: {base}\nseeds: []\nvariants: {{v: {{}}}}\n")
    result = rlvr("ablate", str(path), "--dry-run")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "non-empty list" in result.stderr


def fake_run(run_dir, accuracy, rewards, steps=20):
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(
        json.dumps(
            {
                "accuracy_before": 0.5,
                "accuracy_after": accuracy,
                "accuracy_delta": accuracy - 0.5,
                "format_rate_after": 1.0,
                "steps": steps,
                "n_eval": 256,
            }
        )
    )
    lines = [
        {
            "step": i + 1,
            "reward": rewards[i],
            "rewards/math_accuracy/mean": rewards[i],
            "completions/mean_length": 30.0,
        }
        for i in range(steps)
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def started_run(run_dir, checkpoint=None, warm_start=False):
    """A run directory as an unfinished `rlvr train` leaves it: its config and state, maybe a warm start and a
    complete checkpoint."""
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("name: x\n")
    (run_dir / "state.json").write_text("{}")
    if warm_start:
        (run_dir / "start").mkdir()
        (run_dir / "start" / "config.json").write_text("{}")
    if checkpoint is not None:
        folder = run_dir / "checkpoints" / f"checkpoint-{checkpoint}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text("{}")


def test_finished_runs_are_skipped_and_every_existing_run_resumes(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    fake_run(spec.runs[0].run_dir, 0.8, [0.5] * 20)
    assert [r.done for r in spec.runs] == [True, False, False, False]
    started_run(spec.runs[1].run_dir, checkpoint=60)
    started_run(spec.runs[2].run_dir, warm_start=True)  # stopped before its first checkpoint
    assert train_command(spec.runs[1], tmp_path / "c.yaml")[-1] == "--resume"
    assert train_command(spec.runs[2], tmp_path / "c.yaml")[-1] == "--resume"
    assert train_command(spec.runs[3], tmp_path / "c.yaml")[-2:] == ["--output-dir", str(spec.runs[3].run_dir)]
    result = rlvr("ablate", str(write_spec(tmp_path)), "--emit", "commands")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3  # the finished run is not emitted
    assert [line.endswith("--resume") for line in lines] == [True, True, False]
    assert not any("--overwrite" in line or "--discard-run" in line for line in lines)  # nothing is ever deleted
    assert (spec.runs[0].run_dir / "summary.json").is_file()


def test_a_folder_that_is_no_run_is_not_resumed_and_the_dry_run_says_why(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    stranger = spec.runs[0].run_dir
    stranger.mkdir(parents=True)
    (stranger / "notes.txt").write_text("mine")
    assert "--resume" not in train_command(spec.runs[0], tmp_path / "c.yaml")
    result = rlvr("ablate", str(write_spec(tmp_path)), "--dry-run", "--only", "acc")
    assert result.returncode == 2
    assert f"invalid  {stranger}: output directory {stranger} already exists and holds no rlvr run" in result.stdout
    assert (stranger / "notes.txt").read_text() == "mine"


def test_slurm_script(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    text = slurm_script(spec, {r.label: tmp_path / f"{r.label}.yaml" for r in spec.runs})
    assert "#SBATCH --array=0-3" in text and "rlvr train" in text and "summary.json" in text
    assert '[ -f "$DIR/config.yaml" ] && EXTRA=(--resume)' in text and "--overwrite" not in text


def test_emit_slurm_says_how_to_submit_and_what_it_runs(tmp_path):
    path = write_spec(tmp_path)
    spec = load_spec(path)
    fake_run(spec.runs[0].run_dir, 0.8, [0.5] * 20)
    started_run(spec.runs[1].run_dir, checkpoint=2)
    result = rlvr("ablate", str(path), "--emit", "slurm")
    assert result.returncode == 0, result.stderr
    script = tmp_path / "runs" / "abl.sbatch"
    out = result.stdout.splitlines()
    assert out[0].startswith(f"wrote {script}: a slurm job array of 4 tasks (2 variants x 2 seeds)")
    assert "3 to run" in out[0]
    configs = tmp_path / "runs" / "configs"
    assert out[1] == "    0  acc__s0: finished, exits at once"
    assert out[2] == f"    1  acc__s1: rlvr train {configs}/acc__s1.yaml --output-dir {spec.runs[1].run_dir} --resume"
    assert out[4] == f"    3  acc+fmt__s1: rlvr train {configs}/acc+fmt__s1.yaml --output-dir {spec.runs[3].run_dir}"
    assert f"submit with: sbatch {script}" in out and f"then: rlvr report {path}" in out
    assert script.read_text().startswith("#!/bin/bash")


INVALID_SPEC = """
name: bad
base: {base}
seeds: [0, 1]
output_dir: {out}
variants:
  fine: {{}}
  no-data: {{data.source: {out}/missing.jsonl}}
  batch: {{grpo.top_k: -1}}
  no-model: {{model.name_or_path: ./no-such-model}}
"""


def test_dry_run_checks_each_variant_as_train_dry_run_would(tmp_path):
    path = write_spec(tmp_path, INVALID_SPEC)
    spec = load_spec(path)
    started_run(spec.runs[1].run_dir, checkpoint=4)  # fine__s1 stopped at a checkpoint
    result = rlvr("ablate", str(path), "--dry-run")
    assert result.returncode == 2
    lines = [x for x in result.stdout.splitlines() if not x.startswith("[INFO]")]  # transformers, WANDB_MODE=offline
    runs = tmp_path / "runs"
    assert lines[0] == f"pending  {runs}/fine__s0"
    assert lines[1] == f"pending  {runs}/fine__s1 (resumes from checkpoint-4)"
    assert lines[2] == f"invalid  {runs}/no-data__s0: data.source: no such file '{runs}/missing.jsonl'"
    assert lines[4] == (
        f"invalid  {runs}/batch__s0: grpo: the rollouts' sampling settings fail in transformers: `top_k` has to be a "
        "strictly positive integer, but is -1"
    )
    assert lines[6] == f"invalid  {runs}/no-model__s0: model.name_or_path: no such directory './no-such-model'"
    assert lines[-1] == "bad: 4 variants x 2 seeds, 8 to run, 6 invalid"
    assert result.stderr.strip() == (
        "rlvr: error: 6 run(s) would fail at once (variants: no-data, batch, no-model); the reasons are listed above"
    )
    assert not (runs / "configs").exists()  # a dry run writes nothing


def test_an_input_error_skips_the_variants_other_seeds_and_the_summary_says_why(tmp_path):
    body = (
        "name: bad\nbase: {base}\nseeds: [0, 1, 2]\noutput_dir: {out}\n"
        "variants: {{no-data: {{data.source: {out}/missing.jsonl}}}}\n"
    )
    result = rlvr("ablate", str(write_spec(tmp_path, body)))
    assert result.returncode == 2
    runs = tmp_path / "runs"
    out = result.stdout.splitlines()
    error = f"rlvr: error: data.source: no such file '{runs}/missing.jsonl'"
    assert out[1] == f"FAILED (2)  no-data__s0  (log: {runs}/logs/no-data__s0.log)"
    assert out[2] == "    " + error
    assert out[3] == "    an input error (exit 2) fails every seed alike: no-data's seeds not started yet are skipped"
    assert out[4] == "skipped  no-data__s1: no-data__s0 failed with exit 2, an input error"
    assert out[5] == "skipped  no-data__s2: no-data__s0 failed with exit 2, an input error"
    assert out[6:] == [
        "3 of 3 runs did not finish:",
        f"  no-data__s0  FAILED (2): {error}  (log: {runs}/logs/no-data__s0.log)",
        "  no-data__s1  skipped: no-data__s0 failed with exit 2, an input error",
        "  no-data__s2  skipped: no-data__s0 failed with exit 2, an input error",
    ]
    assert sorted(p.name for p in (runs / "logs").iterdir()) == ["no-data__s0.log"]  # one attempt, not three
    errors = [x for x in result.stderr.splitlines() if not x.startswith("[progress] ")]  # ablate's progress lines
    assert len(errors) == 1 and errors[0].startswith("rlvr: error: 1 run(s) failed, 2 skipped")


def test_a_crash_prints_the_end_of_its_log_and_other_seeds_still_run(tmp_path, monkeypatch, capsys):
    """A crash (not exit 2) may be one seed's bad luck: its reason is its log's last meaningful lines (no progress
    bars, no traceback carets) and the other seeds are tried."""
    import sys

    from rich.console import Console

    from rl.study import ablate

    spec = load_spec(write_spec(tmp_path))
    crash = (
        "import sys; print('eval before  50%|#####     | 1/2'); print('\\x1b[1mwarm-up\\x1b[0m ━━━━ step 3/10');"
        "sys.stderr.write('Traceback (most recent call last):\\n  File \"x.py\", line 1, in f\\n    g()\\n'"
        " '    ~^^\\nValueError: the grader broke\\n'); sys.exit(1)"
    )
    monkeypatch.setattr(ablate, "train_command", lambda run, config: [sys.executable, "-c", crash])
    files = {r.label: tmp_path / f"{r.label}.yaml" for r in spec.runs}
    runner = ablate.Runner(spec, files, dict(os.environ), Console(soft_wrap=True, markup=False))
    first, second = runner.one(spec.runs[0]), runner.one(spec.runs[1])
    assert first.state == second.state == "failed" and first.code == 1
    assert first.reason == 'File "x.py", line 1, in f\ng()\nValueError: the grader broke'
    printed = capsys.readouterr().out.splitlines()
    assert printed[:4] == [
        f"FAILED (1)  acc__s0  (log: {tmp_path}/runs/logs/acc__s0.log)",
        '    File "x.py", line 1, in f',
        "    g()",
        "    ValueError: the grader broke",
    ]
    ablate.summarize_failures([first, second], 4, Console(soft_wrap=True, markup=False))
    assert f"  acc__s1  FAILED (1): ValueError: the grader broke  (log: {tmp_path}/runs/logs/acc__s1.log)" in (
        capsys.readouterr().out.splitlines()
    )


@pytest.mark.parametrize(
    "text, code, reason",
    [
        ("loading\nrlvr: error: data.source: no such file 'x'\n", 2, "rlvr: error: data.source: no such file 'x'"),
        ("step 5\nrlvr: stopped: SIGTERM received: saved checkpoint-5\n", 75, "rlvr: stopped: SIGTERM received: "
         "saved checkpoint-5"),
        ("a\nb\n  c  \nd\n 40%|####  | 2/5\r 60%|######| 3/5\nwandb: syncing\n", 1, "b\nc\nd"),
        ("", 1, "exit code 1 with no output"),
        ("anything", -9, "killed by SIGKILL (out of memory?)"),
        ("anything", -15, "killed by SIGTERM"),
    ],
)  # fmt: skip
def test_failure_reason(text, code, reason):
    from rl.study.ablate import failure_reason

    assert failure_reason(text, code) == reason


def test_report_aggregates_exact_mean_and_std(tmp_path):
    root = tmp_path / "runs"
    fake_run(root / "a__s0", 0.70, [0.0] * 18 + [0.6, 0.8])
    fake_run(root / "a__s1", 0.80, [0.0] * 18 + [0.8, 1.0])
    fake_run(root / "a__s2", 0.90, [0.0] * 20)
    fake_run(root / "b__s0", 0.60, [0.2] * 20)
    (root / "b__s1").mkdir()  # unfinished: left out
    name, runs, _, _ = discover(root)
    groups = collect(runs)
    assert name == "runs" and sorted(groups) == ["a", "b"] and len(groups["a"]) == 3 and len(groups["b"]) == 1
    # final 10% of 20 steps = the last 2 steps
    assert [r["figures"]["mean_reward"] for r in groups["a"]] == pytest.approx([0.7, 0.9, 0.0])
    md = table(groups, ["accuracy_after", "mean_reward"])
    mean, std = statistics.fmean([0.7, 0.8, 0.9]), statistics.stdev([0.7, 0.8, 0.9])
    assert f"| a | 3 | {mean:.3f} ± {std:.3f} |" in md
    assert f"{statistics.fmean([0.7, 0.9, 0.0]):.3f} ± {statistics.stdev([0.7, 0.9, 0.0]):.3f}" in md
    assert "| b | 1 | 0.600 (n=1, no interval) | 0.200 (n=1, no interval) |" in md  # no "± 0.000" for one seed
    out = report(str(root), str(tmp_path / "report"))
    text = (out / "report.md").read_text()
    assert "4 finished runs (1 not finished, left out)" in text
    for png in ("curves.png", "accuracy.png"):
        assert (out / png).stat().st_size > 10_000


def test_report_without_finished_runs_is_an_error(tmp_path):
    (tmp_path / "v__s0").mkdir()
    with pytest.raises(RlvrError, match="none of the 1 runs"):
        report(str(tmp_path))


def test_report_shows_health_alerts_per_variant_and_per_run(tmp_path):
    root = tmp_path / "runs"
    alert = {"kind": "reward_hacking", "step": 40, "message": "length bonus rose 0.40 -> 0.51"}
    for name, alerts in [("hack__s0", [alert]), ("hack__s1", [alert | {"step": 38}]), ("clean__s0", [])]:
        fake_run(root / name, 0.5, [0.5] * 20)
        summary = json.loads((root / name / "summary.json").read_text())
        summary["health"] = {"alerts": alerts, "checked": ["reward_hacking"], "stopped_by": None}
        (root / name / "summary.json").write_text(json.dumps(summary))
    fake_run(root / "old__s0", 0.5, [0.5] * 20)  # a run from before run health: no "health" in its summary
    text = (report(str(root), str(tmp_path / "report")) / "report.md").read_text()
    first_table = text.split("95% confidence intervals")[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in first_table.splitlines() if line.startswith("| ")}
    assert rows["hack"].endswith("| reward_hacking (2/2) |")
    assert rows["clean"].endswith("| none |") and rows["old"].endswith("| – |")
    assert "## Run health" in text
    assert "- hack, seed 0: step 40 reward_hacking: length bonus rose 0.40 -> 0.51" in text
    assert "- hack, seed 1: step 38 reward_hacking:" in text


def test_report_json_has_intervals_and_comparisons_against_the_baseline(tmp_path):
    from scipy import stats as sp

    root = tmp_path / "runs"
    good, bad = [0.80, 0.84, 0.78], [0.52, 0.50, 0.55]
    for i, acc in enumerate(good):
        fake_run(root / f"correct__s{i}", acc, [0.5] * 20)
    for i, acc in enumerate(bad):
        fake_run(root / f"random__s{i}", acc, [0.5] * 20)
    for i in range(3):  # per-problem verdicts for the bootstrap: 256 problems, about `acc` of them right
        for variant, acc in (("correct", good[i]), ("random", bad[i])):
            folder = root / f"{variant}__s{i}" / "eval"
            folder.mkdir()
            rows = [{"correct": k < round(acc * 256)} for k in range(256)]
            (folder / "after.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = report(str(root), str(tmp_path / "report"))
    result = json.loads((out / "report.json").read_text())
    assert result["baseline"] == "correct"  # the first variant, by default
    entry = result["variants"]["correct"]["accuracy_after"]
    lo, hi = sp.t.interval(0.95, 2, loc=statistics.fmean(good), scale=sp.sem(good))
    assert entry["n"] == 3 and entry["ci95"] == pytest.approx([lo, hi])
    assert entry["run_se"] == pytest.approx([math.sqrt(a * (1 - a) / 256) for a in good])
    top = result["variants"]["correct"]  # the flat shape: the headline metric's figures at the top
    assert top["metric"] == "accuracy_after" and {k: top[k] for k in ("n", "mean", "std", "ci95")} == {
        k: entry[k] for k in ("n", "mean", "std", "ci95")
    }
    boot = entry["bootstrap_ci95"]  # problems x seeds, percentile: narrower than t with 2 df, around the mean
    assert boot[0] < statistics.fmean(good) < boot[1] and boot[1] - boot[0] < hi - lo
    (c,) = [c for c in result["comparisons"] if c["metric"] == "accuracy_after"]
    ref = sp.ttest_ind(bad, good, equal_var=False)
    assert c["variant"] == "random" and c["diff"] == pytest.approx(statistics.fmean(bad) - statistics.fmean(good))
    assert c["p"] == pytest.approx(ref.pvalue) and c["significant"] is True
    assert c["ci95"][1] < 0 and c["bootstrap_ci95"][1] < 0
    text = (out / "report.md").read_text()
    assert "Each variant against `correct`" in text and "| random | held-out accuracy | -0.283 |" in text
    assert f"| correct | 3 | {statistics.fmean(good):.3f} [{lo:.3f}, {hi:.3f}] |" in text  # the intervals table


def test_format_curve_only_when_every_run_logged_the_format_reward(tmp_path):
    root = tmp_path / "runs"
    for name in ("on__s0", "off__s0"):
        fake_run(root / name, 0.7, [0.5] * 20)
    first = report(str(root), str(tmp_path / "without"))
    assert not (first / "format.png").exists() and "format.png" not in (first / "report.md").read_text()
    for name in ("on__s0", "off__s0"):
        path = root / name / "metrics.jsonl"
        lines = [json.loads(x) | {"rewards/think_format/mean": 0.3} for x in path.read_text().splitlines()]
        path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    second = report(str(root), str(tmp_path / "with"))
    assert (second / "format.png").stat().st_size > 10_000 and "![format](format.png)" in (
        second / "report.md"
    ).read_text()


def test_mean_reward_of_differently_paid_variants_is_flagged(tmp_path):
    """A format bonus raises the summed reward by construction: the report says so instead of calling it a gain."""
    root = tmp_path / "runs"
    paid = {"base": "[{name: math_accuracy, weight: 1.0}, {name: think_format, weight: 0.0}]",
            "bonus": "[{name: math_accuracy, weight: 1.0}, {name: think_format, weight: 0.5}]",
            "same": "[{name: math_accuracy, weight: 1.0}]"}  # fmt: skip
    for variant, rewards in paid.items():
        for seed, bonus in enumerate((0.0, 0.1, 0.05)):
            offset = 0.5 if variant == "bonus" else 0.0
            fake_run(root / f"{variant}__s{seed}", 0.8, [0.6 + bonus + offset] * 20)
            (root / f"{variant}__s{seed}" / "config.yaml").write_text(f"rewards: {rewards}\n")
    result = json.loads((report(str(root), str(tmp_path / "r")) / "report.json").read_text())
    by = {(c["variant"], c["metric"]): c for c in result["comparisons"]}
    assert by[("bonus", "mean_reward")]["significant"] and "different rewards" in by[("bonus", "mean_reward")]["note"]
    assert "note" not in by[("same", "mean_reward")]  # a weight-0 reward is watched, not paid
    assert "note" not in by[("bonus", "accuracy_after")]


def test_only_runs_the_named_variants_and_names_an_unknown_one(tmp_path):
    path = write_spec(tmp_path)
    result = rlvr("ablate", str(path), "--only", "acc+fmt", "--emit", "commands")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all("acc+fmt__s" in line for line in lines)
    wrong = rlvr("ablate", str(path), "--only", "acc,nope", "--dry-run")
    assert (
        wrong.returncode == 2
        and "--only: no variant nope" in wrong.stderr
        and "variants: acc, acc+fmt" in wrong.stderr
    )


def test_report_reads_zero_std_share_over_the_whole_run_and_the_last_token_count(tmp_path):
    root = tmp_path / "runs"
    for name, shares in (("none__s0", [1.0, 0.5, 0.5, 0.0]), ("cur__s0", [0.5, 0.0, 0.0, 0.0])):
        fake_run(root / name, 0.7, [0.5] * 4, steps=4)
        path = root / name / "metrics.jsonl"
        lines = [
            json.loads(x) | {"frac_reward_zero_std": s, "tokens/generated": 100 * (i + 1)}
            for i, (x, s) in enumerate(zip(path.read_text().splitlines(), shares, strict=True))
        ]
        path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    groups = collect(discover(root)[1])
    assert groups["none"][0]["figures"]["frac_reward_zero_std"] == pytest.approx(0.5)
    assert groups["cur"][0]["figures"]["frac_reward_zero_std"] == pytest.approx(0.125)
    assert groups["cur"][0]["figures"]["generated_tokens"] == 400
    spec = write_spec(
        tmp_path,
        "name: z\nbase: {base}\nseeds: [0]\noutput_dir: {out}\nbaseline: none\n"
        "variants: {{none: {{}}, cur: {{curriculum: {{enabled: true}}}}}}\n"
        "metrics: [accuracy_after, frac_reward_zero_std, generated_tokens]\n",
    )
    out = report(str(spec), str(tmp_path / "report"))
    text = (out / "report.md").read_text()
    assert "zero-std groups (share, whole run)" in text and "![zero_std](zero_std.png)" in text
    assert (out / "zero_std.png").stat().st_size > 10_000


def with_metrics(run_dir, update):
    """Add keys to a fake run's metrics.jsonl lines: update(step) -> dict."""
    path = run_dir / "metrics.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(x | update(x["step"])) + "\n" for x in lines))


def test_report_lists_every_seeds_value_in_markdown_and_json(tmp_path):
    root = tmp_path / "runs"
    for seed, acc in enumerate([0.70, 0.80, 0.90]):
        fake_run(root / f"a__s{seed}", acc, [0.5] * 20)
    fake_run(root / "b__s4", 0.60, [0.2] * 20)
    out = report(str(root), str(tmp_path / "report"))
    text = (out / "report.md").read_text()
    per_seed = text.split("## Per seed")[1].split("##")[0]
    assert "| a | 0 | 0.700 |" in per_seed and "| a | 2 | 0.900 |" in per_seed and "| b | 4 | 0.600 |" in per_seed
    assert "## Held-out accuracy over training" not in text  # no evaluation during training: before/after only
    assert "![heldout](heldout.png)" in text
    result = json.loads((out / "report.json").read_text())
    assert result["variants"]["a"]["accuracy_after"]["per_seed"] == [
        {"seed": 0, "value": 0.7},
        {"seed": 1, "value": 0.8},
        {"seed": 2, "value": 0.9},
    ]
    one = result["variants"]["b"]["accuracy_after"]
    assert one["n"] == 1 and one["ci95"] is None and one["per_seed"] == [{"seed": 4, "value": 0.6}]
    assert "| b | 1 | 0.600 (n=1, no interval) |" in text.split("95% confidence intervals")[1]  # the intervals table


def test_heldout_accuracy_over_training_from_before_periodic_and_after(tmp_path):
    root = tmp_path / "runs"
    for seed, (mid, end) in enumerate([(0.6, 0.8), (0.7, 0.9)]):
        fake_run(root / f"a__s{seed}", end, [0.5] * 20)
        with_metrics(root / f"a__s{seed}", lambda step, mid=mid: {"eval/pass@1": mid} if step == 10 else {})
    groups = collect(discover(root)[1])
    assert [(p["when"], p["step"]) for p in groups["a"][0]["heldout"]] == [
        ("before", 0),
        ("during", 10),
        ("after", 20),
    ]
    assert [p["pass@1"] for p in groups["a"][1]["heldout"]] == [0.5, 0.7, 0.9]
    out = report(str(root), str(tmp_path / "report"))
    assert (out / "heldout.png").stat().st_size > 10_000
    text = (out / "report.md").read_text()
    assert "![heldout](heldout.png)" in text and "## Held-out accuracy over training" in text
    assert "| variant | seed | step 0 | step 10 | step 20 |" in text and "| a | 1 | 0.500 | 0.700 | 0.900 |" in text
    saved = json.loads((out / "report.json").read_text())["variants"]["a"]["heldout_over_training"]
    assert saved[0]["seed"] == 0 and [p["pass@1"] for p in saved[0]["points"]] == [0.5, 0.6, 0.8]


def test_runs_on_a_token_budget_are_plotted_against_generated_tokens(tmp_path):
    from rl.study.report import heldout_series, metric_series, on_grid, x_axis

    root = tmp_path / "runs"
    for seed, per_step in enumerate([100, 150]):
        fake_run(root / f"a__s{seed}", 0.8, [0.1 * (i % 3) for i in range(20)])
        with_metrics(root / f"a__s{seed}", lambda step, k=per_step: {"tokens/generated": k * step})
        (root / f"a__s{seed}" / "config.yaml").write_text("budget: {max_generated_tokens: 2000}\n")
    groups = collect(discover(root)[1])
    assert x_axis(groups) == "tokens"
    xs, ys = metric_series(groups["a"][1], CURVE, "tokens", window=1)
    assert xs[:3] == [150.0, 300.0, 450.0] and ys[:3] == pytest.approx([0.0, 0.1, 0.2])
    assert heldout_series(groups["a"][1], "tokens") == ([0.0, 3000.0], [0.5, 0.8])  # before at 0, after at the end
    grid, rows = on_grid([metric_series(r, CURVE, "tokens", 1) for r in groups["a"]], "tokens")
    assert grid[0] == 100.0 and grid[-1] == 3000.0 and len(grid) == 200
    assert math.isnan(rows[1][0]) and math.isnan(rows[0][-1])  # outside a seed's own range: no value
    assert json.loads((report(str(root), str(tmp_path / "r")) / "report.json").read_text())["x_axis"] == "tokens"
    (root / "a__s1" / "config.yaml").write_text("budget: {max_generated_tokens: null}\n")
    assert x_axis(collect(discover(root)[1])) == "steps"  # not every run on a budget: steps


CURVE = "rewards/math_accuracy/mean"


def test_curves_band_is_the_95_percent_t_interval_and_seeds_are_thin_lines():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats as sp

    from rl.study.report import _legend, draw_band

    series = [([1, 2, 3], [0.2, 0.4, 0.6]), ([1, 2, 3], [0.4, 0.4, 0.9]), ([1, 2], [0.3, 0.7])]
    fig, ax = plt.subplots()
    draw_band(ax, series, "steps", "C0", "v (n=3)")
    thin, mean = ax.lines[:3], ax.lines[3]
    assert all(line.get_linewidth() < 1 for line in thin) and mean.get_linewidth() == 2
    # the mean and the band only where every seed has a value (steps 1 and 2)
    assert list(mean.get_xdata()) == [1, 2] and list(mean.get_ydata()) == pytest.approx([0.3, 0.5])
    values = [0.4, 0.4, 0.7]  # step 2
    lo, hi = sp.t.interval(0.95, 2, loc=statistics.fmean(values), scale=sp.sem(values))
    ys = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert max(ys) == pytest.approx(hi) and min(ys) == pytest.approx(
        sp.t.interval(0.95, 2, 0.3, sp.sem([0.2, 0.4, 0.3]))[0]
    )
    _legend(ax, {"v": [{}, {}, {}]})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["v (n=3)", "thin: one seed each", "band: 95% t-interval of the mean over seeds (t, n - 1 df)"]
    plt.close(fig)
    fig, ax = plt.subplots()
    draw_band(ax, series[:1], "steps", "C0", "one (n=1)")
    assert not ax.collections  # one seed: no band
    plt.close(fig)


TINY_SPEC = """
name: tiny
base: {base}
seeds: [0]
output_dir: {out}
overrides:
  data.train_size: 256
  data.eval_size: 16
  warmup.max_steps: 10
  warmup.check_every: 10
  warmup.check_size: 16
  grpo.max_steps: 2
  grpo.per_device_train_batch_size: 16
  grpo.num_generations: 4
  eval.batch_size: 16
  logging.wandb_mode: disabled
  logging.backends: []
variants:
  only: {{}}
"""


def test_a_run_stopped_before_its_first_checkpoint_resumes_on_its_warm_start(tmp_path):
    """`rlvr ablate` continues an unfinished run with --resume: without a checkpoint, training restarts from step 0
    on the run's saved warm start (not warmed up again, its held-out 'before' kept); nothing is deleted."""
    import shutil

    path = write_spec(tmp_path, TINY_SPEC)
    first = rlvr("ablate", str(path))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    run = tmp_path / "runs" / "only__s0"
    # what the run held when it stopped before its first checkpoint
    for name in ("summary.json", "eval/after.jsonl"):
        (run / name).unlink()
    for name in ("final", "checkpoints"):
        shutil.rmtree(run / name, ignore_errors=True)
    weights = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (run / "start").iterdir()}
    state = json.loads((run / "state.json").read_text())
    log = tmp_path / "runs" / "logs" / "only__s0.log"
    earlier = log.stat().st_size
    assert train_command(load_spec(path).runs[0], tmp_path / "c.yaml")[-1] == "--resume"
    second = rlvr("ablate", str(path))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"finished  only__s0  (log: {log})" in second.stdout
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (run / "start").iterdir()} == weights
    assert json.loads((run / "state.json").read_text()) == state  # the warm-up and 'before' of the first start
    first_attempt, attempt = log.read_bytes()[:earlier].decode(), log.read_bytes()[earlier:].decode()
    assert "before GRPO:" in first_attempt and "warm-up" in first_attempt
    assert "before GRPO:" not in attempt and "warm-up" not in attempt
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]  # trained from step 0 again, the old lines replaced
    assert json.loads((run / "summary.json").read_text())["steps"] == 2


def test_the_report_is_never_written_into_a_run(tmp_path):
    root = tmp_path / "runs"
    fake_run(root / "a__s0", 0.70, [0.5] * 20)
    fake_run(root / "a__s1", 0.80, [0.6] * 20)
    (root / "a__s0" / "config.yaml").write_text("name: a\n")  # a training run: config.yaml beside its summary
    before = sorted(p.name for p in (root / "a__s0").iterdir())
    for out in (root / "a__s0", root / "a__s0" / "final"):
        with pytest.raises(RlvrError, match="rlvr never writes over a training run's files"):
            report(str(root), str(out))
    assert sorted(p.name for p in (root / "a__s0").iterdir()) == before
    assert (report(str(root), None) / "report.md").is_file()  # beside the runs, as by default
