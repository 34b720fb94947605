"""Shared fixtures: a small random policy and the repository root."""

from pathlib import Path

import pytest
import torch
from torch.distributions import Categorical

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def random_policy():
    """A fixed linear softmax policy over CartPole's two actions."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 2)
    return lambda obs: Categorical(logits=layer(obs))
