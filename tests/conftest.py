"""Fixtures shared by several test modules."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for the module's tests: on tiny models (and on shared cores) thread hand-offs cost more
    than the matmuls; measured beside other jobs, a SmolLM2 decoding step took 0.3 s on one thread, 4 s on two.
    Use with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
