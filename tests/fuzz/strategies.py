"""Hypothesis strategies for hostile gRPC requests, built from the protobuf descriptors so every field of every
request message is covered without a hand-written list that could fall behind the protos.

Three kinds of request, each serialized to the bytes sent on the wire:
- ``hostile``: every field may be set to anything its type allows, and worse (SQL metacharacters, NUL, huge
  strings, integer edges, enum numbers no one defined, nested and repeated messages);
- ``mutated``: a *plausible* request (codes, numbers, tax ids and dates of the seeded register, so calls reach
  deep into the use cases) with one or two fields, at any depth, replaced by hostile values;
- ``raw``: a plausible request's bytes damaged below protobuf: invalid UTF-8 in a string field, truncated and
  overlong varints, wrong wire types, lying length prefixes, flipped bytes, truncation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

F = FieldDescriptor
SQL_AND_FORMAT = (
    "'", '"', ";", "--", "/*", "*/", "\x00", "%s", "%(x)s", "%", "\\", "' OR '1'='1", "1'; DROP TABLE invoices;--",
    "\"); DELETE FROM principals; --", "$1", "$$", "{}", "{0}", "%n%n%n", "\u202e", "\ufeff", "𠜎", "\r\n", "NULL",
    "' UNION SELECT secret_hash FROM api_keys --", "../../etc/passwd", "${jndi:ldap://x}", "-0", "1e400", "NaN",
)  # fmt: skip
HUGE_SIZES = (256, 4096, 65_536, 1_000_000)
INT32 = (0, 1, -1, 2**31 - 1, -(2**31), 2**31 - 2, -(2**31) + 1)
INT64 = (*INT32, 2**63 - 1, -(2**63), 2**53 + 1, 10**17, -(10**17), 2**32, -(2**32))
UINT32 = (0, 1, 2**32 - 1, 2**31)
UINT64 = (0, 1, 2**64 - 1, 2**63)
NESTING = 3
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


def huge_strings() -> st.SearchStrategy[str]:
    """One short piece, one time in 16 repeated up to ~1 MB (cheap to draw, unlike a megabyte of random text);
    large strings stay rare, so a run sends some without spending its time moving megabytes."""
    return st.tuples(
        st.integers(0, 15), st.sampled_from(("'", "1", "汉", "%s", "\x00", "9" * 7)), st.sampled_from(HUGE_SIZES)
    ).map(lambda drawn: drawn[1] * (drawn[2] // len(drawn[1].encode())) if drawn[0] == 0 else drawn[1])


def hostile_strings() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(SQL_AND_FORMAT),
        _TEXT,
        st.lists(st.sampled_from(SQL_AND_FORMAT), min_size=2, max_size=6).map("".join),
        st.from_regex(r"[0-9]{1,24}", fullmatch=True),
        huge_strings(),
    )


def _integers(edges: Sequence[int], low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


_SCALARS: dict[int, Callable[[FieldDescriptor], st.SearchStrategy[Any]]] = {
    F.TYPE_STRING: lambda _: hostile_strings(),
    F.TYPE_BYTES: lambda _: st.binary(max_size=64),
    F.TYPE_BOOL: lambda _: st.booleans(),
    F.TYPE_DOUBLE: lambda _: st.floats(),
    F.TYPE_FLOAT: lambda _: st.floats(width=32),
    **dict.fromkeys((F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32), lambda _: _integers(INT32, -(2**31), 2**31 - 1)),
    **dict.fromkeys((F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64), lambda _: _integers(INT64, -(2**63), 2**63 - 1)),
    **dict.fromkeys((F.TYPE_UINT32, F.TYPE_FIXED32), lambda _: _integers(UINT32, 0, 2**32 - 1)),
    **dict.fromkeys((F.TYPE_UINT64, F.TYPE_FIXED64), lambda _: _integers(UINT64, 0, 2**64 - 1)),
    # Open (proto3) enums carry any int32 number, defined or not.
    F.TYPE_ENUM: lambda field: st.one_of(
        st.sampled_from([value.number for value in field.enum_type.values]), _integers(INT32, -(2**31), 2**31 - 1)
    ),
}


def hostile_value(field: FieldDescriptor, depth: int = 0) -> st.SearchStrategy[Any]:
    """A value for ``field``: a list for a repeated field, a message for a message field."""
    if field.type == F.TYPE_MESSAGE:
        single: st.SearchStrategy[Any] = hostile_message(field.message_type, depth + 1)
    else:
        single = _SCALARS[field.type](field)
    if field.is_repeated:
        return st.lists(single, max_size=3 if field.type == F.TYPE_MESSAGE else 5)
    return single


def hostile_message(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any subset of the fields of ``descriptor``, each hostile; submessages down to NESTING levels."""
    if depth >= NESTING:
        return st.just(GetMessageClass(descriptor)())
    optional = {field.name: hostile_value(field, depth) for field in descriptor.fields}
    return st.fixed_dictionaries({}, optional=optional).map(lambda values: build(descriptor, values))


def build(descriptor: Descriptor, values: dict[str, Any]) -> Message:
    message = GetMessageClass(descriptor)()
    for name, value in values.items():
        assign(message, descriptor.fields_by_name[name], value)
    return message


def assign(message: Message, field: FieldDescriptor, value: Any) -> None:
    """Set ``field`` of ``message`` to ``value`` whatever its kind (map, repeated, message, scalar)."""
    target = getattr(message, field.name)
    if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        target.clear()
        for entry in value:
            key_field, value_field = (
                field.message_type.fields_by_name["key"],
                field.message_type.fields_by_name["value"],
            )
            key = getattr(entry, key_field.name)
            if value_field.type == F.TYPE_MESSAGE:
                target[key].CopyFrom(getattr(entry, value_field.name))
            else:
                target[key] = getattr(entry, value_field.name)
    elif field.is_repeated:
        del target[:]
        if field.type == F.TYPE_MESSAGE:
            for item in value:
                target.add().CopyFrom(item)
        else:
            target.extend(value)
    elif field.type == F.TYPE_MESSAGE:
        target.CopyFrom(value)
    else:
        setattr(message, field.name, value)


@dataclass(frozen=True)
class World:
    """What a plausible request draws on: real values from the seeded register and the test's principals."""

    invoices: Sequence[dict[str, Any]]  # id, invoice_type, invoice_code, invoice_number, issue_date, ... qr_payload
    tax_ids: Sequence[str]
    principal_ids: Sequence[str]
    form_ids: Sequence[str]


def plausible_message(descriptor: Descriptor, world: World) -> st.SearchStrategy[Message]:
    """A request that looks right: each field filled by name from one seeded invoice, so that calls pass
    validation and reach the use cases and the queries."""
    return st.one_of([_plausible(descriptor, world, index, 0) for index in range(len(world.invoices))])


# Strategies are built once per (message, invoice) and reused: building them on every draw made generation, not the
# servers, the slowest part of a run.
_PLAUSIBLE: dict[tuple[int, str, int, int], st.SearchStrategy[Message]] = {}


def _plausible(descriptor: Descriptor, world: World, index: int, depth: int) -> st.SearchStrategy[Message]:
    key = (id(world), descriptor.full_name, index, depth)
    if key not in _PLAUSIBLE:
        if depth >= NESTING:
            _PLAUSIBLE[key] = st.just(GetMessageClass(descriptor)())
        else:
            # Every field set, so calls pass validation; members of a oneof optional, since only one may stand.
            values = {
                field.name: _plausible_value(descriptor, field, world, index, depth) for field in descriptor.fields
            }
            alternatives = {name for name, field in descriptor.fields_by_name.items() if field.containing_oneof}
            required = {name: value for name, value in values.items() if name not in alternatives}
            optional = {name: value for name, value in values.items() if name in alternatives}
            _PLAUSIBLE[key] = st.fixed_dictionaries(required, optional=optional).map(
                lambda drawn: build(descriptor, drawn)
            )
    return _PLAUSIBLE[key]


def _plausible_value(
    owner: Descriptor, field: FieldDescriptor, world: World, index: int, depth: int
) -> st.SearchStrategy[Any]:
    invoice = world.invoices[index]
    if field.type == F.TYPE_MESSAGE:
        single: st.SearchStrategy[Any]
        if field.message_type.full_name == "google.type.Date":
            day = invoice["issue_date"]
            single = st.just(build(field.message_type, {"year": day.year, "month": day.month, "day": day.day}))
        else:
            single = _plausible(field.message_type, world, index, depth + 1)
    elif field.type == F.TYPE_ENUM:
        single = st.sampled_from([value.number for value in field.enum_type.values])
    elif field.type == F.TYPE_STRING:
        single = _plausible_string(owner, field.name, world, invoice)
    elif field.type in (F.TYPE_INT64, F.TYPE_INT32, F.TYPE_UINT32, F.TYPE_UINT64):
        single = _plausible_number(field.name, invoice)
    else:
        single = _SCALARS[field.type](field)
    return st.lists(single, min_size=1, max_size=2) if field.is_repeated else single


def _plausible_string(owner: Descriptor, name: str, world: World, invoice: dict[str, Any]) -> st.SearchStrategy[str]:
    if name in ("invoice_code", "invoice_number", "qr_payload"):
        return st.just(invoice[name])
    if name == "check_code":
        return st.just(invoice["check_code"][-6:])
    if name == "payload":
        return st.just(invoice["qr_payload"])
    if name == "region_code":  # a filter beside a tax id (ListInvoices), so often left out
        return st.sampled_from(("", invoice["region_code"]))
    if name.endswith("tax_id"):
        return st.sampled_from([invoice["seller_tax_id"], invoice["buyer_tax_id"], *world.tax_ids])
    if name == "id":
        return (
            st.sampled_from(world.principal_ids) if owner.name == "GetPrincipalRequest" else st.just(str(invoice["id"]))
        )
    if name in ("principal_id", "actor"):
        return st.sampled_from(world.principal_ids)
    if name == "form_id":
        return st.sampled_from(world.form_ids)
    if name == "request_id":
        return st.uuids().map(str)
    if name == "period":
        return st.just(invoice["issue_date"].strftime("%Y-%m"))
    if name in ("page_token", "cursor"):  # a token of our own is never plausible; hostile values cover them
        return st.just("")
    return st.sampled_from(("上海测试科技有限公司", "*信息技术服务*软件开发服务", "test", "fuzz"))


def _plausible_number(name: str, invoice: dict[str, Any]) -> st.SearchStrategy[int]:
    if name in ("amount_fen", "total_fen"):
        return st.sampled_from((invoice["amount_fen"], invoice["total_fen"], 10_000))
    if name == "tax_rate_basis_points":
        return st.sampled_from((1300, 900, 600, 0))
    if name == "year":
        return st.just(invoice["issue_date"].year)
    if name == "month":
        return st.just(invoice["issue_date"].month)
    if name in ("page_size", "quantity", "line_number", "index"):
        return st.integers(0, 50)
    return st.integers(0, 1000)


_MUTATIONS: dict[tuple[str, int], st.SearchStrategy[Callable[[Message], None]]] = {}


def mutation(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Callable[[Message], None]]:
    """An edit of a message of ``descriptor``: one field set hostile, or one submessage edited in turn."""
    key = (descriptor.full_name, depth)
    if key not in _MUTATIONS:
        edits = [_field_mutation(field, depth) for field in descriptor.fields]
        _MUTATIONS[key] = st.one_of(edits) if edits else st.just(lambda message: None)
    return _MUTATIONS[key]


def _field_mutation(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Callable[[Message], None]]:
    replace = hostile_value(field, depth).map(lambda value: lambda message: assign(message, field, value))
    if field.type != F.TYPE_MESSAGE or field.is_repeated or depth + 1 >= NESTING:
        return replace
    deeper = mutation(field.message_type, depth + 1).map(
        lambda edit: lambda message: edit(getattr(message, field.name))
    )
    return st.one_of(replace, deeper)


def mutated_message(descriptor: Descriptor, world: World) -> st.SearchStrategy[Message]:
    def apply(drawn: tuple[Message, list[Callable[[Message], None]]]) -> Message:
        message, edits = drawn
        for edit in edits:
            edit(message)
        return message

    return st.tuples(plausible_message(descriptor, world), st.lists(mutation(descriptor), min_size=1, max_size=2)).map(
        apply
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


INVALID_UTF8 = (b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"ab\xfe", b"\x80" * 8)


def byte_damage(descriptor: Descriptor) -> st.SearchStrategy[Callable[[bytes], bytes]]:
    """A function that damages the serialized bytes of a message of ``descriptor``."""
    numbers = [field.number for field in descriptor.fields] or [1]
    strings = [field.number for field in descriptor.fields if field.type == F.TYPE_STRING] or numbers
    number = st.sampled_from(numbers)
    damages = [
        # invalid UTF-8 in a string field (the last occurrence of a field wins, so it replaces a good value)
        st.tuples(st.sampled_from(strings), st.sampled_from(INVALID_UTF8)).map(
            lambda d: lambda data: data + _tag(d[0], 2) + _varint(len(d[1])) + d[1]
        ),
        # a varint cut off at the end of the message, and one longer than ten bytes
        number.map(lambda n: lambda data: data + _tag(n, 0) + b"\xff\xff"),
        number.map(lambda n: lambda data: data + _tag(n, 0) + b"\xff" * 11 + b"\x01"),
        # a known field with the wrong wire type (fixed32, fixed64, varint, length, start/end group)
        st.tuples(number, st.sampled_from((0, 1, 2, 3, 4, 5, 6, 7))).map(
            lambda d: lambda data: data + _tag(d[0], d[1]) + b"\x01" * 8
        ),
        # a length prefix that promises more than the message holds
        number.map(lambda n: lambda data: data + _tag(n, 2) + _varint(2**31 - 1) + b"x"),
        # the message cut anywhere, or a few bytes flipped
        st.floats(0, 1, exclude_max=True).map(lambda cut: lambda data: data[: int(len(data) * cut)]),
        st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4).map(
            lambda flips: lambda data: _flip(data, flips)
        ),
        # field number 0 and the largest field number
        st.just(lambda data: data + b"\x00\x01"),
        st.just(lambda data: data + _tag(2**29 - 1, 0) + b"\x01"),
    ]
    return st.one_of(damages)


def _flip(data: bytes, flips: list[tuple[float, int]]) -> bytes:
    if not data:
        return bytes(value for _, value in flips)
    out = bytearray(data)
    for where, value in flips:
        out[int(len(out) * where)] = value
    return bytes(out)


def raw_request(descriptor: Descriptor, world: World) -> st.SearchStrategy[bytes]:
    return st.tuples(plausible_message(descriptor, world), byte_damage(descriptor)).map(
        lambda drawn: drawn[1](drawn[0].SerializeToString())
    )


# How often each kind is drawn, out of 10: hypothesis's own choice among one_of branches leaned on one kind.
KIND_SHARES = {"hostile": 3, "mutated": 2, "raw": 3, "plausible": 2}


def request_bytes(descriptor: Descriptor, world: World) -> st.SearchStrategy[tuple[str, bytes]]:
    """(kind, serialized request): one of the three hostile kinds, or a plausible request as it is (so some calls
    are accepted, and the rows they write can be told from rows a refused call would have written)."""
    kinds = {
        "hostile": hostile_message(descriptor).map(lambda message: ("hostile", message.SerializeToString())),
        "mutated": mutated_message(descriptor, world).map(lambda message: ("mutated", message.SerializeToString())),
        "raw": raw_request(descriptor, world).map(lambda data: ("raw", data)),
        "plausible": plausible_message(descriptor, world).map(
            lambda message: ("plausible", message.SerializeToString())
        ),
    }
    table = [kinds[kind] for kind, share in KIND_SHARES.items() for _ in range(share)]
    return st.integers(0, len(table) - 1).flatmap(lambda n: table[n])
