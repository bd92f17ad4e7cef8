"""Project settings (see https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

import warnings

from kedro.config import OmegaConfigLoader

from ex_coverage.hooks import SweepHooks

HOOKS = (SweepHooks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}

# Third-party deprecation notices that say nothing about this project.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
