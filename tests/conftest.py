"""Shared test fixtures."""

import os

import pytest
import torch


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs one worker per core) each worker gets its share of
    the cores, and so do the commands it starts: more threads than cores thrash."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        threads = max(1, (cores or 1) // workers)
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


@pytest.fixture
def one_thread():
    """One intra-op thread for tiny tensors: on a shared 2-core machine two OpenMP threads per
    process thrash, and a thread pool only adds overhead at these sizes."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def cli_workspace(tmp_path, monkeypatch, one_thread):
    """An empty working directory for in-process `reformer` runs."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
