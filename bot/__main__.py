"""`python -m bot` runs the churnbot CLI."""

from bot.cli import main

main()
