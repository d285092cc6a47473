"""Reporting from the SDK and `fapiao stats`: requests built from names, numbers and dates; the CLI's checks of
its arguments; totals shown in yuan worked out from integer fen; and the command against a scripted fake
register (a real gRPC server in this process), its answers and its exit statuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from datetime import date

import grpc
import pytest
from rich.console import Console

from fapiao.v1 import invoice_pb2
from fapiao.v1 import report_service_pb2 as pb
from fapiao.v1 import report_service_pb2_grpc as pb_grpc
from fapiao_client import AsyncReportClient, FapiaoError, ReportClient
from fapiao_client.cli import build_parser, main
from fapiao_client.cli.stats import totals_table
from fapiao_client.requests import summarize_request

SELLER = "91110108MA01ABCD0B"
DATES = ("--from", "2026-01-01", "--to", "2026-03-31")
# Two groups whose sums need every digit: a fen, a negative (red-letter) amount, a large one.
REPORT = pb.SummarizeInvoicesResponse(
    groups=[
        pb.InvoiceTotals(invoice_type=4, month="2026-01", invoice_count=3, amount_fen=1_234_567_890_105,
                         tax_fen=5, total_fen=1_234_567_890_110),
        pb.InvoiceTotals(invoice_type=32, month="2026-02", invoice_count=1, amount_fen=-1, tax_fen=-99,
                         total_fen=-100),
    ],
    total=pb.InvoiceTotals(invoice_count=4, amount_fen=1_234_567_890_104, tax_fen=-94, total_fen=1_234_567_890_010),
)  # fmt: skip


# --- requests ------------------------------------------------------------------------------------------------


def test_a_summary_request_from_names_and_text_dates() -> None:
    request = summarize_request(
        seller_tax_id=SELLER,
        start_date="2026-01-01",
        end_date=date(2026, 12, 31),
        state="voided",
        invoice_type="04",
        group_by=("type", "MONTH", "invoice-grouping-region"),
    )
    assert request.seller_tax_id == SELLER and not request.buyer_tax_id and not request.region_code
    assert (request.start_date.year, request.start_date.month, request.start_date.day) == (2026, 1, 1)
    assert (request.end_date.year, request.end_date.month, request.end_date.day) == (2026, 12, 31)
    assert request.state == invoice_pb2.INVOICE_STATE_VOIDED
    assert request.invoice_type == invoice_pb2.INVOICE_TYPE_VAT_GENERAL
    assert list(request.group_by) == [pb.INVOICE_GROUPING_TYPE, pb.INVOICE_GROUPING_MONTH, pb.INVOICE_GROUPING_REGION]


@pytest.mark.parametrize("group_by", ["state, region", ["state", "region"], (2, 4), ("2", "INVOICE_GROUPING_REGION")])
def test_groupings_by_name_number_or_one_text(group_by: object) -> None:
    request = summarize_request(region_code="1100", start_date="2026-01-01", end_date="2026-01-31", group_by=group_by)  # type: ignore[arg-type]
    assert list(request.group_by) == [pb.INVOICE_GROUPING_STATE, pb.INVOICE_GROUPING_REGION]


def test_types_and_states_by_name_or_number_and_none_by_default() -> None:
    named = summarize_request(buyer_tax_id=SELLER, start_date="2026-01-01", end_date="2026-01-31",
                              invoice_type="VAT_GENERAL", state=3)  # fmt: skip
    assert (named.invoice_type, named.state) == (invoice_pb2.INVOICE_TYPE_VAT_GENERAL, 3)
    plain = summarize_request(buyer_tax_id=SELLER, start_date="2026-01-01", end_date="2026-01-31")
    assert (plain.invoice_type, plain.state, list(plain.group_by)) == (0, 0, [])


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"group_by": "type,colour"}, "'colour' is not an invoice grouping; use one of 1 type, 2 state, 3 month"),
        ({"state": "lost"}, "'lost' is not an invoice state"),
        ({"invoice_type": "99"}, "'99' is not an invoice type"),
        ({"start_date": "2026-02-30"}, "'2026-02-30' is not a date YYYY-MM-DD"),
    ],
)
def test_what_is_not_a_value_is_named(fields: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        summarize_request(**{"seller_tax_id": SELLER, "start_date": "2026-01-01", "end_date": "2026-01-31", **fields})


# --- arguments -----------------------------------------------------------------------------------------------


def test_stats_arguments() -> None:
    options = build_parser().parse_args(["stats", "--region", "1100", *DATES, "--by", "month, type", "--state",
                                         "issued", "--type", "32"])  # fmt: skip
    assert (options.region, options.seller, options.buyer) == ("1100", "", "")
    assert (options.start_date, options.end_date) == (date(2026, 1, 1), date(2026, 3, 31))
    assert (options.by, options.state, options.type) == (("month", "type"), "issued", "32")
    assert build_parser().parse_args(["stats", "--seller", SELLER, *DATES]).by == ()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--seller", SELLER, "--buyer", SELLER, *DATES], "argument --buyer: not allowed with argument --seller"),
        (list(DATES), "one of the arguments --seller --buyer --region is required"),
        (["--region", "1100", "--from", "2026-01-01"], "the following arguments are required: --to"),
        (["--region", "1100", "--from", "2026-13-01", "--to", "2026-12-31"], "--from: '2026-13-01' is not a date"),
        (["--seller", SELLER, *DATES, "--by", "type,colour"], "--by: 'colour' is not a grouping; use type, state"),
        (["--seller", SELLER, *DATES, "--by", "type,month,type"], "--by: 'type,month,type' names a grouping twice"),
    ],
)
def test_bad_arguments_exit_2_saying_what_is_wrong(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["stats", *args])
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


# --- how totals look -----------------------------------------------------------------------------------------


def _cells(table: object) -> list[list[str]]:
    """The header and each row of a table as rich draws it, cell by cell."""
    console = Console(record=True, width=200)
    console.print(table)
    lines = console.export_text().replace("┃", "│").splitlines()
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if line.startswith("│")]


def test_totals_are_yuan_with_two_decimals_from_fen_one_row_per_group_and_a_total() -> None:
    assert _cells(totals_table(REPORT, ("type", "month"))) == [
        ["type", "month", "invoices", "amount (yuan)", "tax (yuan)", "total (yuan)"],
        ["04 VAT_GENERAL", "2026-01", "3", "12345678901.05", "0.05", "12345678901.10"],
        ["32 DIGITAL_GENERAL", "2026-02", "1", "-0.01", "-0.99", "-1.00"],
        ["total", "", "4", "12345678901.04", "-0.94", "12345678900.10"],
    ]


def test_without_groupings_only_the_total_is_shown() -> None:
    answer = pb.SummarizeInvoicesResponse(groups=[pb.InvoiceTotals(invoice_count=2, total_fen=300)],
                                          total=pb.InvoiceTotals(invoice_count=2, total_fen=300))  # fmt: skip
    assert _cells(totals_table(answer, ())) == [
        ["", "invoices", "amount (yuan)", "tax (yuan)", "total (yuan)"],
        ["total", "2", "0.00", "0.00", "3.00"],
    ]


def test_state_and_region_groups_are_named() -> None:
    answer = pb.SummarizeInvoicesResponse(
        groups=[pb.InvoiceTotals(state=invoice_pb2.INVOICE_STATE_PARTIALLY_REVERSED, region_code="4403")]
    )
    assert _cells(totals_table(answer, ("state", "region")))[1][:2] == ["PARTIALLY_REVERSED", "4403"]


# --- against a fake register ---------------------------------------------------------------------------------


class FakeReports(pb_grpc.ReportServiceServicer):
    """Answers with REPORT, or fails as scripted; keeps what it was asked."""

    def __init__(self) -> None:
        self.requests: list[pb.SummarizeInvoicesRequest] = []
        self.failure: grpc.StatusCode | None = None

    def SummarizeInvoices(
        self, request: pb.SummarizeInvoicesRequest, context: grpc.ServicerContext
    ) -> pb.SummarizeInvoicesResponse:
        self.requests.append(request)
        if self.failure is not None:
            context.abort(self.failure, "scripted refusal")
        return REPORT


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeReports, str]]:
    monkeypatch.setenv("FAPIAO_TOKEN", "test-key")
    fake = FakeReports()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_ReportServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield fake, f"127.0.0.1:{port}"
    server.stop(0)


def test_the_command_asks_for_what_it_was_given_and_prints_a_table(
    reports: tuple[FakeReports, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, address = reports
    status = main(["stats", "--buyer", SELLER, *DATES, "--by", "type,month", "--state", "voided", "--type", "04",
                   "--target", address])  # fmt: skip
    assert status == 0
    (asked,) = fake.requests
    assert asked == summarize_request(buyer_tax_id=SELLER, start_date="2026-01-01", end_date="2026-03-31",
                                      state="voided", invoice_type=4, group_by="type,month")  # fmt: skip
    out = capsys.readouterr().out
    assert "12345678901.05" in out and "-1.00" in out and "12345678900.10" in out


def test_json_is_the_answer_with_proto_field_names(
    reports: tuple[FakeReports, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, address = reports
    assert main(["stats", "--region", "1100", *DATES, "--by", "type", "--json", "--target", address]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["groups"][0]["invoice_type"] == "INVOICE_TYPE_VAT_GENERAL"
    assert printed["groups"][1]["total_fen"] == "-100" and printed["total"]["invoice_count"] == "4"


@pytest.mark.parametrize(
    ("code", "status"),
    [(grpc.StatusCode.PERMISSION_DENIED, 7), (grpc.StatusCode.UNAUTHENTICATED, 7),
     (grpc.StatusCode.INVALID_ARGUMENT, 2)],
)  # fmt: skip
def test_refusals_exit_with_the_clis_statuses(
    reports: tuple[FakeReports, str], code: grpc.StatusCode, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, address = reports
    fake.failure = code
    assert main(["stats", "--seller", SELLER, *DATES, "--target", address]) == status
    assert code.name in capsys.readouterr().err


def test_a_bad_state_is_refused_before_anything_is_sent(
    reports: tuple[FakeReports, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, address = reports
    assert main(["stats", "--seller", SELLER, *DATES, "--state", "lost", "--target", address]) == 2
    assert "fapiao stats: 'lost' is not an invoice state" in capsys.readouterr().err and not fake.requests


def test_the_clients_return_the_answer_and_raise_refusals(reports: tuple[FakeReports, str]) -> None:
    fake, address = reports
    with ReportClient(address) as client:
        assert client.summarize_invoices(seller_tax_id=SELLER, start_date="2026-01-01", end_date="2026-01-31",
                                         group_by=("type", "month")) == REPORT  # fmt: skip
        fake.failure = grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(FapiaoError) as refused:
            client.summarize_invoices(region_code="1100", start_date="2026-01-01", end_date="2026-01-31")
    assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert [request.seller_tax_id or request.region_code for request in fake.requests] == [SELLER, "1100"]


async def test_the_async_client_asks_the_same(reports: tuple[FakeReports, str]) -> None:
    fake, address = reports
    async with AsyncReportClient(address) as client:
        answer = await client.summarize_invoices(buyer_tax_id=SELLER, start_date=date(2026, 1, 1),
                                                 end_date="2026-01-31", invoice_type="VAT_GENERAL")  # fmt: skip
    assert answer == REPORT
    assert fake.requests == [summarize_request(buyer_tax_id=SELLER, start_date="2026-01-01", end_date="2026-01-31",
                                               invoice_type=4)]  # fmt: skip
