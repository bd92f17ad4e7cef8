"""ex_coverage: how much of the training data must be labelled for selective regularizers to work?"""

__version__ = "0.2.0"

import warnings as _warnings

# Notices that say nothing about this project. Set here rather than in settings.py so that they also
# apply in ParallelRunner's spawned workers, which import this package but not the settings.
_warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
_warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
# `--pipeline` (the spelling this project documents) still works in Kedro 1.7.
_warnings.filterwarnings("ignore", message=r"Option '--pipeline' is deprecated")
