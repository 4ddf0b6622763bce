"""Every test starts from the same random state (tests that need their own
streams use torch.Generator)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)
