# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the CLI tests."""

import pytest

from test.training.conftest import write_pair_set


@pytest.fixture()
def pair_set(tmp_path):
    return write_pair_set(tmp_path / 'set')
