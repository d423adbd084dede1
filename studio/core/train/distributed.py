"""Multi-GPU training is PyTorch DDP started by ``torchrun``; this module only reads its environment."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def setup(device_type: str) -> World:
    """Join the process group that torchrun describes in the environment (nothing when run alone)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        log.info("joined process group: rank %d of %d (%s)", world.rank, world.size, backend)
    return world


def teardown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(net: nn.Module, device: torch.device, world: World) -> nn.Module:
    if not world.distributed or not any(p.requires_grad for p in net.parameters()):
        return net
    ids = [device.index if device.index is not None else world.local_rank] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=ids, broadcast_buffers=False)


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def all_agree(world: World, flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any rank (e.g. one rank was asked to stop)."""
    if not world.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def largest(world: World, value: float, device: torch.device) -> float:
    """The largest of every rank's ``value`` (the same on every rank)."""
    if not world.distributed:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())
