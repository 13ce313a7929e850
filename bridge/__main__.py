"""`python -m bridge` runs the `calbridge` command."""

from bridge.cli import main

main()
