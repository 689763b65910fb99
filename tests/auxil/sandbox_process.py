"""Start `churnbot …` as a real process in a clean environment and read its address line."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ADDRESS = re.compile(r"open (http://127\.0\.0\.1:\d+/)")


def clean_env(database_url: str | None, **extra: str) -> dict[str, str]:
    """The environment minus every churnbot setting, plus free ports and the database (none:
    DATABASE_URL unset, as a newcomer runs it)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "SLACK_", "EVENTS_API", "SANDBOX_", "HTTP_"))
        and key not in ("DATABASE_URL", "LOG_LEVEL", "SECRET_KEY", "QUIET_HOURS")
    }
    env.update(HTTP_PORT="0", SANDBOX_PORT="0")
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


def churnbot_command() -> list[str]:
    return [sys.executable, "-c", "from bot.cli import main; main()"]


@contextmanager
def running(args: list[str], *, cwd: Path, env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """Run `churnbot ARGS`; yield the page address and the stdout lines read until it."""
    process = subprocess.Popen(
        [*churnbot_command(), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        url = None
        assert process.stdout is not None
        while url is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                raise AssertionError(
                    f"no address line; stdout {lines!r}; stderr {_stderr(process)[-2000:]}"
                )
            ready, _, _ = select.select([process.stdout], [], [], min(remaining, 0.5))
            if ready:
                line = process.stdout.readline()
                lines.append(line)
                match = ADDRESS.search(line)
                url = match.group(1) if match else None
        yield url, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _stderr(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.kill()
    _, err = process.communicate(timeout=10)
    return err or ""
