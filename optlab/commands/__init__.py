"""Subcommands of the ``optlab`` CLI.

Each module here defines ``NAME`` (the subcommand), ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. ``optlab.cli`` discovers them.
"""

#: The order in which ``optlab --help`` lists the subcommands (others follow alphabetically).
ORDER = ("list", "compare", "report", "landscape")
