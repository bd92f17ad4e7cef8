"""Project settings (see https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

import warnings

from kedro.config import OmegaConfigLoader

from ex_coverage.hooks import SweepHooks

HOOKS = (SweepHooks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
# Parameters are soft-merged: an environment (conf/test, conf/large, conf/local) holds only the keys
# it changes, and `kedro run --params "training.validate_every=0"` changes that one key. Kedro merges
# runtime params into base and into the environment separately; with the default destructive merge
# the environment's copy of the `training` group, holding only the --params key, would replace
# base's whole group (kedro-org/kedro#3456).
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
}

# Third-party deprecation notices that say nothing about this project.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
