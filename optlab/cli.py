"""The ``optlab`` command line: ``optlab --help`` lists the subcommands.

Subcommands live in ``optlab/commands/``, one module each, so every part of the toolkit
adds its own without touching this file.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import warnings

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
        help="folder for compiled programs kept on disk (JAX's persistent cache, on by default "
        "so reruns skip compiling); DIR defaults to $OPTLAB_COMPILATION_CACHE or "
        "~/.cache/optlab/jax",
    )
    parser.add_argument(
        "--no-compilation-cache",
        action="store_true",
        help="do not keep compiled programs on disk (also: OPTLAB_NO_COMPILATION_CACHE=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        _add_import_option(p)
        p.set_defaults(_run=_with_plugins(mod.run))
    return parser


def compilation_cache_wanted(args, environ=None) -> bool:
    """The persistent compilation cache is on unless ``--no-compilation-cache`` or
    ``OPTLAB_NO_COMPILATION_CACHE`` (any value but ``""``/``0``) says otherwise."""
    environ = os.environ if environ is None else environ
    off = environ.get("OPTLAB_NO_COMPILATION_CACHE", "").strip().lower() not in ("", "0", "false")
    return not (getattr(args, "no_compilation_cache", False) or off)


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
    prefix = f"optlab {args.command}"
    try:
        if compilation_cache_wanted(args):
            from optlab import enable_compilation_cache

            enable_compilation_cache(args.compilation_cache or None)
        with warnings.catch_warnings():
            # warnings (costly requests, duplicate seeds...) as one line each, no source line
            warnings.showwarning = lambda message, category, *a, **k: print(
                f"{prefix}: warning: {message}", file=sys.stderr
            )
            return int(args._run(args) or 0)
    except KeyboardInterrupt as err:
        # Ctrl-C: one line (a command may say what it kept, e.g. how many runs are stored).
        detail = f"; {err}" if str(err) else ""
        print(f"\n{prefix}: interrupted{detail}", file=sys.stderr)
        return 130
    except (ValueError, OSError, OverflowError, MemoryError) as err:
        # A user's mistake (bad value, unwritable path, too large a request): one line, no
        # traceback. Messages built with where="optlab <command>" are not prefixed twice.
        msg = str(err) or type(err).__name__
        if isinstance(err, MemoryError):
            msg = f"out of memory ({msg}); ask for less (a smaller grid, fewer runs)"
        for doubled in (f"{prefix}: error: ", f"{prefix}: "):
            msg = msg.removeprefix(doubled)
        print(f"{prefix}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
