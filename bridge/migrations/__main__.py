"""`python -m bridge.migrations --url URL <alembic command> ...`: Alembic's CLI for developers."""

from __future__ import annotations

import sys

from alembic.config import CommandLine

from bridge.migrations import alembic_config


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "--url":
        sys.exit("usage: python -m bridge.migrations --url DATABASE_URL <alembic command> [...]")
    url, rest = args[1], args[2:]
    cli = CommandLine(prog="python -m bridge.migrations --url DATABASE_URL")
    options = cli.parser.parse_args(rest)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cli.run_cmd(alembic_config(url), options)


if __name__ == "__main__":
    main()
