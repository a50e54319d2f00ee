"""Backends kept per model object between calls (the nodes run one model many times).

Entries are keyed weakly by the model itself, never by `id()`: a freed model's id is reused by the next model,
a weak reference dies with its model. A model's scale and alpha are part of the key (they can be changed in
place with `set_scale` / `set_upsampler_alpha`)."""
from __future__ import annotations

import weakref
from collections import OrderedDict

from ..fuse import unwrap
from .make import make_backend
from .protocol import Backend


class BackendCache:
    """`get(model, backend, precision, device, **options)` -> a Backend, made once per model object and
    (backend, precision, device, scale, alpha); at most `per_model` kept per model, least recently used first out.
    `options` (e.g. a progress callback) are used when a backend is made and are not part of the key."""

    def __init__(self, per_model: int = 4) -> None:
        self.per_model = per_model
        self._entries: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get(self, model, backend: str, precision: str, device, **options) -> Backend:
        net = unwrap(model)
        entries = self._entries.setdefault(net, OrderedDict())
        key = (backend, precision, str(device), tuple(float(v) for v in net.scale), float(net.upsampler_alpha))
        if key not in entries:
            entries[key] = make_backend(net, backend, precision, device, **options)
            while len(entries) > self.per_model:
                entries.popitem(last=False)
        entries.move_to_end(key)
        return entries[key]

    def __len__(self) -> int:
        return sum(len(v) for v in self._entries.values())
