"""Delivery and answer throughput through the real stack, against the Bot API stand-in.

`churnbot run` runs as a child process (as in production); the Telegram stand-in runs in
this process and counts what arrives. Three measurements in one run:

1. N due invitations with Telegram's limits enforced by the stand-in (30/s overall,
   1/s per chat) and churnbot's pacing on: sustained messages/s and 429s seen.
2. The same with limits off (pacing off): messages/s.
3. Incoming answers: M customers tap a reason button, then type their text; each is
   stored, classified and answered. Compared with a trivial PTB echo bot on the same stack
   answering M messages, and with the same echo bot editing each reply as well: an answer
   makes two Bot API calls (a tap: answerCallbackQuery and editMessageText; a text:
   editMessageText and sendMessage), so that rate is the ceiling for any answer.

With `--instances N` (PostgreSQL only), measurement 1 runs N `churnbot run` processes on
one database, started together (webhook mode, as a cluster would run): their combined rate,
the busiest one-second window and the 429s the stand-in saw. `--only-limited` skips the
rest.

Usage: python benchmarks/delivery.py [--count 10000] [--answers 2000] [--skip-limited]
       [--database-url URL] [--instances N] [--only-limited]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage.db import make_engine, upgrade  # noqa: E402
from tests.auxil.factories import seed_due_invitations  # noqa: E402
from tests.auxil.telegram_api import FakeTelegram, TelegramServer  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"


def start_bot(
    base_url: str, database_url: str, workdir: Path, *, source: Path | None = None, **env: str
) -> subprocess.Popen:
    """Start `python -m bot run`; with `source`, the bot runs that source tree's code (first
    on PYTHONPATH, and the working directory) instead of the installed checkout's."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    if source is not None:
        path = [str(source), *filter(None, [environment.get("PYTHONPATH")])]
        environment["PYTHONPATH"] = os.pathsep.join(path)
    environment.update(
        DATABASE_URL=database_url,
        SECRET_KEY="bench-secret",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=base_url,
        QUIET_HOURS="",
        HTTP_PORT="0",
        DELIVERY_INTERVAL_SECONDS="0.2",
        LOG_LEVEL="WARNING",
        PTB_TIMEDELTA="1",
        **env,
    )
    log = (workdir / "bot.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=workdir if source is None else source,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_sends(
    fake: FakeTelegram, total: int, timeout: float, method: str = "sendMessage"
) -> None:
    """Poll a cheap counter outside the stand-in's lock, so waiting never slows it down."""
    deadline = time.monotonic() + timeout
    while fake.call_count(method) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {fake.call_count(method)} of {total} {method} calls")
        time.sleep(0.2)


def sends(fake: FakeTelegram, marker: str, method: str = "sendMessage") -> list[float]:
    return [at for _, params, at in fake.calls(method) if marker in str(params.get("text", ""))]


def rate(times: list[float], delivered: int | None = None) -> float:
    """Messages per second between the first and the last request; `delivered` counts only
    the successful ones (`times` includes requests answered with 429)."""
    count = len(times) if delivered is None else delivered
    return (count - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def fresh_database(args: argparse.Namespace, workdir: Path, name: str) -> str:
    if args.database_url:
        engine = make_engine(args.database_url)
        with engine.begin() as connection:
            for table in (
                "label_correction",
                "answer_classification",
                "answer",
                "survey_invitation",
                "event",
                "customer",
            ):
                connection.exec_driver_sql(f"DELETE FROM {table}")
        engine.dispose()
        return args.database_url
    return f"sqlite:///{workdir / name}.db"


def busiest_second(times: list[float]) -> int:
    """The most requests the stand-in saw in any one-second window."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def deliver(
    args: argparse.Namespace, workdir: Path, limited: bool, *, source: Path | None = None
) -> dict[str, float]:
    database_url = fresh_database(args, workdir, f"deliver-{limited}")
    engine = make_engine(database_url)
    upgrade(engine)
    seed_due_invitations(engine, args.count, chat_base=1_000_000)
    engine.dispose()
    with TelegramServer(FakeTelegram(TOKEN)) as server:
        fake = server.fake
        if limited:
            fake.enforce_limits(global_per_second=30, per_chat_per_second=1)
        env = {"DELIVERY_BATCH": "200"}
        if not limited:
            env.update(TELEGRAM_RATE_LIMIT="false", DELIVERY_BATCH="1000")
        instances = args.instances if limited else 1
        if instances > 1:
            env.update(TELEGRAM_WEBHOOK_URL="https://bot.example.test")
        bots = []
        for n in range(instances):
            directory = workdir / f"instance-{n}"
            directory.mkdir(exist_ok=True)
            bots.append(start_bot(server.base_url, database_url, directory, source=source, **env))
        try:
            wait_for_sends(fake, args.count, timeout=args.count / 5 + 60)
        finally:
            for bot in bots:
                stop(bot)
        times = sends(fake, "main reason")
        delivered = sum("main reason" in m.get("text", "") for m in fake.sent_messages())
        return {
            "messages": delivered,
            "per_second": rate(times, delivered),
            "429s": fake.count_429,
            "busiest": busiest_second([at for _, _, at in fake.calls("sendMessage")]),
        }


def answers(
    args: argparse.Namespace, workdir: Path, run: int, *, source: Path | None = None
) -> dict[str, float]:
    database_url = fresh_database(args, workdir, f"answers-{run}")
    engine = make_engine(database_url)
    upgrade(engine)
    seed_due_invitations(engine, args.answers, chat_base=2_000_000)
    engine.dispose()
    chats = [2_000_000 + n for n in range(args.answers)]
    with TelegramServer(FakeTelegram(TOKEN)) as server:
        fake = server.fake
        bot = start_bot(
            server.base_url, database_url, workdir, source=source, TELEGRAM_RATE_LIMIT="false"
        )
        try:
            wait_for_sends(fake, args.answers, timeout=300)
            questions = {m["chat"]["id"]: m for m in fake.sent_messages()}
            for chat in chats:
                message = questions[chat]
                data = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                fake.push_callback(chat, message["message_id"], data)
            wait_for_sends(fake, args.answers, timeout=300, method="editMessageText")
            for chat in chats:
                fake.push_message(chat, "Too expensive for what we use, sadly 💸")
            wait_for_sends(fake, 2 * args.answers, timeout=300)
            tap_times = sends(fake, "Anything else", method="editMessageText")
            text_times = sends(fake, "Thank you for telling us")
        finally:
            stop(bot)
    return {"taps_per_second": rate(tap_times), "texts_per_second": rate(text_times)}


def echo(args: argparse.Namespace, calls: int = 1) -> float:
    """Updates/s of the echo bot; with `calls=2` it edits each reply too (timed by the edits)."""
    method = "sendMessage" if calls == 1 else "editMessageText"
    with TelegramServer(FakeTelegram(TOKEN)) as server:
        fake = server.fake
        bot = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "echo_bot.py"),
                server.base_url,
                TOKEN,
                str(calls),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            fake.wait_for(lambda f: f.call_count("getUpdates") > 0, timeout=30)
            for n in range(args.answers):
                fake.push_message(3_000_000 + n, f"echo {n}")
            wait_for_sends(fake, args.answers, timeout=300, method=method)
            times = [at for _, _, at in fake.calls(method)]
        finally:
            stop(bot)
    return rate(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--answers", type=int, default=2_000)
    parser.add_argument("--skip-limited", action="store_true")
    parser.add_argument("--database-url")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--only-limited", action="store_true")
    args = parser.parse_args()
    if args.instances > 1 and not args.database_url:
        parser.error("--instances above 1 needs --database-url (PostgreSQL): SQLite is single")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, database: {args.database_url or 'SQLite (WAL)'}"
    )
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        if not args.skip_limited:
            limited = deliver(args, workdir, limited=True)
            print(
                f"delivery, limits on : {limited['messages']:.0f} messages, "
                f"{limited['per_second']:.1f} messages/s sustained, {limited['429s']:.0f} x 429, "
                f"busiest second {limited['busiest']:.0f}, {args.instances} instance(s)"
            )
        if args.only_limited:
            return
        unlimited = deliver(args, workdir, limited=False)
        print(
            f"delivery, limits off: {unlimited['messages']:.0f} messages, "
            f"{unlimited['per_second']:.1f} messages/s"
        )
        echo_rates = [echo(args) for _ in range(3)]
        two_call_rates = [echo(args, calls=2) for _ in range(3)]
        answer_runs = [answers(args, workdir, run) for run in range(3)]
    echo_rate = statistics.median(echo_rates)
    taps = statistics.median(run["taps_per_second"] for run in answer_runs)
    texts = statistics.median(run["texts_per_second"] for run in answer_runs)
    two_calls = statistics.median(two_call_rates)
    print(f"echo bot            : {echo_rate:.0f} updates/s (median of 3)")
    print(
        f"echo bot, 2 calls   : {two_calls:.0f} updates/s (median of 3), ratio "
        f"{two_calls / echo_rate:.2f} (the ceiling for answers: each makes two calls)"
    )
    print(
        f"survey taps         : {taps:.0f} answers/s (median of 3), ratio {taps / echo_rate:.2f}"
    )
    print(
        f"survey texts        : {texts:.0f} answers/s (median of 3), ratio {texts / echo_rate:.2f}"
    )


if __name__ == "__main__":
    main()
