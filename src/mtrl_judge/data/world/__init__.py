"""JudgeWorld: a procedurally drawn multi-task judging benchmark with exact labels (docs/world.md).

    from mtrl_judge.data.world import generate_world, load_world, WORLD_SIZES
    generate_world("data/world", size="demo", seed=0)
    ds = load_world("data/world", "seetrue", "test")
"""

from .generate import SCHEMA_VERSION, draw_example, generate_world, load_world
from .geometry import GEOMETRIES, LATEST, geometry
from .sizes import WORLD_SIZES, WORLD_TASKS, split_counts

__all__ = ["generate_world", "load_world", "WORLD_SIZES", "WORLD_TASKS", "SCHEMA_VERSION", "split_counts", "draw_example",
           "GEOMETRIES", "LATEST", "geometry"]
