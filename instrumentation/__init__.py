"""In-process instrumentation installed by ``obs.init()``: one module per library.

Every module records through the metric catalog (:mod:`obs.catalog`) and swallows its own
failures (:mod:`obs.runtime.failures`), so the host service never sees an exception from obs.
"""
