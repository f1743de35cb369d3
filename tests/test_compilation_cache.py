"""The CLI keeps compiled programs on disk by default (JAX's persistent compilation cache)."""

import os
import subprocess
import sys

from optlab import cli


def _cache_dir_after(argv, env):
    code = (
        "import sys, jax; from optlab import cli; rc = cli.main(sys.argv[1:]); "
        "print(jax.config.jax_compilation_cache_dir)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def test_default_cli_path_enables_the_persistent_cache(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPTLAB_", "JAX_"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    argv = ["list"]  # a command that compiles nothing: the cache is still set up
    want = str(tmp_path / "xdg" / "optlab" / "jax")
    assert _cache_dir_after(argv, env) == want
    assert os.path.isdir(want)
    # opt-outs: the flag and the environment variable
    assert _cache_dir_after(["--no-compilation-cache", *argv], env) == "None"
    assert _cache_dir_after(argv, {**env, "OPTLAB_NO_COMPILATION_CACHE": "1"}) == "None"
    own = str(tmp_path / "own")
    assert _cache_dir_after(["--compilation-cache", own, *argv], env) == own


def test_compilation_cache_wanted_reads_flag_and_environment():
    p = cli.build_parser()
    assert cli.compilation_cache_wanted(p.parse_args([]), {})
    assert not cli.compilation_cache_wanted(p.parse_args(["--no-compilation-cache"]), {})
    assert not cli.compilation_cache_wanted(p.parse_args([]), {"OPTLAB_NO_COMPILATION_CACHE": "1"})
    assert cli.compilation_cache_wanted(p.parse_args([]), {"OPTLAB_NO_COMPILATION_CACHE": "0"})
