"""The science of ex_coverage, with no Kedro in it.

Colour data and label shapes, the coverage solver, the schedule, the model and its regularizers, the
training loop, the metrics, the intervention test, the estimate and the figures: plain typed
modules that the Kedro side (``ex_coverage.pipelines``, datasets, hooks, runner, CLI) calls, and
that notebooks and tests can import on their own. A test reads their imports (at module level and
inside functions) and finds neither ``kedro`` nor the Kedro side of this package.
"""
