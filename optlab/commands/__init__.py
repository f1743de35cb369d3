"""Subcommands of the ``optlab`` CLI.

Each module here defines ``NAME`` (the subcommand), ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. ``optlab.cli`` discovers them.
"""
