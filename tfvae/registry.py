"""Explicit registries of the library's components.

Every model, network, likelihood, prior and density estimator registers itself under a `kind` and a `name` with the
`register` decorator, so binaries and configurations refer to components by name without elif chains:

    @registry.register("model", "rae")
    class RAE(Autoencoder): ...

    registry.get("model", "rae")  # -> RAE
"""

import inspect

_REGISTRY = {}


def register(kind, name):
    """Registers the decorated object under `(kind, name)`.

    Args:
        kind: str. The family of components, e.g. "model", "network", "density".
        name: str. The public name used on command lines and in configs, e.g. "rae_l2".

    Returns:
        A decorator that registers its argument and returns it unchanged.
    """

    def decorator(obj):
        table = _REGISTRY.setdefault(kind, {})
        if name in table and table[name] is not obj:
            raise ValueError(
                f"Two components are registered as {kind} {name!r}: {table[name]!r} and {obj!r}. "
                f"Give the new one another name. Received: kind={kind!r}, name={name!r}"
            )
        table[name] = obj
        return obj

    return decorator


def get(kind, name):
    """Returns the component registered as `(kind, name)` with an error that lists the valid names."""
    table = _REGISTRY.get(kind, {})
    if name not in table:
        raise ValueError(
            f"Unknown {kind} {name!r}. Expected one of: {', '.join(sorted(table)) or '(none registered)'}. "
            f"Received: {name!r}"
        )
    return table[name]


def names(kind):
    """Returns the sorted names registered under `kind`."""
    return sorted(_REGISTRY.get(kind, {}))


def name_of(kind, obj):
    """Returns the name under which `obj` is registered as a `kind` (the reverse of `get`).

    Saved files record a component by this name, so the name is stated once, in `@register`.

    Args:
        kind: str. The family of components, e.g. "density".
        obj: the registered object, e.g. a class.

    Returns:
        str. The registered name.
    """
    matches = sorted(name for name, registered in _REGISTRY.get(kind, {}).items() if registered is obj)
    if len(matches) != 1:
        problem = "is not registered" if not matches else f"is registered under several names {matches}"
        raise ValueError(f"{obj!r} {problem} as a {kind}; expected exactly one `@registry.register({kind!r}, name)`. "
                         f"Received: {obj!r}")
    return matches[0]


def constructor_arguments(cls):
    """Names of the arguments `cls(...)` takes in the constructors tfvae defines along its MRO (a mixin's too:
    they arrive through **kwargs); Keras' own base arguments are not among them."""
    names = set()
    for base in cls.__mro__:
        if base.__module__.startswith("tfvae.") and "__init__" in vars(base):
            names.update(name for name, parameter in inspect.signature(base.__init__).parameters.items()
                         if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL))
    return names
