"""FakeTelegram: the Bot API stand-in as tests, benchmarks and the sandbox drive it.

A user's side (pushing messages and button presses), what the bot did (its messages,
calls, answers), waiting for it, and the faults to inject; the HTTP app is `self.app`.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

from bot.sandbox.telegram_api.endpoints import build_app
from bot.sandbox.telegram_api.faults import Faults
from bot.sandbox.telegram_api.state import BotApiState, Call
from bot.sandbox.telegram_api.wire import utf16_len
from bot.sandbox.waiting import poll_until


class FakeTelegram(BotApiState):
    """State and ASGI app of a fake Bot API; ``self.app`` serves ``/bot{token}/{method}``."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "churnbot_test_bot",
        bot_first_name: str = "Churnbot",
    ) -> None:
        super().__init__(token, bot_username=bot_username, bot_first_name=bot_first_name)
        self.faults = Faults(self.cond)
        self.app = build_app(self, self.faults)

    # --- a user's side ----------------------------------------------------------------------

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        first_name: str = "Ann",
        language_code: str = "en",
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a user's text message; a leading /command gets its bot_command entity."""
        with self.cond:
            self._chat_names[chat_id] = first_name
            user_id = chat_id if user_id is None else user_id
            user = self._user(user_id, first_name, language_code)
            message: dict[str, Any] = {
                "message_id": self._next_message_id(chat_id),
                "date": int(time.time()),
                "chat": self._chat(chat_id),
                "from": user,
                "text": text,
            }
            if text.startswith("/"):
                length = utf16_len(text.split(maxsplit=1)[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
            return self._enqueue({"message": message})

    def push_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        language_code: str = "en",
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a button press on a message the bot sent; ``data`` may be anything (forged)."""
        with self.cond:
            message = self._messages.get((chat_id, message_id))
            if message is None:
                raise LookupError(f"the bot has no message {message_id} in chat {chat_id}")
            query_id = f"{self.bot_user['id']}{next(self._query_ids):08d}"
            self._open_queries.add(query_id)
            user_id = chat_id if user_id is None else user_id
            first_name = self._chat_names.get(chat_id, "Ann")
            query = {
                "id": query_id,
                "from": self._user(user_id, first_name, language_code),
                "message": copy.deepcopy(message),
                "chat_instance": f"{chat_id}{self.bot_user['id']}",
                "data": data,
            }
            return self._enqueue({"callback_query": query})

    def expire_callback_queries(self) -> None:
        """Forget every open callback query, as Telegram does after a while: answering one
        now gets 400 "query is too old" (what a redelivered button update meets)."""
        with self.cond:
            self._open_queries.clear()

    def pending_updates(self) -> int:
        """Count the updates queued and not yet confirmed by an offset."""
        with self.cond:
            return len(self._updates)

    # --- test side: what the bot did ------------------------------------------------------

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The bot's messages as they stand now (edits applied, deleted ones gone)."""
        with self.cond:
            return [
                copy.deepcopy(m)
                for (cid, _), m in self._messages.items()
                if chat_id is None or cid == chat_id
            ]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """One of the bot's messages as it stands now; a dictionary look-up, so a script
        driving thousands of chats can poll it (`sent_messages` scans every message)."""
        with self.cond:
            found = self._messages.get((chat_id, message_id))
            return copy.deepcopy(found) if found is not None else None

    def calls(self, method: str | None = None) -> list[Call]:
        """Every request with the right token, failed ones included, as (method, params, time)."""
        with self.cond:
            return [copy.deepcopy(c) for c in self._calls if method is None or c[0] == method]

    def call_count(self, method: str | None = None) -> int:
        """Count calls without copying them: cheap enough for predicates polled in benchmarks."""
        with self.cond:
            return sum(method is None or c[0] == method for c in self._calls)

    def callback_answers(self) -> list[dict[str, Any]]:
        """Parameters of the successful answerCallbackQuery calls."""
        with self.cond:
            return copy.deepcopy(self._answers)

    def dump(self, last: int = 20) -> str:
        """Describe the recent traffic, for assertion messages."""
        with self.cond:
            lines = [f"pending updates: {len(self._updates)}", f"last {last} calls:"]
            for method, params, _ in self._calls[-last:]:
                lines.append(f"  {method} {json.dumps(params, default=str)[:200]}")
            lines.append("sent messages:")
            for (chat_id, message_id), message in self._messages.items():
                shown = message.get("text", message.get("caption"))
                lines.append(f"  chat {chat_id} #{message_id}: {shown!r}")
            return "\n".join(lines)

    def wait_for(self, predicate: Callable[[FakeTelegram], bool], timeout: float = 10.0) -> None:
        """Block this thread until ``predicate(fake)`` holds; never call it on the bot's loop."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"not true within {timeout}s\n{self.dump()}")
                self.cond.wait(remaining)

    # A timeout parameter (not asyncio.timeout around the call) so the failure can show the dump.
    async def async_wait_for(
        self,
        predicate: Callable[[FakeTelegram], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Poll ``predicate(fake)`` with asyncio.sleep, leaving a bot on this loop free to run."""
        await poll_until(self.cond, lambda: predicate(self), self.dump, timeout)

    def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until the bot has ``count`` messages in the chat; return them all."""
        self.wait_for(lambda fake: len(fake.sent_messages(chat_id)) >= count, timeout)
        return self.sent_messages(chat_id)

    async def async_wait_for_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """The async twin of wait_for_messages."""
        await self.async_wait_for(lambda fake: len(fake.sent_messages(chat_id)) >= count, timeout)
        return self.sent_messages(chat_id)

    # --- faults (see faults.Faults) ----------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail; nothing else of them happens."""
        self.faults.fail_next(
            method, status=status, description=description, retry_after=retry_after, count=count
        )

    def set_delay(self, method: str, seconds: float) -> None:
        """Answer ``method`` ``seconds`` late (0 to stop); the call still takes effect at once."""
        self.faults.set_delay(method, seconds)

    def block_chat(self, chat_id: int) -> None:
        self.faults.block_chat(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        self.faults.unblock_chat(chat_id)

    def enforce_limits(self, global_per_second: int = 30, per_chat_per_second: int = 1) -> None:
        """Answer 429 with retry_after beyond these rates of sends and edits."""
        self.faults.enforce_limits(global_per_second, per_chat_per_second)

    def limits_off(self) -> None:
        self.faults.limits_off()

    @property
    def count_429(self) -> int:
        return self.faults.count_429
