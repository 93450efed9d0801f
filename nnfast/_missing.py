"""The guiding edge: asking nnfast for a PyTorch API it does not have yet says so.

`install(cls, space)` does it for a class whose instances must stay fast to probe (Tensor:
NumPy looks up __array_struct__ & co. on every conversion, and any __getattr__ makes that
~8x slower): each name of `space` the class lacks becomes a descriptor that raises the
same AttributeError; a method bound later simply replaces it.

`module_getattr(module_name, torch_space)` makes a module-level __getattr__ (PEP 562) that
Python calls only for names the module lacks: a name PyTorch's namespace has raises
AttributeError naming the PyTorch API and saying nnfast does not have it yet; any other
name gets the usual "module has no attribute" error. `attribute_error(owner, name, space)`
does the same for objects (Tensor, Module). The torch names are generated once from torch
(tools/gen_torch_names.py -> nnfast/_torch_names.py); torch is never imported here.
"""
from ._torch_names import NAMES

__all__ = ["module_getattr", "attribute_error", "torch_has", "install", "is_missing"]


def torch_has(space, name):
    return name in NAMES.get(space, ())


def _missing_message(space, name):
    return (f"nnfast does not have {space}.{name} yet: PyTorch has it, nnfast implements a "
            f"part of PyTorch's API so far (see the README for what is there)")


def module_getattr(module_name, space):
    def __getattr__(name):
        if torch_has(space, name):
            raise AttributeError(_missing_message(space, name), name=name)
        raise AttributeError(f"module '{module_name}' has no attribute '{name}'", name=name)
    return __getattr__


def attribute_error(obj, name, space):
    """The AttributeError for obj.name, obj an instance of a class mirroring `space`."""
    if torch_has(space, name):
        return AttributeError(_missing_message(space, name), name=name, obj=obj)
    return AttributeError(f"'{type(obj).__name__}' object has no attribute '{name}'",
                          name=name, obj=obj)


class _Missing:
    """A class attribute standing for a PyTorch API that nnfast does not have yet."""
    __slots__ = ("space", "name")

    def __init__(self, space, name):
        self.space, self.name = space, name

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        raise AttributeError(_missing_message(self.space, self.name), name=self.name)

    def __repr__(self):
        return f"<not in nnfast yet: {self.space}.{self.name}>"


def install(cls, space):
    """Give cls a _Missing descriptor for every name of `space` it does not define."""
    for name in NAMES.get(space, ()):
        if not any(name in k.__dict__ for k in cls.__mro__):
            setattr(cls, name, _Missing(space, name))


def is_missing(cls, name):
    for k in cls.__mro__:
        if name in k.__dict__:
            return isinstance(k.__dict__[name], _Missing)
    return False
