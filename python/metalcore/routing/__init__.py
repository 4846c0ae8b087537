"""Measured routing tables: which calls an override sends to metalcore, per device kind.

A table is `routing/<device-kind>.json`, written by `bench/bench_routing.py`: for each op and
dtype, the grid points it timed (the op's size key, our time, torch's time, in ms). A call is
routed to metalcore only when its size key lies inside the measured grid and every corner of the
grid cell around it was measured faster than torch by the margin (ours <= margin * torch).
Anything else (unmeasured device kind, dtype or size, a slower or missing corner) goes to torch:
the built-in default is to route nothing that was not measured faster.
"""
from __future__ import annotations

import bisect
import itertools
import json
import os
import platform
import re
from typing import Dict, Optional, Tuple

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MARGIN = 0.95  # ours must be at least ~5% faster at every corner of the cell

_DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
                torch.bfloat16: "bfloat16"}


def dtype_name(dtype: torch.dtype) -> Optional[str]:
    return _DTYPE_NAMES.get(dtype)


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


_kind_cache: Dict[Tuple[str, Optional[int]], str] = {}


def device_kind(device: torch.device) -> str:
    """'cpu-<machine>' or 'cuda-<gpu name>', e.g. 'cpu-x86-64', 'cuda-nvidia-h100-80gb-hbm3'."""
    key = (device.type, device.index)
    kind = _kind_cache.get(key)
    if kind is None:
        if device.type == "cpu":
            kind = "cpu-" + _slug(platform.machine() or "unknown")
        elif device.type == "cuda":
            idx = device.index if device.index is not None else torch.cuda.current_device()
            kind = "cuda-" + _slug(torch.cuda.get_device_name(idx))
        else:
            kind = device.type
        _kind_cache[key] = kind
    return kind


def table_path(kind: str) -> str:
    return os.path.join(HERE, f"{kind}.json")


class Rule:
    """Decisions for one (op, dtype): the measured grid and which points were faster."""

    def __init__(self, points, margin: float):
        self.faster = {}
        dims = None
        for p in points:
            key, ours, theirs = tuple(int(v) for v in p[:-2]), float(p[-2]), float(p[-1])
            dims = len(key) if dims is None else dims
            if len(key) != dims:
                raise ValueError("routing table: points of one op/dtype must have keys of one length")
            self.faster[key] = ours <= margin * theirs
        self.grid = [sorted({k[d] for k in self.faster}) for d in range(dims or 0)]

    def routes(self, key: Tuple[int, ...]) -> bool:
        if len(key) != len(self.grid) or not self.grid:
            return False
        axes = []
        for v, g in zip(key, self.grid):
            if v < g[0] or v > g[-1]:
                return False
            i = bisect.bisect_left(g, v)
            axes.append((g[i],) if g[i] == v else (g[i - 1], g[i]))
        return all(self.faster.get(c, False) for c in itertools.product(*axes))


class Table:
    def __init__(self, kind: str, data: Optional[dict]):
        self.kind = kind
        self.data = data or {}
        self.source = None
        margin = float(self.data.get("margin", DEFAULT_MARGIN))
        self.rules: Dict[Tuple[str, str], Rule] = {}
        for op, per_dtype in self.data.get("ops", {}).items():
            for dt, points in per_dtype.items():
                self.rules[(op, dt)] = Rule(points, margin)

    def routes(self, op: str, dtype: str, key: Tuple[int, ...]) -> bool:
        rule = self.rules.get((op, dtype))
        return rule is not None and rule.routes(key)

    def ops(self):
        return sorted({op for op, _ in self.rules})


def load(kind: str) -> Table:
    """The table for a device kind; an empty table (route nothing) when there is none."""
    path = table_path(kind)
    if not os.path.exists(path):
        return Table(kind, None)
    with open(path) as f:
        t = Table(kind, json.load(f))
    t.source = path
    return t
