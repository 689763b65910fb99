"""Telegram handlers for customers: commands, survey buttons and free text.

Thin on purpose: read the update, call the domain's services (`context.services`, see
`handlers.telegram.context`), render the `Reply`. Survey state is in the database, so PTB
keeps none. Customer text (messages, captions, names) passes `surveys.inbound.clean_text`
before anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import CallbackQuery, Update
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from handlers.telegram.context import ChurnContext
from handlers.telegram.render import keyboard
from surveys.engine import Inbound
from surveys.inbound import clean_text
from surveys.replies import Edit, Reply
from surveys.signing import ButtonAction

log = logging.getLogger(__name__)


OnCompleted = Callable[[int], Awaitable[object]]
FORGET_BUTTON_PATTERN = f"^({ButtonAction.FORGET_YES}|{ButtonAction.FORGET_NO}):"


class CustomerHandlers:
    """Every handler a customer's update can reach (and who hears of finished surveys)."""

    def __init__(self, on_completed: OnCompleted | None = None) -> None:
        self.on_completed = on_completed

    async def on_start(self, update: Update, context: ChurnContext) -> None:
        """Link the chat with a deep-link token, or opt back in."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or update.effective_message is None:
            return
        payload = context.args[0] if context.args else None
        reply = await context.services.accounts.start(
            chat_id=chat.id,
            payload=payload,
            language_code=user.language_code if user else None,
            first_name=clean_text(user.first_name) if user else None,
        )
        await self.render(update, context, reply)

    async def on_stop(self, update: Update, context: ChurnContext) -> None:
        """Opt the customer out of surveys."""
        await self._account_command(update, context, context.services.accounts.stop)

    async def on_help(self, update: Update, context: ChurnContext) -> None:
        """Explain what the bot does (also the answer to unknown commands)."""
        await self._account_command(update, context, context.services.accounts.help)

    async def on_forget(self, update: Update, context: ChurnContext) -> None:
        """Ask for confirmation before erasing the customer."""
        await self._account_command(update, context, context.services.accounts.forget)

    async def _account_command(
        self,
        update: Update,
        context: ChurnContext,
        command: Callable[..., Awaitable[Reply]],
    ) -> None:
        chat_id, language = _who(update)
        reply = await command(chat_id=chat_id, language_code=language)
        await self.render(update, context, reply)

    async def on_button(self, update: Update, context: ChurnContext) -> None:
        """Record a tapped survey button."""
        query = update.callback_query
        if query is None or query.message is None:
            return
        inbound = Inbound(
            chat_id=query.message.chat.id,
            language_code=query.from_user.language_code,
            update_id=update.update_id,
        )
        raw = query.data or ""
        reply = await self._answered(query, context.services.answers.take_tap(inbound, raw))
        await self.render(update, context, _aim_edits_at(reply, query.message.message_id))

    async def on_forget_button(self, update: Update, context: ChurnContext) -> None:
        """Carry out the answer to the /forget confirmation."""
        query = update.callback_query
        if query is None or query.message is None:
            return
        chat_id, raw = query.message.chat.id, query.data or ""
        language = query.from_user.language_code
        reply = await self._answered(
            query,
            context.services.accounts.forget_button(
                chat_id=chat_id, raw=raw, language_code=language
            ),
        )
        await self.render(update, context, _aim_edits_at(reply, query.message.message_id))

    async def _answered(self, query: CallbackQuery, unit: Awaitable[Reply]) -> Reply:
        """Run the tap's unit of work and answer the callback query before anything is
        rendered, also when the unit fails, so the button never keeps spinning. A query
        Telegram calls too old (a redelivered or long-delayed update) is no error: the
        unit has done what it should (nothing, for a redelivery), so rendering goes on."""
        try:
            reply = await unit
        except Exception:
            await self._answer_query(query, None)
            raise
        await self._answer_query(query, reply.toast)
        return Reply(edits=reply.edits, messages=reply.messages, completed=reply.completed)

    @staticmethod
    async def _answer_query(query: CallbackQuery, text: str | None) -> None:
        try:
            await query.answer(text)
        except BadRequest as error:
            if not _is_stale_query(error):
                raise
            log.info("callback query %s too old to answer: skipped", query.id)

    async def on_text(self, update: Update, context: ChurnContext) -> None:
        """Store a typed answer, or unsolicited feedback when no survey is open."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        await self._take_text(update, context, message.text)

    async def on_other(self, update: Update, context: ChurnContext) -> None:
        """Take a caption as text; ask for text when a message has none (stickers, voice)."""
        message = update.effective_message
        if message is None:
            return
        if message.caption:
            await self._take_text(update, context, message.caption)
            return
        _, language = _who(update)
        await self.render(update, context, Reply.say(context.services.answers.text_only(language)))

    async def _take_text(self, update: Update, context: ChurnContext, text: str) -> None:
        chat_id, language = _who(update)
        text = clean_text(text)
        if not text.strip():
            text_only = context.services.answers.text_only(language)
            await self.render(update, context, Reply.say(text_only))
            return
        inbound = Inbound(chat_id=chat_id, language_code=language, update_id=update.update_id)
        reply = await context.services.answers.take_text(inbound, text)
        await self.render(update, context, reply)

    async def render(self, update: Update, context: ChurnContext, reply: Reply) -> None:
        """Apply edits, then send the messages; remember which message asks which question."""
        chat = update.effective_chat
        if chat is None:
            return
        for edit in reply.edits:
            if not edit.message_id:
                continue
            try:
                if edit.text is None:
                    await context.bot.edit_message_reply_markup(
                        chat_id=chat.id, message_id=edit.message_id, reply_markup=None
                    )
                else:
                    await context.bot.edit_message_text(
                        chat_id=chat.id,
                        message_id=edit.message_id,
                        text=edit.text,
                        reply_markup=keyboard(edit.buttons),
                    )
            except BadRequest as error:
                # The message may be too old to edit or already in that state: harmless.
                log.info("edit of message %s skipped: %s", edit.message_id, error.message)
        for prompt in reply.messages:
            sent = await context.bot.send_message(
                chat_id=chat.id, text=prompt.text, reply_markup=keyboard(prompt.buttons)
            )
            if prompt.invitation_id is not None:
                await context.services.answers.remember_message(
                    prompt.invitation_id, sent.message_id
                )
        if reply.completed is not None and self.on_completed is not None:
            await self.on_completed(reply.completed)


def _who(update: Update) -> tuple[int, str | None]:
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None
    return chat.id, user.language_code if user else None


def _aim_edits_at(reply: Reply, message_id: int) -> Reply:
    """Survey edits after a tap concern the tapped message itself."""
    edits = tuple(
        Edit(message_id=message_id, text=edit.text, buttons=edit.buttons) for edit in reply.edits
    )
    # Keep `completed`: a survey finished by a tap (a last Skip) is reported like any other.
    return Reply(
        toast=reply.toast, edits=edits, messages=reply.messages, completed=reply.completed
    )


def _is_stale_query(error: BadRequest) -> bool:
    """Telegram's answer to answerCallbackQuery for a query it no longer knows."""
    message = error.message.lower()
    return "query is too old" in message or "query id is invalid" in message


def register(
    application: Application[Any, Any, Any, Any, Any, Any], on_completed: OnCompleted | None = None
) -> None:
    """Add the customer handlers (the application is built with `CONTEXT_TYPES` and given
    the services). Order matters: commands first, unknown commands next, then plain text,
    so a command is never stored as feedback. `on_completed` hears of every survey a
    customer finishes (after the reply is shown), e.g. for Slack alerts."""
    handlers = CustomerHandlers(on_completed)
    private = filters.ChatType.PRIVATE
    application.add_handler(CommandHandler("start", handlers.on_start, filters=private))
    application.add_handler(CommandHandler("stop", handlers.on_stop, filters=private))
    application.add_handler(CommandHandler("help", handlers.on_help, filters=private))
    application.add_handler(CommandHandler("forget", handlers.on_forget, filters=private))
    # The forget confirmation's buttons first; every other button is a survey's (where a
    # forged one is refused).
    application.add_handler(
        CallbackQueryHandler(handlers.on_forget_button, pattern=FORGET_BUTTON_PATTERN)
    )
    application.add_handler(CallbackQueryHandler(handlers.on_button))
    application.add_handler(MessageHandler(filters.COMMAND & private, handlers.on_help))
    application.add_handler(MessageHandler(filters.TEXT & private, handlers.on_text))
    application.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & private & ~filters.TEXT, handlers.on_other)
    )
