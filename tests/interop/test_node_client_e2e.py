"""A Node.js client built from protos/ alone (tests/interop/client.js, @grpc/grpc-js) against a real register:
it verifies an invoice, issues one, and reads the register's refusals from the grpc-status-details-bin trailer
(google.rpc.Status with ErrorInfo, BadRequest, RetryInfo and QuotaFailure), as an integrator in another language
must. If a detail we send is not described in protos/, or the contract needs a file protos/ lacks, this fails."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from typing import Any

import pytest

from tests.conftest import Register
from tests.support.server import ServerProcess

from .conftest import DAILY_VERIFICATIONS, ROOT, node_path

pytestmark = pytest.mark.slow
CLIENT = ROOT / "tests" / "interop" / "client.js"


def _date(day: Any) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


def _plan(address: str, key: str, register: Register, seller: str) -> dict[str, Any]:
    sample = register.sample("invoice_type = 4 AND state = 1")  # a general VAT invoice: verified by check code
    line = {"item_name": "*信息技术服务*软件开发服务", "amount_fen": "30100", "tax_rate_basis_points": 1300}
    issue = {
        "request_id": str(uuid.uuid4()),
        "invoice_type": "INVOICE_TYPE_E_VAT_GENERAL",
        "seller": {"tax_id": seller, "name": "上海测试科技有限公司"},
        "buyer": {"name": "上海采购有限公司"},
        "lines": [line],
        "issuer_name": "张三",
    }
    # Two mistakes at once: the register names both fields.
    bad_line = {**line, "amount_fen": "-5", "tax_rate_basis_points": 123456}
    return {
        "target": address,
        "api_key": key,
        "verify": {
            "invoice_code": sample.invoice_code,
            "invoice_number": sample.invoice_number,
            "issue_date": _date(sample.issue_date),
            "check_code": sample.check_code[-6:],
        },
        "issue": issue,
        "bad_issue": {**issue, "request_id": str(uuid.uuid4()), "lines": [bad_line]},
        "verify_until_refused": DAILY_VERIFICATIONS + 1,
    }


def test_a_node_client_verifies_issues_and_reads_the_error_details(
    node: str, register_server: ServerProcess, register: Register, taxpayer_key: str, seller: str
) -> None:
    plan = _plan(register_server.address, taxpayer_key, register, seller)
    run = subprocess.run(
        [node, str(CLIENT)],
        input=json.dumps(plan),
        env={**os.environ, "NODE_PATH": node_path()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)

    assert out["verify"] == {
        "outcome": "VERIFICATION_OUTCOME_MATCH",
        "invoice_number": plan["verify"]["invoice_number"],
        "verifications_left_today": DAILY_VERIFICATIONS - 1,
    }
    issued = out["issue"]
    assert issued["state"] == "INVOICE_STATE_ISSUED" and issued["total_fen"] == str(30100 + 3913), issued
    assert out["issue_repeated"] == {"invoice_number": issued["invoice_number"]}  # the same request id: not twice

    bad = out["bad_request"]
    assert bad["code"] == "INVALID_ARGUMENT" and bad["status_code"] == 3, bad
    assert (bad["domain"], bad["reason"]) == ("fapiao.gov.cn", "INVALID_INVOICE"), bad
    assert {"lines[0].amount_fen", "lines[0].tax_rate_basis_points"} <= set(bad["field_violations"]), bad
    assert "BadRequest" in bad["detail_types"] and "ErrorInfo" in bad["detail_types"]

    nobody = out["unauthenticated"]
    assert (nobody["code"], nobody["reason"]) == ("UNAUTHENTICATED", "CREDENTIALS_INVALID"), nobody

    exhausted = out["exhausted"]
    assert exhausted is not None, "the daily quota never refused the client"
    assert (exhausted["code"], exhausted["reason"]) == ("RESOURCE_EXHAUSTED", "INVOICE_VERIFICATIONS_PER_DAY")
    assert exhausted["metadata"] == {"limit": str(DAILY_VERIFICATIONS), "remaining": "0"}
    assert 0 < exhausted["retry_after_seconds"] <= 24 * 3600  # until the next midnight in Shanghai
    (violation,) = exhausted["quota_violations"]
    assert violation["quota_id"] == "INVOICE_VERIFICATIONS_PER_DAY"
    assert violation["subject"] == f"invoice:{plan['verify']['invoice_code']}:{plan['verify']['invoice_number']}"
    assert exhausted["detail_types"] == ["ErrorInfo", "QuotaFailure", "RetryInfo"]
