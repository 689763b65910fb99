"""Churn figures, summaries and their renderings, shared by Slack, Telegram and the CLI."""
