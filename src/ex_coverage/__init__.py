"""ex_coverage: how much of the training data must be labelled for selective regularizers to work?"""

__version__ = "0.1.0"
