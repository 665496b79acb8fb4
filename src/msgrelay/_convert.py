"""cattrs building blocks shared by the Upscale and Collect converters.

* strict primitive hooks: a vendor sending ``"12"`` where the contract says an integer is reported,
  not silently coerced (cattrs' default ``str(v)`` / ``int(v)`` would hide it);
* "open" classes: keys a class does not know are kept in its ``extra`` dict on the way in and written
  back on the way out, so nothing the vendor adds is lost in a round trip;
* one function that turns cattrs' nested validation errors into a wire path
  (``campaign.leads_data[12].external_prospect_id``);
* arrays structured with a cap on the problems collected: cattrs' own hook builds one exception per bad
  element, so a hostile array of a million bad items cost seconds and gigabytes to refuse; ours stops
  at `msgrelay.errors.MAX_PROBLEMS` and says how many items were left unchecked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.dispatch import StructureHook
from cattrs.errors import IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.orjson import OrjsonConverter
from cattrs.preconf.orjson import make_converter as make_orjson_converter

from msgrelay.errors import MAX_PROBLEMS

T = TypeVar("T")

EXTRA = "extra"

#: Attribute → wire key of each class registered with `register_open_class`, for error paths.
_WIRE_NAMES: dict[type, dict[str, str]] = {}


def _fail(expected: str, value: Any) -> TypeError:
    return TypeError(f"expected {expected}, got {type(value).__name__} {value!r:.60}")


def structure_str(value: Any, _: Any) -> str:
    """A string, exactly."""
    if type(value) is str:
        return value
    raise _fail("a string", value)


def structure_optional_str(value: Any, _: Any) -> str | None:
    """A string or null."""
    if value is None or type(value) is str:
        return value
    raise _fail("a string or null", value)


#: The integers JSON can carry through msgrelay: orjson (the ledger, the store, every payload we write)
#: refuses anything past 64 bits, so a bigger one is refused on the way in, where its path is known.
_INT_RANGE = range(-(2**63), 2**64)


def structure_int(value: Any, _: Any) -> int:
    """An integer (not a bool, not a float) within 64 bits."""
    if type(value) is int and value in _INT_RANGE:
        return value
    raise _fail("an integer within 64 bits", value)


def structure_optional_int(value: Any, _: Any) -> int | None:
    """An integer within 64 bits, or null."""
    if value is None or (type(value) is int and value in _INT_RANGE):
        return value
    raise _fail("an integer within 64 bits, or null", value)


def _storable(extra: dict[str, Any]) -> None:
    """Unknown keys are kept and written back with orjson: refuse now what it could not write later."""
    for key, value in extra.items():
        try:
            orjson.dumps(value)
        except TypeError as exc:  # orjson.JSONEncodeError: an integer past 64 bits, nesting past 254
            raise TypeError(f"{key}: cannot be kept ({exc})") from None


def structure_bool(value: Any, _: Any) -> bool:
    """A JSON boolean."""
    if type(value) is bool:
        return value
    raise _fail("a boolean", value)


def structure_optional_bool(value: Any, _: Any) -> bool | None:
    """A JSON boolean or null."""
    if value is None or type(value) is bool:
        return value
    raise _fail("a boolean or null", value)


def passthrough(value: Any, _: Any = None) -> Any:
    """Keep a JSON value as it is."""
    return value


class UncheckedItemsError(ValueError):
    """The rest of an array was not checked: enough problems were found already."""


def _is_array(cls: Any) -> bool:
    # list[X], Sequence[X], MutableSequence[X] and tuple[X, ...]: the shapes a JSON array structures to.
    args = getattr(cls, "__args__", ())
    if not args or not cattrs.cols.is_sequence(cls):
        return False  # a bare list has no element type to check
    if getattr(cls, "__origin__", None) is tuple:
        return len(args) == 2 and args[1] is Ellipsis  # tuple[X, Y] is a record, not an array
    return len(args) == 1


def capped_array_hook(cls: Any, conv: cattrs.BaseConverter) -> StructureHook:
    """A structure hook for a homogeneous array that stops after `MAX_PROBLEMS` bad elements.

    The error is cattrs' own `IterableValidationError` (so paths come out as before), holding the
    problems found and, when it stopped early, one `UncheckedItemsError` naming how many items were left.
    """
    elem_type = cls.__args__[0]
    make = tuple if getattr(cls, "__origin__", None) is tuple else list
    try:
        handler = conv.get_structure_hook(elem_type)
    except RecursionError:  # a self-referencing type: bind late, as cattrs does
        handler = conv.structure

    def structure(obj: Iterable[Any], _: Any = cls) -> Any:
        errors: list[Exception] = []
        out = []
        for index, item in enumerate(obj):
            try:
                out.append(handler(item, elem_type))
            except Exception as exc:  # any failure is this element's problem, placed by its index
                exc.__notes__ = [
                    *getattr(exc, "__notes__", []),
                    IterableValidationNote(f"Structuring {cls} @ index {index}", index, elem_type),
                ]
                errors.append(exc)
                if len(errors) >= MAX_PROBLEMS:
                    left = len(obj) - index - 1 if isinstance(obj, list | tuple) else None
                    if left != 0:
                        count = f"{left} more items" if left is not None else "the remaining items"
                        errors.append(
                            UncheckedItemsError(f"{count} not checked after {MAX_PROBLEMS} problems")
                        )
                    break
        if errors:
            raise cattrs.IterableValidationError(f"While structuring {cls!r}", errors, cls)
        return make(out)

    return structure


def make_converter() -> OrjsonConverter:
    """An orjson-preconfigured converter with strict primitives and detailed validation."""
    conv = make_orjson_converter(detailed_validation=True)
    conv.register_structure_hook_factory(_is_array, capped_array_hook)
    conv.register_structure_hook(str, structure_str)
    conv.register_structure_hook(str | None, structure_optional_str)
    conv.register_structure_hook(int, structure_int)
    conv.register_structure_hook(int | None, structure_optional_int)
    conv.register_structure_hook(bool, structure_bool)
    conv.register_structure_hook(bool | None, structure_optional_bool)
    is_json_object = is_exactly(dict[str, Any])
    conv.register_structure_hook_func(is_json_object, lambda v, _: _require_object(v))
    conv.register_unstructure_hook_func(is_json_object, passthrough)
    conv.register_structure_hook_func(is_exactly(Any), passthrough)
    return conv


def is_exactly(expected: Any) -> Callable[[Any], bool]:
    """A hook predicate matching one type exactly (for generic aliases such as ``dict[str, Any]``)."""
    return lambda t: bool(t == expected)


def _require_object(value: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise _fail("an object", value)


def slot_setters(cls: type) -> dict[str, Callable[[Any, Any], None]]:
    """Attribute name → the C-level store of its slot, for every attribute of an attrs class, in order.

    For builders of many instances at once (decoders), which create the object with
    ``object.__new__`` and fill each slot: several times cheaper than a frozen class's ``__init__``.
    That skips only what ``__init__`` would run besides the stores, so a class with validators,
    converters, a post-init hook or a cached hash is refused rather than built wrongly.
    """
    fields = attrs.fields(cls)
    slots = getattr(cls, "__slots__", ())
    if "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a slotted attrs class")
    for attribute in fields:
        if attribute.validator is not None or attribute.converter is not None:
            raise TypeError(f"{cls.__name__}.{attribute.name} has a validator or converter")
    hooks = ("__attrs_post_init__", "__attrs_pre_init__")
    if any(hasattr(cls, hook) for hook in hooks) or "_attrs_cached_hash" in slots:
        raise TypeError(f"{cls.__name__} runs code in __init__ beyond its stores")
    return {attribute.name: getattr(cls, attribute.name).__set__ for attribute in fields}


def wire_names(cls: type, renames: Mapping[str, str]) -> dict[str, str]:
    """Attribute name → wire key for every field of ``cls`` except ``extra``."""
    return {a.name: renames.get(a.name, a.name) for a in attrs.fields(cls) if a.name != EXTRA}


def register_open_class(
    conv: cattrs.Converter,
    cls: type[T],
    *,
    renames: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
    omit_none: frozenset[str] = frozenset(),
    local: frozenset[str] = frozenset(),
) -> None:
    """Register structure and unstructure hooks that keep unknown keys in ``cls.extra``.

    Args:
        renames: attribute → wire key where they differ (``message_type`` → ``messageType``).
        aliases: other wire key → attribute, accepted on the way in (``generated_messages_count``
            for ``generated_message_count``); the canonical key is written on the way out.
        omit_none: attributes left out of the wire object when None (optional request fields).
        local: attributes that are not on the wire at all (left at their default when structuring).
    """
    renames = dict(renames or {})
    aliases = dict(aliases or {})
    names = {attr: key for attr, key in wire_names(cls, renames).items() if attr not in local}
    _WIRE_NAMES[cls] = names
    known = frozenset(names.values())
    # Typed as Any: cattrs takes the per-attribute overrides as **kwargs beside its own flags.
    structure_overrides: dict[str, Any] = {
        attr: override(rename=key) for attr, key in names.items() if attr != key
    }
    structure_overrides.update({attr: override(omit=True) for attr in local})
    structure_overrides[EXTRA] = override(struct_hook=passthrough)
    base_structure = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=False, **structure_overrides)
    alias_targets = {alias: names[attr] for alias, attr in aliases.items()}

    def structure(data: Any, _: Any) -> T:
        if type(data) is not dict:
            raise _fail("an object", data)
        if alias_targets:
            data = _apply_aliases(data, alias_targets)
        extra = {k: v for k, v in data.items() if k not in known}
        if extra:
            _storable(extra)
            data = {**data, EXTRA: extra}
        return base_structure(data, cls)

    unstructure_overrides: dict[str, Any] = {
        attr: override(rename=key, omit_if_default=attr in omit_none) for attr, key in names.items()
    }
    unstructure_overrides.update({attr: override(omit=True) for attr in (*local, EXTRA)})
    base_unstructure = make_dict_unstructure_fn(cls, conv, **unstructure_overrides)

    def unstructure(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = base_unstructure(obj)
        if omit_none:
            for attr in omit_none:
                key = names[attr]
                if key in out and out[key] is None:
                    del out[key]
        if obj.extra:
            # Declared fields win: an unknown key can never replace a validated one.
            out = {**obj.extra, **out}
        return out

    conv.register_structure_hook(cls, structure)
    conv.register_unstructure_hook(cls, unstructure)


def _apply_aliases(data: dict[str, Any], alias_targets: Mapping[str, str]) -> dict[str, Any]:
    if not any(alias in data for alias in alias_targets):
        return data
    out = dict(data)
    for alias, canonical in alias_targets.items():
        if alias in out:
            value = out.pop(alias)
            out.setdefault(canonical, value)
    return out


def _describe(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    return str(exc) or type(exc).__name__


def _leaves(exc: BaseException, path: str) -> list[tuple[str, str]]:
    # cattrs' own transform_error names attributes; a reader of the body needs its keys, so each
    # class's attribute names are mapped back to the wire names `register_open_class` recorded.
    if isinstance(exc, cattrs.IterableValidationError):
        with_notes, without = exc.group_exceptions()
        found = [leaf for sub, note in with_notes for leaf in _leaves(sub, f"{path}[{note.index!r}]")]
        return found + [(path, _describe(sub, None)) for sub in without]
    if isinstance(exc, cattrs.ClassValidationError):
        names = _WIRE_NAMES.get(exc.cl, {})
        by_field, unplaced = exc.group_exceptions()
        leaves: list[tuple[str, str]] = []
        for sub, field in by_field:
            key = names.get(field.name, field.name)
            leaves.extend(_leaves(sub, f"{path}.{key}" if path else key))
        return leaves + [(path, _describe(sub, None)) for sub in unplaced]
    return [(path, _describe(exc, None))]


def error_paths(exc: BaseException, root: str = "") -> list[tuple[str, str]]:
    """``(wire path, message)`` for each leaf of a cattrs validation error.

    Paths use wire names (``campaign.message_sequence[1].messageType``), prefixed by ``root`` if given.
    """
    return _leaves(exc, root)


def structure_with_path(
    conv: cattrs.Converter, data: Any, cls: type[T], on_error: Callable[[str, str], Exception]
) -> T:
    """`conv.structure`, turning the first validation failure into ``on_error(path, message)``."""
    try:
        return conv.structure(data, cls)
    except STRUCTURE_ERRORS as exc:
        raise on_error(*first_problem(exc)) from None


#: What structuring untrusted data may raise besides cattrs' own errors: a wrong type, a value out of
#: range (an integer past what a field holds), and a value nested deeper than Python's recursion limit.
STRUCTURE_ERRORS = (
    cattrs.BaseValidationError,
    TypeError,
    ValueError,
    KeyError,
    OverflowError,
    RecursionError,
)


def first_problem(exc: BaseException) -> tuple[str, str]:
    """``(wire path, message)`` of the first thing wrong, for any of `STRUCTURE_ERRORS`."""
    if isinstance(exc, cattrs.BaseValidationError):
        return error_paths(exc)[0]
    if isinstance(exc, RecursionError):
        return "", "nested too deeply"
    return "", f"{type(exc).__name__}: {exc}"
