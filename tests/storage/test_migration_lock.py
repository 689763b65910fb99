"""Instances starting together on a fresh PostgreSQL database both migrate and start."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import db as database
from tests.auxil.environment import postgres_schema

ROUNDS = 2
# One instance's start-up: load everything, wait for the common start signal, migrate.
# Processes, not threads: Alembic's `context` is process-global.
INSTANCE = """
import pathlib, sys, time
from storage import db
engine = db.make_engine(sys.argv[1])
go = pathlib.Path(sys.argv[2])
pathlib.Path(sys.argv[3]).touch()
while not go.exists():
    time.sleep(0.001)
db.upgrade(engine)
"""


def _upgrade_together(url: str, workdir: Path, instances: int) -> list[str]:
    """Start `instances` processes that migrate at the same moment; their failures."""
    go = workdir / "go"
    ready = [workdir / f"ready-{index}" for index in range(instances)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", INSTANCE, url, str(go), str(flag)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    failures = []
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            failures.append(stderr.strip().splitlines()[-1] if stderr.strip() else "no output")
    return failures


@pytest.mark.postgres
def test_two_instances_upgrading_a_fresh_postgres_schema_at_once_both_succeed(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    for round_number in range(ROUNDS):  # the race is timing-dependent: several chances
        workdir = tmp_path / str(round_number)
        workdir.mkdir()
        with postgres_schema(postgres_admin_url) as url:
            failures = _upgrade_together(url, workdir, instances=2)

            assert failures == []
            engine = database.make_engine(url)
            head = database.current_revision(engine)
            engine.dispose()
            assert head is not None
