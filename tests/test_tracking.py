"""Weights & Biases starts as rlvr asks (rl/tracking.py) and prints only warnings that say something."""

import pytest


def test_an_offline_wandb_run_is_unseen_while_trl_writes_its_model_card(tmp_path, capfd):
    """TRL's model card reads `wandb.run.url`, which warns on an offline run at every checkpoint; inside
    `offline_run_unseen` it is not read, and wandb's other warnings still show."""
    wandb = pytest.importorskip("wandb")

    from rl.tracking import offline_run_unseen

    run = wandb.init(mode="offline", dir=str(tmp_path), project="t", settings=wandb.Settings(console="off"))
    try:
        capfd.readouterr()
        assert run.url is None  # what TRL would read: the warning this test guards against
        assert "URL not available in offline run" in capfd.readouterr().err
        with offline_run_unseen():
            assert wandb.run is None  # TRL then writes no URL, as the offline run had none
            wandb.termwarn("a real warning")
        assert wandb.run is run
        err = capfd.readouterr().err
        assert "a real warning" in err and "URL not available" not in err
    finally:
        run.finish()
    with offline_run_unseen():  # no run: nothing to hide
        assert wandb.run is None
