"""Shared test fixtures."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """One intra-op thread for tiny tensors: on a shared 2-core machine two OpenMP threads per
    process thrash, and a thread pool only adds overhead at these sizes."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
