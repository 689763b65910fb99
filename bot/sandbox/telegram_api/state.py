"""The Bot API as the bot sees it: its messages, the update queue, webhook and commands.

Each Bot API method is a function of the request's parameters, called with the lock held
(`method(name)` finds it, case-insensitively as Telegram does). `getUpdates` long-polls
without blocking the server's loop: pushed updates resolve a future on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.sandbox.telegram_api.wire import ApiError, utf16_len

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_ACTIVE = "Conflict: can't use getUpdates method while webhook is active"

Call = tuple[str, dict[str, Any], float]
Method = Callable[[dict[str, Any]], Any]


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class BotApiState:
    """The Bot API's state and methods, behind one lock (`cond`)."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "churnbot_test_bot",
        bot_first_name: str = "Churnbot",
    ) -> None:
        self.token = token
        bot_id = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id) if bot_id.isdigit() else 123456,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        # The one lock of the stand-in (faults share it); tests drive it from their thread.
        # RLock: predicates given to wait_for call back into the locked accessors.
        self.cond = threading.Condition(threading.RLock())
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._open_queries: set[str] = set()
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}  # the bot's, in send order
        self._last_message_id: dict[int, int] = {}
        self._chat_names: dict[int, str] = {}
        self._calls: list[Call] = []
        self._answers: list[dict[str, Any]] = []
        self._webhook_url = ""
        self._commands: dict[str, list[Any]] = {}
        self._poll_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._poll_epoch = 0
        handlers: dict[str, Method] = {
            "getMe": lambda _: dict(self.bot_user),
            "getUpdates": lambda _: None,  # answered asynchronously by get_updates
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": lambda p: self._commands.get(self._commands_key(p), []),
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": lambda p: bool(self._chat_id(p)),
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "close": lambda _: True,
            "logOut": lambda _: True,
        }
        self._methods = {name.lower(): (name, fn) for name, fn in handlers.items()}

    def method(self, name: str) -> tuple[str, Method] | None:
        """The Bot API method called `name` (any case) as (its own spelling, function)."""
        return self._methods.get(name.lower())

    def record(self, name: str, params: dict[str, Any]) -> None:
        """Remember a call with the right token, whether it then fails or not (lock held)."""
        self._calls.append((name, params, time.time()))

    # --- Bot API methods (called with the lock held) -------------------------------------

    async def get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long-poll without blocking the server's loop: pushes resolve a future on it."""
        loop = asyncio.get_running_loop()
        offset = params.get("offset")
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        deadline = loop.time() + float(params.get("timeout") or 0)
        with self.cond:
            if self._webhook_url:
                raise ApiError(409, WEBHOOK_ACTIVE)
            epoch = self._poll_epoch
        while True:
            with self.cond:
                if offset is not None:
                    self._confirm(int(offset))
                remaining = deadline - loop.time()
                if self._updates or remaining <= 0 or epoch != self._poll_epoch:
                    return copy.deepcopy(self._updates[:limit])
                entry = (loop, loop.create_future())
                self._poll_waiters.append(entry)
            try:
                async with asyncio.timeout(remaining):
                    await entry[1]
            except TimeoutError:
                pass
            finally:
                with self.cond, contextlib.suppress(ValueError):
                    self._poll_waiters.remove(entry)

    def _confirm(self, offset: int) -> None:
        before = len(self._updates)
        if offset < 0:
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if len(self._updates) != before:
            self.cond.notify_all()

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook_url = ""
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook_url = str(params.get("url") or "")
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands[self._commands_key(params)] = list(params.get("commands") or [])
        return True

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _chat_id(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _next_message_id(self, chat_id: int) -> int:
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _chat(self, chat_id: int) -> dict[str, Any]:
        return {
            "id": chat_id,
            "type": "private",
            "first_name": self._chat_names.get(chat_id, "Ann"),
        }

    @staticmethod
    def _inline_markup(params: dict[str, Any]) -> dict[str, Any] | None:
        """Return the inline keyboard Telegram would echo; reject oversized callback data."""
        markup = params.get("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None
        for row in markup["inline_keyboard"]:
            for button in row:
                if len(str(button.get("callback_data", "")).encode()) > 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _new_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        markup = self._inline_markup(params)
        message = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": dict(self.bot_user),
            **{k: v for k, v in content.items() if v is not None},
        }
        if markup is not None:
            message["reply_markup"] = markup
        self._messages[(chat_id, message["message_id"])] = message
        return copy.deepcopy(message)

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._new_message(params, text=text, entities=params.get("entities"))

    def _upload(self, params: dict[str, Any], field: str) -> dict[str, Any]:
        sent = params.get(field)
        if not sent:
            raise ApiError(400, f"Bad Request: there is no {field} in the request")
        n = len(self._calls)
        info = sent if isinstance(sent, dict) else {}
        return {"file_id": f"{field}-{n}", "file_unique_id": f"u{field}-{n}", **info}

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        upload = self._upload(params, "photo")
        kept = ("file_id", "file_unique_id", "file_size")
        size: dict[str, Any] = {k: upload[k] for k in kept if k in upload}
        photo = [{**size, "width": 800, "height": 600}]
        return self._new_message(params, photo=photo, caption=params.get("caption"))

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        document = self._upload(params, "document")
        return self._new_message(params, document=document, caption=params.get("caption"))

    def _stored(self, params: dict[str, Any], missing: str) -> dict[str, Any]:
        chat_id, message_id = self._chat_id(params), params.get("message_id")
        message = None
        if isinstance(message_id, int):
            message = self._messages.get((chat_id, message_id))
        if message is None:
            raise ApiError(400, f"Bad Request: {missing}")
        return message

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if "inline_message_id" in params:
            return True
        message = self._stored(params, "message to edit not found")
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, markup = str(params.get("text") or ""), self._inline_markup(params)
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        new = {"text": text, "entities": params.get("entities"), "reply_markup": markup}
        if all(message.get(k) == v for k, v in new.items()):
            raise ApiError(400, NOT_MODIFIED)
        return self._apply_edit(message, new)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if "inline_message_id" in params:
            return True
        message = self._stored(params, "message to edit not found")
        markup = self._inline_markup(params)
        if message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        return self._apply_edit(message, {"reply_markup": markup})

    @staticmethod
    def _apply_edit(message: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        # Omitted fields are removed, as Telegram drops a keyboard not sent with an edit.
        for key, value in new.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _delete_message(self, params: dict[str, Any]) -> bool:
        message = self._stored(params, "message to delete not found")
        del self._messages[(message["chat"]["id"], message["message_id"])]
        return True

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        if str(params.get("callback_query_id")) not in self._open_queries:
            raise ApiError(400, QUERY_TOO_OLD)
        self._answers.append(params)
        return True

    # --- updates -------------------------------------------------------------------------

    def _user(self, user_id: int, first_name: str, language_code: str) -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }

    def _enqueue(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        self._updates.append(update)
        self._wake_polls()
        self.cond.notify_all()
        return copy.deepcopy(update)

    def release_polls(self) -> None:
        """Answer every waiting getUpdates now, so a server can stop without waiting them out."""
        with self.cond:
            self._poll_epoch += 1
            self._wake_polls()

    def _wake_polls(self) -> None:
        for loop, waiter in self._poll_waiters:
            with contextlib.suppress(RuntimeError):  # that server's loop is already closed
                loop.call_soon_threadsafe(_resolve, waiter)
        self._poll_waiters.clear()
