"""The signing commands of `fapiao` against a real server: verify --receipt saves a receipt, public-keys saves the
keys, and receipt check proves it offline (exit 0) or refuses an altered one (exit 8)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from fapiao_server.keys.signing import SigningKey
from tests.conftest import Register
from tests.e2e.test_cli_e2e import _flags, fapiao
from tests.support.server import ServerProcess
from tests.support.signing import fleet_signing_key


def test_a_saved_receipt_checks_offline_and_an_altered_one_does_not(
    server: ServerProcess, register: Register, tmp_path: Path
) -> None:
    sample = register.sample("invoice_type = 4 AND state = 1")
    receipt, keys = tmp_path / "receipt.json", tmp_path / "keys.json"
    verified = fapiao("verify", *_flags(server, sample), "--receipt", str(receipt))
    assert verified.returncode == 0, verified.stderr
    saved = fapiao("public-keys", "--target", server.address, "-o", str(keys))
    assert saved.returncode == 0, saved.stderr
    assert fleet_signing_key().key_id in {k["keyId"] for k in json.loads(keys.read_text())["keys"]}

    checked = fapiao("receipt", "check", str(receipt), "--keys", str(keys), "--target", "127.0.0.1:1")  # offline
    assert checked.returncode == 0, checked.stderr
    assert "MATCH" in checked.stdout and sample.invoice_number in checked.stdout
    as_json = json.loads(fapiao("receipt", "check", str(receipt), "--keys", str(keys), "--json").stdout)
    assert as_json["asked"]["invoice_number"] == sample.invoice_number and as_json["outcome"] == "MATCH"
    online = fapiao("receipt", "check", str(receipt), "--target", server.address)  # keys fetched from the register
    assert online.returncode == 0, online.stderr

    document = json.loads(receipt.read_text())
    document["keyId"] = "0" * 16
    receipt.write_text(json.dumps(document))
    refused = fapiao("receipt", "check", str(receipt), "--keys", str(keys))
    assert refused.returncode == 8 and "UNKNOWN_KEY" in refused.stderr


def test_signing_key_new_writes_a_private_key_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing-2027.pem"
    made = fapiao("signing-key", "new", str(path))
    assert made.returncode == 0, made.stderr
    key = SigningKey.load(path)
    assert key.key_id in made.stdout and stat.S_IMODE(path.stat().st_mode) == 0o600
    again = fapiao("signing-key", "new", str(path))
    assert again.returncode == 2 and "exists" in again.stderr
    assert SigningKey.load(path).key_id == key.key_id  # never overwritten
