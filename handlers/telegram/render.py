"""Platform-neutral prompts to Telegram inline keyboards."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from surveys.replies import Button

BUTTON_LABEL_LIMIT = 64


def keyboard(buttons: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(button.label[:BUTTON_LABEL_LIMIT], callback_data=button.data)
                for button in row
            ]
            for row in buttons
        ]
    )
