"""RemovableHandle (torch.utils.hooks.RemovableHandle): what registering a hook returns."""
import weakref

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """handle.remove() takes the hook out of the dicts it was put in; usable as a context
    manager. Holds the dicts weakly, as torch does, so a handle does not keep a module alive."""
    next_id = 0

    def __init__(self, hooks_dict, *, extra_dict=None):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        extras = extra_dict if isinstance(extra_dict, (list, tuple)) else \
            ([] if extra_dict is None else [extra_dict])
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

    def remove(self):
        d = self.hooks_dict_ref()
        if d is not None and self.id in d:
            del d[self.id]
        for ref in self.extra_dict_ref:
            d = ref()
            if d is not None:
                d.pop(self.id, None) if isinstance(d, dict) else d.discard(self.id)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
