"""cluster_utils' ``--parameter-dict "{...}"``, read as data under numpy 1 and 2 alike.

cluster_utils 3.0 writes a job's settings into its script with ``str(dict)``. Under
numpy 2 (NEP 51) a sampled value prints as ``np.int64(8)``, ``np.float64(0.001)``,
``np.True_`` or ``np.str_('auto')``, which ``ast.literal_eval`` (cluster_utils' own job
parser) rejects: every job of such a sweep failed within a second. The launcher hands
the jobs plain Python values (learning.launch.cluster_utils_patches); a sweep started
with ``python -m cluster_utils.hp_optimization`` directly still writes the numpy forms,
so the job reads them too.

:func:`parse_parameter_dict` walks the expression's syntax tree and accepts only
literals (strings, numbers, True/False/None, dicts, lists, tuples, signs) and numpy's
scalar forms: ``np.<type>(<literal>)`` for numpy's bool, int, uint, float and str
types (also spelled ``numpy.``), ``np.True_``, ``np.False_``, and ``nan``/``inf`` inside a
float. Nothing is evaluated, imported or called: the numpy forms become the plain
Python value of the literal inside (``np.int64(8)`` -> ``8``). Anything else is a
:class:`ParameterDictError` naming what was found.
"""

from __future__ import annotations

import ast
import math
from typing import Any

NUMPY_MODULES = ("np", "numpy")
#: numpy scalar type -> the Python type of its value
NUMPY_SCALARS = {
    **{name: int for name in ("int8", "int16", "int32", "int64", "intc", "intp", "int_",
                              "uint8", "uint16", "uint32", "uint64", "uintc", "uintp",
                              "longlong", "ulonglong", "short", "ushort", "byte", "ubyte")},
    **{name: float for name in ("float16", "float32", "float64", "float_", "double",
                                "single", "half", "longdouble")},
    **{name: bool for name in ("bool", "bool_")},
    **{name: str for name in ("str_", "unicode_")},
}
NUMPY_CONSTANTS = {"True_": True, "False_": False}
NON_FINITE = {"nan": math.nan, "inf": math.inf}


class ParameterDictError(ValueError):
    """The parameter dict is not plain data; the message says what was found."""


def _numpy_name(node: ast.AST) -> str | None:
    """``x`` for the expression ``np.x`` / ``numpy.x``, else None."""
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id in NUMPY_MODULES):
        return node.attr
    return None


def _number(node: ast.AST) -> Any:
    """A numeric literal with its signs, or nan/inf (only inside a numpy float)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(node.operand)
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.Name) and node.id in NON_FINITE:
        return NON_FINITE[node.id]
    return _value(node)


def _scalar_call(node: ast.Call) -> Any:
    name = _numpy_name(node.func)
    if name not in NUMPY_SCALARS or len(node.args) != 1 or node.keywords:
        raise ParameterDictError(f"a call {ast.unparse(node)!r}; valid: only numpy scalars"
                                 " such as np.int64(8), np.float64(0.5), np.str_('x')")
    kind = NUMPY_SCALARS[name]
    inner = _number(node.args[0]) if kind is float else _value(node.args[0])
    if kind is bool and not isinstance(inner, bool):
        raise ParameterDictError(f"{ast.unparse(node)!r} does not hold True or False")
    if kind is int and (isinstance(inner, bool) or not isinstance(inner, int)):
        raise ParameterDictError(f"{ast.unparse(node)!r} does not hold an integer")
    if kind is float and (isinstance(inner, bool) or not isinstance(inner, (int, float))):
        raise ParameterDictError(f"{ast.unparse(node)!r} does not hold a number")
    if kind is str and not isinstance(inner, str):
        raise ParameterDictError(f"{ast.unparse(node)!r} does not hold a string")
    return kind(inner)


def _value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and not isinstance(node.value, (bytes, complex)) \
            and node.value is not Ellipsis:
        return node.value
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise ParameterDictError("a '**' inside a dict; valid: plain keys")
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.List):
        return [_value(item) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(item) for item in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _value(node.operand)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterDictError(f"a sign before {ast.unparse(node.operand)!r}")
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call):
        return _scalar_call(node)
    name = _numpy_name(node)
    if name in NUMPY_CONSTANTS:
        return NUMPY_CONSTANTS[name]
    raise ParameterDictError(f"{ast.unparse(node)!r} is not a literal; valid: strings,"
                             " numbers, True/False/None, dicts, lists, tuples and numpy"
                             " scalars (np.int64(8), np.True_, ...)")


def parse_parameter_dict(text: str) -> dict[str, Any]:
    """The settings dict of ``--parameter-dict``, as plain Python values."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ParameterDictError(f"not a Python dict literal ({e.msg})") from e
    value = _value(tree.body)
    if not isinstance(value, dict):
        raise ParameterDictError(f"a {type(value).__name__}, not a dict")
    return value


def plain_repr(settings: dict[str, Any]) -> str:
    """``settings`` written back as cluster_utils' parser reads it (ast.literal_eval).

    Non-finite floats have no literal; they are refused (no learner setting takes one).
    """
    def check(value: Any, where: str) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterDictError(f"setting {where or '(top level)'} is {value!r}; valid:"
                                     " a finite number")
        if isinstance(value, dict):
            for key, item in value.items():
                check(item, f"{where}.{key}" if where else str(key))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                check(item, f"{where}:{index}")

    check(settings, "")
    return repr(settings)
