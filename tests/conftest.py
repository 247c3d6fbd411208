import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory):
    """Tests never touch the user's cache or wandb account, and never reach the network."""
    os.environ.setdefault("RLVR_CACHE_DIR", str(tmp_path_factory.mktemp("rlvr-cache")))
    os.environ["WANDB_MODE"] = "offline"
    os.environ.pop("WANDB_API_KEY", None)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for key in ("RLVR_TRACKIO_DIR", "TRACKIO_SPACE_ID", "TRACKIO_SERVER_URL", "TRACKIO_WEBHOOK_URL"):
        os.environ.pop(key, None)  # trackio stores stay inside each test's run directory, nothing leaves it
    os.environ["TRACKIO_DIR"] = str(tmp_path_factory.mktemp("trackio"))  # a test importing trackio itself


def rlvr(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the CLI the way a user does (`python -m rl ...`) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "rl", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def one_line_error(capsys, argv: list[str], *fragments: str) -> None:
    """`rlvr ARGV`, in this process: exit code 2 and one line `rlvr: error: ...` on stderr holding every fragment."""
    from rl.cli import main

    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("rlvr: error: "), err
    for fragment in fragments:
        assert fragment in err[0], err[0]
