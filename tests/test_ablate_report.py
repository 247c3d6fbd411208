"""Ablation specs (validation, planning, skipping finished runs, emitted commands) and report aggregation."""

import json
import math
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


def test_finished_runs_are_skipped_and_partial_runs_resume_or_restart(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    fake_run(spec.runs[0].run_dir, 0.8, [0.5] * 20)
    assert [r.done for r in spec.runs] == [True, False, False, False]
    partial = spec.runs[1].run_dir
    (partial / "checkpoints" / "checkpoint-60").mkdir(parents=True)
    (partial / "checkpoints" / "checkpoint-60" / "trainer_state.json").write_text("{}")
    assert "--resume" in train_command(spec.runs[1], tmp_path / "c.yaml")
    (spec.runs[2].run_dir).mkdir(parents=True)
    (spec.runs[2].run_dir / "config.yaml").write_text("x")
    assert "--overwrite" in train_command(spec.runs[2], tmp_path / "c.yaml")
    assert train_command(spec.runs[3], tmp_path / "c.yaml")[-2:] == ["--output-dir", str(spec.runs[3].run_dir)]
    result = rlvr("ablate", str(write_spec(tmp_path)), "--emit", "commands")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 3  # the finished run is not emitted


def test_slurm_script(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    text = slurm_script(spec, {r.label: tmp_path / f"{r.label}.yaml" for r in spec.runs})
    assert "#SBATCH --array=0-3" in text and "rlvr train" in text and "summary.json" in text


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
    assert "| b | 1 | 0.600 ± 0.000 |" in md
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
