"""The `calbridge` command line (see design.md for the stable interface).

Every error is one clear line on stderr and a non-zero exit; every command has --help.
"""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="calbridge")
def main() -> None:
    """calbridge: calendar feeds for TagMango and TrainerCentral live sessions."""
