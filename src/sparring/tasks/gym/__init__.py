"""reasoning-gym tasks, ``rg:NAME`` (see ``task``): the registry resolves every name with
the ``rg`` prefix through ``task.make``; reasoning-gym itself (the ``gym`` extra) is only
imported when such a task is asked for. ``grade`` regenerates items and runs the
dataset's scorer (in the bounded grading worker)."""

from ..registry import register_family
from .task import GymTask, available, make

register_family("rg", make)

__all__ = ["GymTask", "available", "make"]
