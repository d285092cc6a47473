"""An error must be small enough to reach its caller: gRPC clients refuse trailers past 8 KiB by default, so a
request with hundreds of bad fields is answered with the first ones and a count of the rest."""

from __future__ import annotations

import base64

from google.rpc import error_details_pb2

from fapiao_server.domain.errors import FieldViolation, InvalidArgument
from fapiao_server.transport.errors import status_for

# What gRPC core accepts by default for a response's metadata (grpc.max_metadata_size); trailers and headers share
# it, so the status must stay well under.
CLIENT_METADATA_LIMIT = 8 * 1024


def _violations(status: object) -> list[error_details_pb2.BadRequest.FieldViolation]:
    for detail in status.details:  # type: ignore[attr-defined]
        found = error_details_pb2.BadRequest()
        if detail.Unpack(found):
            return list(found.field_violations)
    raise AssertionError("no BadRequest")


def _wire_size(status: object) -> int:
    details = len(base64.b64encode(status.SerializeToString()))  # type: ignore[attr-defined]
    message = sum(1 if " " <= c <= "~" and c != "%" else 3 * len(c.encode()) for c in status.message)  # type: ignore[attr-defined]
    return details + message


def test_a_few_violations_are_all_listed_as_they_are() -> None:
    error = InvalidArgument([FieldViolation(f"lines[{n}].amount_fen", "must be positive") for n in range(5)])
    status = status_for(error)
    assert [(v.field, v.description) for v in _violations(status)] == [
        (f"lines[{n}].amount_fen", "must be positive") for n in range(5)
    ]
    assert status.message == error.message


def test_hundreds_of_violations_fit_the_trailers_and_say_how_many_are_left_out() -> None:
    description = "必须填写货物或应税劳务、服务名称 (the item's name is required)"
    error = InvalidArgument([FieldViolation(f"lines[{n}].item_name", description) for n in range(1000)])
    status = status_for(error)
    listed = _violations(status)
    assert _wire_size(status) < CLIENT_METADATA_LIMIT * 0.8
    assert 10 < len(listed) < 1000
    assert listed[0].field == "lines[0].item_name"
    last = listed[-1]
    assert last.field == "request" and last.description.startswith(f"{1000 - (len(listed) - 1)} more invalid fields")
    assert "lines[0].item_name" in status.message and "lines[999]" not in status.message


def test_one_enormous_description_is_cut() -> None:
    status = status_for(InvalidArgument([FieldViolation("remarks", "x" * 100_000)]))
    assert _wire_size(status) < CLIENT_METADATA_LIMIT * 0.8
    assert _violations(status)[0].description.endswith("…")
    assert status.message.endswith("...")
