"""Project settings (see https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

from kedro.config import OmegaConfigLoader

from ex_coverage.hooks import SweepHooks
from ex_coverage.tracking import TrackingHooks

# TrackingHooks' pipeline hooks are marked `trylast`: they run after SweepHooks' checks and closing summary.
HOOKS = (SweepHooks(), TrackingHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
# Parameters are soft-merged: an environment (conf/test, conf/large, conf/local) holds only the keys
# it changes, and `kedro run --params "training.validate_every=0"` changes that one key. Kedro merges
# runtime params into base and into the environment separately; with the default destructive merge
# the environment's copy of the `training` group, holding only the --params key, would replace
# base's whole group (kedro-org/kedro#3456).
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft", "tracking": "soft"},
    # Experiment tracking (src/ex_coverage/tracking.py): conf/<env>/tracking.yml.
    "config_patterns": {"tracking": ["tracking*", "tracking*/**"]},
}
