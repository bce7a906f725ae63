"""Several processes under torchrun: each rank labels a disjoint share of the features.

    torchrun --nproc-per-node 2 -m sae_gd_labeler label ...

torchrun sets RANK / WORLD_SIZE / MASTER_ADDR; we join its process group (nccl on GPUs, gloo on the CPU)
only to wait for one another (`barrier`), never to move data: every rank reads the corpus itself and
writes its own shard file. Without torchrun this is one process of rank 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, items: list) -> list:
        """This rank's items: every world_size-th, from its rank on (disjoint, together complete)."""
        return items[self.rank::self.world_size]

    def local_device(self, device: str | None) -> str | None:
        """One GPU a process: rank r on cuda:LOCAL_RANK when the run asks for "cuda"."""
        if device == "cuda" and self.distributed:
            return f"cuda:{int(os.environ.get('LOCAL_RANK', self.rank))}"
        return device


def init_ranks(device: str | None = None) -> Ranks:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    if not dist.is_initialized():
        backend = "nccl" if device is not None and device.startswith("cuda") and torch.cuda.is_available() else "gloo"
        # Labeling a share can take hours between barriers: a long timeout, not the default 10 minutes.
        dist.init_process_group(backend, timeout=timedelta(hours=48))
    return Ranks(dist.get_rank(), dist.get_world_size())


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        dist.barrier()


def close(ranks: Ranks) -> None:
    if ranks.distributed and dist.is_initialized():
        dist.destroy_process_group()
