"""Everything `--json` prints goes through here, so every command writes the same JSON: protobuf's JSON mapping
with the proto field names (``invoice_number``, ``amount_fen``: the names in protos/ and the SDK), int64 amounts as
strings of integer fen as the mapping writes them, enums by name. The CLI's own objects (errors, batch rows,
receipt statements) use snake_case keys too, so a script reads one spelling whatever the command."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message


def message_data(message: Message) -> dict[str, Any]:
    """A message as the plain data --json prints, for embedding in an object of the CLI's own."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def message_json(message: Message, *, one_line: bool = False) -> str:
    """One message: indented, or on one line for streams and lists (one object per line)."""
    return json_format.MessageToJson(
        message, ensure_ascii=False, indent=None if one_line else 2, preserving_proto_field_name=True
    )


def data_json(data: Any, *, one_line: bool = False) -> str:
    """The CLI's own objects (snake_case keys by convention), written like messages."""
    return json.dumps(data, ensure_ascii=False, indent=None if one_line else 2)
