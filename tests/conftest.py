"""Shared pytest fixtures: every test that takes `device` runs on the CPU and, where metalcore
can use one, on CUDA."""
import pytest
import torch

import metalcore

DEVICES = ["cpu"] + (["cuda"] if metalcore.cuda_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    # Fresh inputs per test, but reproducible when a failure is re-run.
    torch.manual_seed(1234)
    yield
