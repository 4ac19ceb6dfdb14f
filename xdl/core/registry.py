"""Keras's registry of one's own classes and functions (``register_keras_serializable``,
io/saving.py, fills it): looked up by files and by layers whose arguments may name a
registered function (TextVectorization's ``standardize``)."""

from __future__ import annotations

#: "package>name" -> the class or function; and by the name files write (its ``__name__``)
REGISTERED, BY_NAME = {}, {}


def get_registered_name(obj) -> str:
    """The key ``obj`` is registered under (``"package>name"``), else its ``__name__``."""
    for key, value in REGISTERED.items():
        if value is obj:
            return key
    return getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(name, custom_objects=None, module_objects=None):
    """Keras's lookup: ``custom_objects``, then the registry (by ``"package>name"`` or by the
    object's own name), then ``module_objects``; None when none has it."""
    for table in (custom_objects, REGISTERED, BY_NAME, module_objects):
        if table and name in table:
            return table[name]
    return None
