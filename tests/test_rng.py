"""Which generators a recorded or seeded region forks, and saving/restoring the training RNG."""

import torch

from reformer_cli.core.rng import cuda_index, forked_devices


def test_an_index_less_cuda_device_means_the_current_one():
    assert cuda_index(torch.device("cuda"), current_index=lambda: 3) == 3
    assert cuda_index(torch.device("cuda:1"), current_index=lambda: 3) == 1
    assert cuda_index(torch.device("cuda:0"), current_index=lambda: 3) == 0


def test_only_cuda_devices_fork_a_device_generator():
    assert forked_devices(torch.device("cpu")) == []
    assert forked_devices(torch.device("cuda"), current_index=lambda: 2) == [2]
    assert forked_devices(torch.device("cuda:1"), current_index=lambda: 2) == [1]
