"""PyTorch, without importing it: DataLoader workers and torch's ``IterableDataset`` type.

:func:`register_with_torch` makes a class a ``torch.utils.data.IterableDataset`` (a virtual
subclass: torch's class is an ABC) when torch is already imported, at once; otherwise when
``torch.utils.data`` is first imported (an import hook). :func:`worker_split` tells a stream which
DataLoader worker it runs in. Neither imports torch, so the package works without it.

>>> worker_split() is None  # not inside a DataLoader worker
True
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

TORCH_DATA = "torch.utils.data"


def worker_split() -> tuple[int, int] | None:
    """``(num_workers, worker id)`` inside a DataLoader worker process, else None (never imports torch)."""
    data = sys.modules.get(TORCH_DATA)
    if data is None:
        return None
    info = data.get_worker_info()
    if info is None or info.num_workers <= 1:
        return None
    return info.num_workers, info.id


_REGISTERED: list[type] = []


def register_with_torch(cls: type) -> None:
    """Make ``cls`` a virtual subclass of ``torch.utils.data.IterableDataset``, without importing torch."""
    _REGISTERED.append(cls)
    if TORCH_DATA in sys.modules:
        _register(sys.modules[TORCH_DATA])
    elif not any(isinstance(f, _TorchHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchHook())


def _register(module: object) -> None:
    base = getattr(module, "IterableDataset", None)
    if base is None:
        return
    for cls in _REGISTERED:
        if not issubclass(cls, base):
            base.register(cls)  # an ABC: DataLoader's isinstance check now holds


class _TorchHook(importlib.abc.MetaPathFinder):
    """Registers the classes once ``torch.utils.data`` has been imported, then removes itself."""

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN201
        if fullname != TORCH_DATA:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_register(module: object) -> None:
            exec_module(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _register(module)

        loader.exec_module = exec_and_register
        return spec
