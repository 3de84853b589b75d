# SPDX-License-Identifier: Apache-2.0
"""A config's loss weights must name terms the model's objective reads: a misspelt key
would otherwise train a whole run without the term it meant."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fusion_ros.errors import ConfigError
from fusion_ros.training.config import load_train_config
from fusion_ros.training.objectives import OBJECTIVES, build_objective

CONFIGS = Path(__file__).resolve().parents[2] / 'config' / 'train'


def trainer_of(config: Path) -> str:
    """The trainable model a shipped config is for: the longest registered name its file
    name starts with (piafusion-classifier before piafusion)."""
    return max((name for name in OBJECTIVES if config.stem.startswith(name)), key=len)


@pytest.mark.parametrize('config', sorted(CONFIGS.glob('*.yaml')), ids=lambda p: p.stem)
def test_every_shipped_training_config_resolves_with_known_loss_terms(config):
    resolved = load_train_config(trainer_of(config), config)
    written = yaml.safe_load(config.read_text()).get('loss') or {}
    assert set(written) <= set(resolved.loss)  # the file's weights are the run's


def test_a_misspelt_loss_weight_is_refused_before_training(tmp_path):
    typo = tmp_path / 'typo.yaml'
    typo.write_text('loss:\n  edgee: 80.0\n')
    with pytest.raises(ConfigError, match=r"unknown loss term\(s\) \['edgee'\] for piafusion"):
        load_train_config('piafusion', typo)
    # the same check guards an objective built without a config file
    with pytest.raises(ConfigError, match='edgee'):
        build_objective('fastfusion', {}, {'edge': 1.0, 'edgee': 1.0}, {})
    assert load_train_config('piafusion', None, loss={'edge': 80.0}).loss['edge'] == 80.0
