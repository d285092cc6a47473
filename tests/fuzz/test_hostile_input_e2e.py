"""Hostile input against a real fleet: over 10,000 generated, mutated and byte-damaged
requests to every RPC of every service we serve, from every role, anonymous callers and garbage credentials.
Nothing may answer INTERNAL or UNKNOWN, no server may crash or log an error, and no refused call may write a row.

Requests go as raw bytes (no serializer), so the servers see exactly what was drawn, damage included."""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from fapiao.v1 import invoice_service_pb2, verification_service_pb2
from fapiao_server.domain.access import Role
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.storage.bulk import seed_register
from fapiao_server.storage.migrations import migrate
from fapiao_server.transport.policy import allowed_roles
from fapiao_server.transport.server import SERVICE_NAMES
from tests.support.access import AUTHORIZATION, principal_key
from tests.support.fleet import start_servers, stop_servers
from tests.support.keys import shared_keyring
from tests.support.server import ServerProcess
from tests.support.services import fresh_database
from tests.support.signing import fleet_signing_key

from .strategies import World, request_bytes

SEEDED = 300
SEED = 20261128
REQUESTS_AT_LEAST = 10_000
# Shots (one call each, a stream counts once) per hypothesis example, and examples per run: together a little over
# REQUESTS_AT_LEAST, since a few examples of hypothesis's may be discarded.
SHOTS_PER_EXAMPLE = 5
EXAMPLES = 2_150
IN_FLIGHT = 48
CALL_TIMEOUT = 30.0
# Statuses no input may produce: they mean the server failed, not the request.
SERVER_FAILURES = {grpc.StatusCode.INTERNAL.name, grpc.StatusCode.UNKNOWN.name}
OK = grpc.StatusCode.OK.name
# Tables whose rows only an accepted call may add, and the calls that may add them (with how many rows one call
# may add at most). audit_events is compared only: refusals are audited by design.
LIFECYCLE_MUTATIONS = (
    "IssueInvoice", "IssueRedInvoice", "VoidInvoice", "CertifyInvoice", "ReportTaxPeriod", "CreateRedLetterForm",
    "ConfirmRedLetterForm", "RejectRedLetterForm", "WithdrawRedLetterForm",
)  # fmt: skip
WRITERS: dict[str, dict[str, int]] = {
    "invoices": {"IssueInvoice": 1, "IssueRedInvoice": 1},
    # A transition records an event; a red invoice may record two (its own and its original's).
    "invoice_events": dict.fromkeys(LIFECYCLE_MUTATIONS, 2),
    "red_letter_forms": {"CreateRedLetterForm": 1},
    "principals": {"CreatePrincipal": 1},
    "api_keys": {"CreateApiKey": 1, "CreatePrincipal": 1},
    "sessions": {"Login": 1, "RefreshToken": 1},
    "logins": {"SetLogin": 1},
    "tax_period_reports": {"ReportTaxPeriod": 1},
    "idempotency_keys": dict.fromkeys(LIFECYCLE_MUTATIONS, 1),
}
COMPARED_ONLY = ("audit_events",)
# A request stream the server ended before the client had written it all (see _lost_write).
CLIENT_WRITE_RACE = "CLIENT_WRITE_RACE"
ANONYMOUS, GARBAGE = "anonymous", "garbage credentials"


@dataclass(frozen=True)
class Rpc:
    path: str
    descriptor: MethodDescriptor

    @property
    def name(self) -> str:
        return self.descriptor.name


def every_rpc() -> list[Rpc]:
    """Every method of every service the server registers: ours, health and reflection."""
    files = [
        importlib.import_module(f"fapiao.v1.{name}_pb2").DESCRIPTOR
        for name in ("verification_service", "invoice_service", "auth_service", "admin_service", "audit_service",
                     "register_key_service", "report_service")
    ] + [health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR]  # fmt: skip
    listed = {service.full_name for file in files for service in file.services_by_name.values()}
    assert set(SERVICE_NAMES) <= listed, f"a served service is not fuzzed: {set(SERVICE_NAMES) - listed}"
    return [
        Rpc(f"/{service.full_name}/{method.name}", method)
        for file in files
        for service in file.services_by_name.values()
        for method in service.methods
    ]


RPCS = every_rpc()


@dataclass
class Shot:
    """One call: what was sent, by whom, and what came back."""

    rpc: Rpc
    caller: str
    kind: str
    payloads: list[bytes]
    credential: str | None
    outcome: str = ""
    details: str = ""

    def describe(self) -> str:
        shown = [payload[:200] + (b"..." if len(payload) > 200 else b"") for payload in self.payloads]
        return (f"{self.rpc.path} as {self.caller} ({self.kind}, {[len(p) for p in self.payloads]} bytes): "
                f"{self.outcome} {self.details[:300]!r}; request {shown!r}")  # fmt: skip


@dataclass
class Fleet:
    servers: list[ServerProcess]
    url: str
    keys: dict[str, str]
    world: World
    channels: list[grpc.aio.Channel] = field(default_factory=list)


def _regions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT DISTINCT region_code FROM invoices ORDER BY 1 LIMIT 3")]


def _world(url: str, victim: str) -> World:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        invoices = conn.execute(
            "SELECT id, invoice_type, invoice_code, invoice_number, issue_date, check_code, amount_fen, total_fen,"
            " seller_tax_id, buyer_tax_id, region_code, qr_payload FROM invoices ORDER BY id LIMIT 60"
        ).fetchall()
    sellers = sorted({invoice["seller_tax_id"] for invoice in invoices})
    return World(invoices=invoices, tax_ids=sellers, principal_ids=[victim, "no-such-principal"],
                 form_ids=["1", "2", "999999", "0"])  # fmt: skip


@pytest.fixture(scope="module")
def fleet(pg_admin_url: str, redis_url: str) -> Iterator[Fleet]:
    """Two single-worker servers on a database of this module's own, seeded with a few hundred invoices, and a
    principal of every role; the taxpayer acts for the sellers of the invoices plausible requests name, so
    mutations can succeed."""
    with fresh_database(pg_admin_url, "fuzz") as url:
        migrate(url, today=business_date(utc_now()))
        seed_register(url, SEEDED, shared_keyring(url), seed=SEED, now=utc_now(), signer=fleet_signing_key())
        world = _world(url, "fuzz-victim")
        regions = _regions(url)
        keys = {
            Role.VERIFIER.value: principal_key(url, Role.VERIFIER),
            Role.TAXPAYER.value: principal_key(url, Role.TAXPAYER, tax_ids=world.tax_ids),
            Role.TAX_OFFICER.value: principal_key(url, Role.TAX_OFFICER, regions=regions),
            Role.AUDITOR.value: principal_key(url, Role.AUDITOR),
            Role.ADMIN.value: principal_key(url, Role.ADMIN),
        }
        # Administrative mutations drawn as plausible act on this principal, never on the callers above.
        principal_key(url, Role.VERIFIER, principal_id="fuzz-victim")
        servers = start_servers(url, redis_url, 2)
        try:
            yield Fleet(servers, url, keys, world)
        finally:
            alive = [server.process is not None and server.process.poll() is None for server in servers]
            tracebacks = [line for server in servers for line in server.stderr if "Traceback" in line]
            stop_servers(servers)
            assert all(alive), f"a server died during the run: alive={alive}"
            assert not tracebacks, "".join(tracebacks)


def _callers(rpc: Rpc, keys: dict[str, str]) -> st.SearchStrategy[tuple[str, str | None]]:
    """Mostly the roles the policy lets in (so calls get past the gate), sometimes anyone else."""
    roles = allowed_roles(rpc.path) or frozenset()
    allowed = sorted(role.value for role in roles) or [ANONYMOUS]
    garbage = st.one_of(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120).map(lambda text: "Bearer " + text),
        st.sampled_from(list(keys.values())).map(lambda key: "Bearer " + key[:-1] + ("A" if key[-1] != "A" else "B")),
        st.sampled_from(("Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "bearer x.y.z", "Bearer ' OR 1=1 --")),
    ).map(lambda value: (GARBAGE, value))
    known = st.sampled_from([*keys, ANONYMOUS]).map(
        lambda caller: (caller, None if caller == ANONYMOUS else "Bearer " + keys[caller])
    )
    chosen = st.sampled_from(allowed).map(
        lambda caller: (caller, None if caller == ANONYMOUS else "Bearer " + keys[caller])
    )
    return st.one_of(chosen, chosen, known, garbage)


def _shots(fleet: Fleet) -> st.SearchStrategy[Shot]:
    def for_rpc(rpc: Rpc) -> st.SearchStrategy[Shot]:
        requests = request_bytes(rpc.descriptor.input_type, fleet.world)
        many = (
            st.lists(requests, min_size=1, max_size=3)
            if rpc.descriptor.client_streaming
            else requests.map(lambda one: [one])
        )
        return st.tuples(_callers(rpc, fleet.keys), many).map(
            lambda drawn: Shot(rpc, drawn[0][0], drawn[1][0][0], [data for _, data in drawn[1]], drawn[0][1])
        )

    return st.one_of([for_rpc(rpc) for rpc in RPCS])


async def _call(channel: grpc.aio.Channel, shot: Shot) -> None:
    metadata = ((AUTHORIZATION, shot.credential),) if shot.credential else ()
    method = shot.rpc.descriptor
    try:
        if method.client_streaming:
            call = channel.stream_stream(shot.rpc.path)(iter(shot.payloads), metadata=metadata, timeout=CALL_TIMEOUT)
            async for _ in call:
                pass
        elif method.server_streaming:
            if await _streams_on(channel.unary_stream(shot.rpc.path)(shot.payloads[0], metadata=metadata)):
                shot.outcome = "STREAMING"
                return
        else:
            await channel.unary_unary(shot.rpc.path)(shot.payloads[0], metadata=metadata, timeout=CALL_TIMEOUT)
        shot.outcome = OK
    except grpc.aio.AioRpcError as error:
        shot.outcome, shot.details = error.code().name, error.details() or ""
        if _lost_write(error):
            shot.outcome = CLIENT_WRITE_RACE
    except Exception as error:  # a client-side failure is a finding too, reported with the request
        shot.outcome, shot.details = "CLIENT:" + type(error).__name__, repr(error)


def _lost_write(error: grpc.aio.AioRpcError) -> bool:
    """grpc.aio's own INTERNAL when a request message is written after the server has already ended the stream
    (grpc/grpc#36066): the client overwrites the server's status, so it says nothing about the server."""
    return error.code() == grpc.StatusCode.INTERNAL and "execute_batch" in (error.debug_error_string() or "")


async def _streams_on(call: Any) -> bool:
    """Reads a couple of messages of a watch; True when it is still open and healthy (then cancelled)."""
    try:
        for _ in range(2):
            if await asyncio.wait_for(call.read(), 0.5) is grpc.aio.EOF:
                return False
    except TimeoutError:
        call.cancel()
        return True
    call.cancel()
    return True


class Sender:
    """An event loop of its own in a thread, so hypothesis draws while earlier shots are still in flight."""

    def __init__(self, addresses: Sequence[str]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.channels = self._run(self._open(addresses))
        self.slots = threading.BoundedSemaphore(IN_FLIGHT * 4)
        self.pending: list[Any] = []
        self.sent = 0

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def _open(self, addresses: Sequence[str]) -> list[grpc.aio.Channel]:
        self.in_flight = asyncio.Semaphore(IN_FLIGHT)
        return [grpc.aio.insecure_channel(address) for address in addresses for _ in range(2)]

    async def _fire(self, shot: Shot, channel: grpc.aio.Channel) -> None:
        async with self.in_flight:
            await _call(channel, shot)

    def send(self, shot: Shot) -> None:
        self.slots.acquire()
        channel = self.channels[self.sent % len(self.channels)]
        self.sent += 1
        future = asyncio.run_coroutine_threadsafe(self._fire(shot, channel), self.loop)
        future.add_done_callback(lambda _: self.slots.release())
        self.pending.append(future)

    def finish(self) -> None:
        for future in self.pending:
            future.result()
        self._run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _close(self) -> None:
        for channel in self.channels:
            await channel.close()


def _row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in (*WRITERS, *COMPARED_ONLY)
        }


def _unexplained_growth(before: dict[str, int], after: dict[str, int], accepted: Counter[str]) -> list[str]:
    """Tables that grew by more than the accepted calls that write them can add."""
    problems = []
    for table, writers in WRITERS.items():
        allowance = sum(accepted[name] * rows for name, rows in writers.items())
        grown = after[table] - before[table]
        if grown > allowance:
            problems.append(f"{table} grew by {grown}, accepted writers {dict((n, accepted[n]) for n in writers)} "
                            f"allow {allowance}")  # fmt: skip
    return problems


def _wait_for_audit_to_settle(url: str) -> None:
    """Audit writes linger a moment to share a transaction; wait until the count stops moving."""
    last = -1
    for _ in range(50):
        count = _row_counts(url)["audit_events"]
        if count == last:
            return
        last = count
        time.sleep(0.4)


def test_hostile_requests_never_fail_the_server_nor_write_when_refused(fleet: Fleet) -> None:
    _wait_for_audit_to_settle(fleet.url)
    before = _row_counts(fleet.url)
    sender = Sender([server.address for server in fleet.servers])
    shots: list[Shot] = []
    started = time.monotonic()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.lists(_shots(fleet), min_size=SHOTS_PER_EXAMPLE, max_size=SHOTS_PER_EXAMPLE))
    def fire(drawn: list[Shot]) -> None:
        for shot in drawn:
            shots.append(shot)
            sender.send(shot)

    try:
        fire()
    finally:
        sender.finish()
    elapsed = time.monotonic() - started
    _wait_for_audit_to_settle(fleet.url)
    after = _row_counts(fleet.url)

    outcomes = Counter(shot.outcome for shot in shots)
    per_rpc = Counter(shot.rpc.path for shot in shots)
    accepted = Counter(shot.rpc.name for shot in shots if shot.outcome == OK)
    kinds = Counter(shot.kind for shot in shots)
    print(f"\n{len(shots)} requests in {elapsed:.1f} s; outcomes {dict(outcomes)}; kinds {dict(kinds)}")
    print(f"accepted by rpc {dict(accepted)}; rows before {before} after {after}")

    failures = [shot for shot in shots if shot.outcome in SERVER_FAILURES or shot.outcome.startswith("CLIENT:")]
    assert not failures, f"{len(failures)} requests failed the server:\n" + _grouped(failures)
    assert len(shots) >= REQUESTS_AT_LEAST, f"only {len(shots)} requests sent"
    missed = [rpc.path for rpc in RPCS if per_rpc[rpc.path] < 100]
    assert not missed, f"RPCs fuzzed fewer than 100 times: {missed}"
    assert not _unexplained_growth(before, after, accepted), _unexplained_growth(before, after, accepted)
    # The fuzzing reached past validation: some plausible reads succeeded. (A plausible VerifyInvoice rarely passes:
    # its type and proof field are drawn at random, and only one pair of them fits the invoice.)
    assert accepted["VerifyQrCode"] and accepted["BatchVerifyInvoices"] and accepted["ListInvoices"], dict(accepted)
    _assert_serving(fleet.servers)


def _grouped(failures: list[Shot]) -> str:
    """One line per kind of failure (RPC, status, message), with its count and its shortest request."""
    groups: dict[tuple[str, str, str], list[Shot]] = {}
    for shot in failures:
        groups.setdefault((shot.rpc.path, shot.outcome, shot.details[:60]), []).append(shot)
    return "\n".join(
        f"{len(found)} x " + min(found, key=lambda shot: sum(map(len, shot.payloads))).describe()
        for found in groups.values()
    )


def _assert_serving(servers: Sequence[ServerProcess]) -> None:
    for server in servers:
        assert server.process is not None and server.process.poll() is None, f"server {server.address} died"
        with grpc.insecure_channel(server.address) as channel:
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            assert check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING


def _verify_qr(channel: grpc.Channel, payload: str, key: str) -> grpc.StatusCode:
    request = verification_service_pb2.VerifyQrCodeRequest(payload=payload)
    try:
        channel.unary_unary("/fapiao.v1.VerificationService/VerifyQrCode")(
            request.SerializeToString(), metadata=((AUTHORIZATION, "Bearer " + key),), timeout=CALL_TIMEOUT
        )
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_a_message_above_the_size_limit_is_refused_by_grpc_and_the_server_keeps_serving(fleet: Fleet) -> None:
    key = fleet.keys[Role.VERIFIER.value]
    server = fleet.servers[0]
    with grpc.insecure_channel(server.address) as channel:
        # FAPIAO_MAX_MESSAGE_BYTES defaults to 4 MiB: one byte of payload over it, and well over it.
        assert _verify_qr(channel, "1" * (4 * 1024 * 1024), key) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _verify_qr(channel, "'" * (16 * 1024 * 1024), key) == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Just under the limit gets to the application, which refuses it as bad input.
        assert _verify_qr(channel, "1" * (4 * 1024 * 1024 - 64), key) == grpc.StatusCode.INVALID_ARGUMENT
        assert _verify_qr(channel, fleet.world.invoices[0]["qr_payload"], key) == grpc.StatusCode.OK
    _assert_serving(fleet.servers)


async def test_a_caller_over_its_tiny_rate_gets_resource_exhausted_under_hostile_input(fleet: Fleet) -> None:
    key = principal_key(fleet.url, Role.VERIFIER, rate_limit=1.0)
    payloads = [
        verification_service_pb2.VerifyQrCodeRequest(payload=text).SerializeToString()
        for text in ("'; DROP TABLE invoices;--", "\x00%s%(x)s", "汉" * 10_000, "01,10,,", "")
    ] + [b"\x0a\x02\xff\xfe", b"\x0a\xff\xff\xff\xff\x0f", b"\x10"]
    async with grpc.aio.insecure_channel(fleet.servers[1].address) as channel:
        call = channel.unary_unary("/fapiao.v1.VerificationService/VerifyQrCode")

        async def one(payload: bytes) -> str:
            try:
                await call(payload, metadata=((AUTHORIZATION, "Bearer " + key),), timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as error:
                return error.code().name
            return OK

        outcomes = Counter(await asyncio.gather(*(one(payloads[n % len(payloads)]) for n in range(40))))
    assert outcomes[grpc.StatusCode.RESOURCE_EXHAUSTED.name] >= 20, outcomes
    assert not SERVER_FAILURES & set(outcomes), outcomes


async def test_concurrent_reports_of_one_period_are_never_internal(fleet: Fleet) -> None:
    """What the fuzzing hit by chance, made certain: reports of one tax period racing each other (reporting is
    idempotent, so every one of them must answer OK)."""
    key = fleet.keys[Role.TAXPAYER.value]
    tax_id = fleet.world.tax_ids[-1]
    day = business_date(utc_now())

    async def report(channel: grpc.aio.Channel) -> str:
        request = invoice_service_pb2.ReportTaxPeriodRequest(
            request_id=str(uuid.uuid4()), tax_id=tax_id, year=day.year - 1, month=day.month
        )
        try:
            await channel.unary_unary("/fapiao.v1.InvoiceService/ReportTaxPeriod")(
                request.SerializeToString(), metadata=((AUTHORIZATION, "Bearer " + key),), timeout=CALL_TIMEOUT
            )
        except grpc.aio.AioRpcError as error:
            return f"{error.code().name}: {error.details()}"
        return OK

    channels = [grpc.aio.insecure_channel(server.address) for server in fleet.servers]
    try:
        outcomes = Counter(await asyncio.gather(*(report(channels[n % 2]) for n in range(16))))
    finally:
        for channel in channels:
            await channel.close()
    assert outcomes == Counter({OK: 16}), outcomes
