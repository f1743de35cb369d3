"""Publication figures from stored numpy results (matplotlib only; no jax).

Import the module you need: ``optlab.plot.study`` (comparison studies) or
``optlab.plot.landscape`` (loss landscapes).
"""
