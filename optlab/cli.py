"""The ``optlab`` command line: ``optlab --help`` lists the subcommands.

Subcommands live in ``optlab/commands/``, one module each, so every part of the toolkit
adds its own without touching this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from optlab import __version__, commands


def _command_modules():
    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"optlab.commands.{info.name}")
        if all(hasattr(mod, a) for a in ("NAME", "HELP", "add_arguments", "run")):
            mods.append(mod)
    order = getattr(commands, "ORDER", ())
    return sorted(
        mods, key=lambda m: (order.index(m.NAME) if m.NAME in order else len(order), m.NAME)
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optlab",
        description="optlab: compiled optimizer comparisons and loss-landscape analysis in JAX.",
    )
    parser.add_argument("--version", action="version", version=f"optlab {__version__}")
    parser.add_argument(
        "--compilation-cache",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="keep compiled programs on disk (JAX's persistent cache) so reruns skip compiling; "
        "DIR defaults to $OPTLAB_COMPILATION_CACHE or ~/.cache/optlab/jax",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        _add_import_option(p)
        p.set_defaults(_run=_with_plugins(mod.run))
    return parser


def _add_import_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module (name or .py path) that registers optimizers or problems first; "
        "repeatable. Installed packages with an 'optlab.plugins' entry point load by themselves",
    )


def _with_plugins(run):
    """``run(args)`` after loading the installed plugins and the ``--import`` modules."""

    def wrapped(args: argparse.Namespace):
        from optlab import plugins

        plugins.load_entry_points()
        plugins.load(args.imports, where="--import")
        return run(args)

    return wrapped


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    if args.compilation_cache is not None:
        from optlab import enable_compilation_cache

        enable_compilation_cache(args.compilation_cache or None)
    try:
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        print(f"optlab {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
