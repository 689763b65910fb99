"""Memory of `churnbot run` while it works through a backlog waiting in Telegram.

The Telegram stand-in runs in this process; N updates (unknown commands from a few hundred
chats, each answered with the help text) wait in it before the bot starts, as after an
outage. `churnbot run` (polling, SQLite, pacing off so the handlers are as fast as they
get) starts as a child process; its resident memory is sampled from /proc every 50 ms
until every update has been answered. The same bot started on an empty queue gives the
baseline. Reported: baseline and peak RSS, the growth, updates/s, and whether every update
was answered exactly once and confirmed.

Usage: python benchmarks/backlog.py [--updates 50000] [--chats 500]
Run it against another checkout with PYTHONPATH=that/checkout to compare.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.delivery import TOKEN, start_bot, stop  # noqa: E402
from tests.auxil.telegram_api import FakeTelegram, TelegramServer  # noqa: E402


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of the process in KiB: now and at its peak."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def run(updates: int, chats: int, workdir: Path) -> dict[str, float]:
    with TelegramServer(FakeTelegram(TOKEN)) as server:
        fake = server.fake
        for n in range(updates):
            fake.push_message(5_000_000 + n % chats, "/frobnicate")
        database_url = f"sqlite:///{workdir / f'backlog-{updates}.db'}"
        bot = start_bot(server.base_url, database_url, workdir, TELEGRAM_RATE_LIMIT="false")
        peak = 0
        started = time.monotonic()
        try:
            while fake.call_count("getUpdates") == 0:
                time.sleep(0.05)
            first_poll = time.monotonic()
            while fake.call_count("sendMessage") < updates:
                if bot.poll() is not None:
                    raise RuntimeError("churnbot exited; see bot.log")
                if time.monotonic() - started > updates / 50 + 60:
                    raise RuntimeError(f"only {fake.call_count('sendMessage')} answered")
                peak = max(peak, rss_kib(bot.pid)[1])
                time.sleep(0.05)
            finished = time.monotonic()
            if updates == 0:
                time.sleep(2.0)  # idle after start-up
            now, high = rss_kib(bot.pid)
            peak = max(peak, high)
        finally:
            fake.release_polls()
            stop(bot)
        answered = Counter(p["chat_id"] for _, p, _ in fake.calls("sendMessage"))
        expected = Counter(5_000_000 + n % chats for n in range(updates))
        return {
            "rss_mib": now / 1024,
            "peak_mib": peak / 1024,
            "per_second": updates / (finished - first_poll) if updates else 0.0,
            "exactly_once": answered == expected,
            "left_in_telegram": fake.pending_updates(),
            "largest_limit": max(
                (p.get("limit", 100) for _, p, _ in fake.calls("getUpdates")), default=0
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=50_000)
    parser.add_argument("--chats", type=int, default=500)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, churnbot from: {os.environ.get('PYTHONPATH') or ROOT}"
    )
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        idle = run(0, args.chats, workdir)
        print(f"empty queue   : RSS {idle['rss_mib']:.0f} MiB, peak {idle['peak_mib']:.0f} MiB")
        backlog = run(args.updates, args.chats, workdir)
    print(
        f"{args.updates} backlog: peak RSS {backlog['peak_mib']:.0f} MiB "
        f"(+{backlog['peak_mib'] - idle['peak_mib']:.0f} MiB over the empty queue), "
        f"RSS at the end {backlog['rss_mib']:.0f} MiB, {backlog['per_second']:.0f} updates/s, "
        f"each answered exactly once: {backlog['exactly_once']}, "
        f"left unconfirmed: {backlog['left_in_telegram']}, "
        f"largest getUpdates limit: {backlog['largest_limit']}"
    )


if __name__ == "__main__":
    main()
