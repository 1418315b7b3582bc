"""Which generators a recorded or seeded region forks, and saving/restoring the training RNG."""

import torch

from reformer_cli.checkpoint.state_codec import load_nested, save_nested
from reformer_cli.core.rng import cuda_index, forked_devices
from reformer_cli.training.runtime import capture_rng_state, cuda_state_for, restore_rng_state


def test_an_index_less_cuda_device_means_the_current_one():
    assert cuda_index(torch.device("cuda"), current_index=lambda: 3) == 3
    assert cuda_index(torch.device("cuda:1"), current_index=lambda: 3) == 1
    assert cuda_index(torch.device("cuda:0"), current_index=lambda: 3) == 0


def test_only_cuda_devices_fork_a_device_generator():
    assert forked_devices(torch.device("cpu")) == []
    assert forked_devices(torch.device("cuda"), current_index=lambda: 2) == [2]
    assert forked_devices(torch.device("cuda:1"), current_index=lambda: 2) == [1]


def multi_gpu_training_rng(tmp_path, n_devices=8):
    """The RNG part of a training state as an 8-GPU run wrote it (every device's generator),
    through the checkpoint codec."""
    state = capture_rng_state(torch.device("cpu"))
    state["cuda"] = [torch.full((16,), device, dtype=torch.uint8) for device in range(n_devices)]
    save_nested({"rng": state}, tmp_path / "state.json", tmp_path / "state.safetensors")
    return load_nested(tmp_path / "state.json", tmp_path / "state.safetensors")["rng"]


def test_a_multi_gpu_rng_state_restores_the_cpu_generator_exactly(tmp_path):
    torch.manual_seed(11)
    expected = torch.randn(5)
    torch.manual_seed(11)
    saved = multi_gpu_training_rng(tmp_path)
    torch.manual_seed(99)  # the resumed process starts elsewhere
    restore_rng_state(saved, torch.device("cpu"))
    assert torch.equal(torch.randn(5), expected)


def test_one_process_restores_only_its_own_device_generator(tmp_path):
    saved = multi_gpu_training_rng(tmp_path)["cuda"]
    assert torch.equal(cuda_state_for(saved, 0), saved[0])  # a 1-GPU box takes device 0's
    assert torch.equal(cuda_state_for(saved, 3), saved[3])
    assert cuda_state_for(saved[:2], 3) is None  # fewer devices saved than this one's index
    single = torch.arange(16, dtype=torch.uint8)  # what a process saves now: its own device
    assert torch.equal(cuda_state_for(single, 5), single)
