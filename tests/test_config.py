"""Configuration is defined once: environments and --params change only the keys they name."""

from __future__ import annotations

import pytest
import yaml
from kedro.config import OmegaConfigLoader

from ex_coverage.settings import CONFIG_LOADER_ARGS
from tests.conftest import ROOT
from tests.project import bootstrap

BASE_TRAINING = yaml.safe_load((ROOT / "conf/base/parameters_training.yml").read_text())["training"]


def parameters(env: str, runtime_params: dict | None = None) -> dict:
    return OmegaConfigLoader(str(ROOT / "conf"), env=env, runtime_params=runtime_params, **CONFIG_LOADER_ARGS)[
        "parameters"
    ]


@pytest.fixture
def session_params():
    """The parameters of a real in-process KedroSession (what `kedro run --env E --params ...` runs with)."""
    from kedro.framework.session import KedroSession

    bootstrap(ROOT)

    def load(env: str, runtime_params: dict) -> dict:
        with KedroSession.create(project_path=ROOT, env=env, runtime_params=runtime_params) as session:
            context = session.load_context()
            return {"params": context.params, "training": context.catalog.load("params:training")}

    return load


@pytest.mark.parametrize("env", ["test", "large", "local"])
def test_a_params_override_of_one_nested_key_changes_that_key_alone(session_params, env):
    from kedro.framework.cli.utils import _split_params

    override = _split_params(None, None, "training.validate_every=0")  # what `kedro run --params` parses
    assert override == {"training": {"validate_every": 0}}
    loaded = session_params(env, override)
    expected = {**parameters(env)["training"], "validate_every": 0}
    assert loaded["params"]["training"] == expected
    assert loaded["training"] == expected
    assert set(expected) == set(BASE_TRAINING)  # batch_size, accelerator, threads kept


def test_environments_hold_only_their_differences():
    test, large, base = parameters("test"), parameters("large"), parameters("base")
    assert test["grids"] == {
        **base["grids"],
        "rgb_fine_steps": 8,
        "hsv_fine": {"hues": 48, "saturations": 8, "values": 8},
    }
    assert test["training"] == base["training"] == BASE_TRAINING
    assert large["training"] == {**BASE_TRAINING, "accelerator": "auto"}
    assert test["sweep"] == {"coverages": [0, 0.01], "seeds": [0, 1]}  # lists are replaced, not merged
    for env in ("test", "large"):
        for path in (ROOT / "conf" / env).glob("parameters*.yml"):
            own = yaml.safe_load(path.read_text())
            for group, values in own.items():
                assert values != base[group], f"{path} repeats base's {group!r}"
                if isinstance(values, dict):
                    repeated = {k for k, v in values.items() if base[group].get(k) == v}
                    assert not repeated, f"{path} repeats base values of {group}: {sorted(repeated)}"


def test_runtime_params_win_over_an_environment_that_sets_the_same_key():
    assert parameters("test", {"grids": {"rgb_fine_steps": 5}})["grids"]["rgb_fine_steps"] == 5
    assert parameters("test", {"grids": {"rgb_fine_steps": 5}})["grids"]["hsv_fine"]["hues"] == 48
