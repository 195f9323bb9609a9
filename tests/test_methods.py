"""The method table is the only definition: the YAML the CLI composes equals it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from robot_rl.errors import UserError
from robot_rl.methods import METHODS, method_agent_config, method_preset

ROOT = Path(__file__).resolve().parents[1]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts/gen_method_configs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_method_yaml_is_what_the_generator_writes() -> None:
    gen = _generator()
    on_disk = {p.stem for p in gen.METHOD_DIR.glob("*.yaml")}
    assert on_disk == set(METHODS), "run scripts/gen_method_configs.py"
    for name, preset in METHODS.items():
        text = (gen.METHOD_DIR / f"{name}.yaml").read_text()
        assert text == gen.method_yaml(preset), f"{name}.yaml: run scripts/gen_method_configs.py"
    assert gen.main(["--check"]) == 0


def test_generator_writes_hindsight_only_when_set() -> None:
    from dataclasses import replace

    gen = _generator()
    assert "hindsight" not in gen.method_yaml(METHODS["sac"])
    assert "\nhindsight: 0.8\n" in gen.method_yaml(replace(METHODS["sac"], hindsight=0.8))


def _compose_finetune(method: str) -> Any:
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    from robot_rl.cli.hydra_app import CONFIG_DIR, register_agents
    from robot_rl.training.online import FinetuneConfig

    cs = ConfigStore.instance()
    cs.store(name="finetune_schema", node=FinetuneConfig)
    register_agents(cs)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose("finetune", overrides=[f"method={method}"], return_hydra_config=True)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_cli_composes_the_table(name: str) -> None:
    from omegaconf import OmegaConf

    preset = METHODS[name]
    cfg = _compose_finetune(name)
    assert cfg.hydra.runtime.choices["agent"] == preset.agent_name  # -> FinetuneConfig.agent_name
    assert cfg.method == name
    for key, value in preset.loop_settings().items():
        assert cfg[key] == value, key
    want = method_agent_config(name)
    assert type(OmegaConf.to_object(cfg.agent)) is type(want)
    # As containers: OmegaConf holds tuples (hidden_dims) as lists.
    assert OmegaConf.to_container(cfg.agent) == OmegaConf.to_container(OmegaConf.structured(want))


def test_method_agent_config_applies_preset_then_overrides() -> None:
    rlpd = method_agent_config("rlpd", utd_ratio=3)
    assert (rlpd.num_qs, rlpd.num_min_qs, rlpd.critic_layer_norm) == (4, 2, True)
    assert rlpd.utd_ratio == 3 and method_agent_config("rlpd").utd_ratio == 2
    assert method_agent_config("wsrl").utd_ratio == 2
    assert method_agent_config("calql").calibrate
    with pytest.raises(UserError, match="unknown method 'nope'"):
        method_preset("nope")
    with pytest.raises(UserError, match="no field"):
        method_agent_config("rlpd", not_a_field=1)


def test_pipeline_reads_the_table_with_its_own_budget_over_it() -> None:
    from robot_rl.pipeline import PipelineConfig, _method_settings

    rlpd = _method_settings(PipelineConfig(finetune_method="rlpd", utd_ratio=3))
    assert rlpd["agent"] == {**METHODS["rlpd"].agent, "utd_ratio": 3, "hidden_dims": [128, 128]}
    assert rlpd["offline_ratio"] == METHODS["rlpd"].offline_ratio
    wsrl = _method_settings(
        PipelineConfig(finetune_method="wsrl", pretrain_agent="calql", warmup_steps=7)
    )
    assert wsrl["warmup_steps"] == 7 and wsrl["offline_ratio"] == 0.0
    assert "hidden_dims" not in wsrl["agent"]  # WSRL keeps the pre-trained agent's networks
    iql = _method_settings(PipelineConfig(finetune_method="iql", finetune={"beta": 3.0}))
    assert iql["agent"] == {"beta": 3.0, "expectile": 0.9}  # pre-training's config, then finetune
    with pytest.raises(UserError, match="finetune_method='sac'"):  # from scratch: not a stage
        _method_settings(PipelineConfig(finetune_method="sac"))
