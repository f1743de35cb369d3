"""``optlab report DIR``: regenerate a study's figures and tables from its results store."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "Regenerate all figures (PDF+PNG) and tables (Markdown+LaTeX) of a study, without training."
_FORMATS = ("pdf", "png", "svg")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="study directory written by `optlab compare --out DIR`")
    parser.add_argument(
        "--out",
        default=None,
        help="write figures/ and tables/ here instead of into DIR",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="optimizer for paired comparisons (default: the study's first optimizer)",
    )
    parser.add_argument(
        "--formats",
        default="pdf,png",
        help="comma-separated figure formats (default: pdf,png)",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")


def run(args: argparse.Namespace) -> int:
    from optlab._checks import one_of, writable_dir
    from optlab.plot import study as plot_study
    from optlab.study import load_study

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    if not formats:
        raise ValueError(f"--formats: give at least one of {', '.join(_FORMATS)}")
    for f in formats:
        one_of("--formats entry", f, _FORMATS)
    res = load_study(args.dir)
    if args.baseline is not None:
        one_of("--baseline", args.baseline, res.optimizers)
    writable_dir("--out" if args.out else "study directory", args.out or args.dir)
    written = plot_study.write_report(res, args.out, baseline=args.baseline, formats=formats)
    if not args.quiet:
        results_md = next((p for p in written if p.name == "results.md"), None)
        if results_md is not None:
            print(results_md.read_text())
        if res.warnings():
            print(next(p for p in written if p.name == "warnings.md").read_text())
        print(f"wrote {len(written)} files under {args.out or args.dir}/{{figures,tables}}")
    return 0
