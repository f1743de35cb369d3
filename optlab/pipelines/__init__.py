"""Multi-step workflows that combine the engines (train, landscape, ...) into one call.

A pipeline is a frozen config, a few named steps (each usable on its own) and a function
that runs them in order and returns a result object. The CLI and the experiment scripts
call pipelines instead of repeating their steps; pipelines compute and write plain files,
and leave drawing to ``optlab.plot``.

- :mod:`optlab.pipelines.landscape`: train -> plane -> slice -> analysis -> sharpness -> save.
"""
