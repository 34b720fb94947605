"""Shared fixtures."""

import pytest
import torch
from torch.distributions import Categorical


@pytest.fixture
def random_policy():
    """A fixed linear softmax policy over CartPole's two actions."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 2)
    return lambda obs: Categorical(logits=layer(obs))
