"""Slack adapters: slash command, alert interactions, the summary poster, the error handler."""
