"""SDK load for the chaos suite, through Envoy as an integration would send it: invoices issued and voided with
request ids, verified and read back, and every seller's invoices watched, all at once. Every answer is recorded
with its time, so a test can say what callers saw during a fault, and every change with its request id and what
was acknowledged, so the checker can hold the register to it.

A change that fails is sent again with the same request id until it is acknowledged (or refused for good), as
the SDK's documentation tells integrators to do: so when the load stops, every change it began has an answer."""

from __future__ import annotations

import asyncio
import functools
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date

from fapiao.v1 import invoice_pb2
from fapiao.v1 import verification_service_pb2 as verification_pb
from fapiao_client import AsyncInvoiceClient, AsyncVerificationClient, FapiaoError
from fapiao_client.requests import verify_request
from fapiao_server.domain.invoice_types import InvoiceType, Proof
from tests.support.invoices import issue_request

OK = "OK"
# What a caller may send again as it is (a change with its request id unchanged).
RETRYABLE = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "ABORTED", "DEADLINE_EXCEEDED"})
PAPER_GENERAL, DIGITAL_GENERAL = 4, 32  # the one can be voided in its month, the other only reversed
# A change still failing after this long is given up (the checker then allows at most one invoice for it).
GIVE_UP_SECONDS = 120.0
RETRY_PAUSE_SECONDS = 0.2
WATCH_CATCH_UP_SECONDS = 30.0


@dataclass(frozen=True)
class Answer:
    kind: str  # verify, read, issue, void
    at: float  # time.monotonic() when the call was sent
    seconds: float
    code: str  # OK, a gRPC status code's name, or WRONG:<what> for a wrong answer


@dataclass
class Change:
    """One IssueInvoice or VoidInvoice as its caller saw it: every attempt went out with ``request_id``."""

    request_id: str
    seller: str
    kind: int = 0
    target: str = ""  # the invoice a void acts on
    acknowledged: invoice_pb2.Invoice | None = None
    failures: list[str] = field(default_factory=list)
    refused: str = ""  # a failure not worth sending again
    gave_up: bool = False


@dataclass
class Watched:
    tax_id: str
    event_ids: list[str] = field(default_factory=list)
    ready: bool = False
    error: str = ""


class Load:
    def __init__(
        self,
        target: str,
        *,
        taxpayer_key: str,
        verifier_key: str,
        sellers: list[str],
        issuers: int = 4,
        verifiers: int = 4,
        voiders: int = 1,
        seed: int = 0,
    ) -> None:
        self.target = target
        self._taxpayer_key = taxpayer_key
        self.verifier_key = verifier_key
        self.sellers = sellers
        self._counts = (issuers, verifiers, voiders)
        self._rng = random.Random(seed)
        self.answers: list[Answer] = []
        self.issues: dict[str, Change] = {}
        self.voids: dict[str, Change] = {}
        self.watches = {tax_id: Watched(tax_id) for tax_id in sellers}
        self._known: list[invoice_pb2.Invoice] = []  # acknowledged invoices, to verify and read
        self._voidable: list[invoice_pb2.Invoice] = []
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)

    # The test's side.

    def start(self, timeout: float = 60) -> Load:
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError(f"the load did not start: {self._failure!r}")
        if self._failure is not None:
            raise RuntimeError("the load did not start") from self._failure
        return self

    def stop(self) -> None:
        """Stop sending new calls; wait for every change under way to get its answer and every watch to see the
        events of the acknowledged changes."""
        self._stopping.set()
        self._thread.join(GIVE_UP_SECONDS + WATCH_CATCH_UP_SECONDS + 30)
        assert not self._thread.is_alive(), "the load did not stop"
        if self._failure is not None:
            raise self._failure

    def run_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self._thread.is_alive(), f"the load died: {self._failure!r}"
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def codes(self, kinds: tuple[str, ...], since: float = 0.0, until: float = float("inf")) -> Counter[str]:
        return Counter(a.code for a in self.answers if a.kind in kinds and since <= a.at < until)

    def errors(self, kinds: tuple[str, ...], since: float = 0.0, until: float = float("inf")) -> Counter[str]:
        return Counter({code: n for code, n in self.codes(kinds, since, until).items() if code != OK})

    def rate(self, kinds: tuple[str, ...], since: float, until: float) -> float:
        """Answered-OK calls per second sent in [since, until)."""
        return self.codes(kinds, since, until)[OK] / max(until - since, 1e-9)

    def acknowledged(self) -> list[Change]:
        return [change for change in self.issues.values() if change.acknowledged is not None]

    # The load's own thread.

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # handed to the test thread
            self._failure = error
            self._started.set()

    async def _main(self) -> None:
        issuers, verifiers, voiders = self._counts
        async with (
            AsyncInvoiceClient(self.target, token=self._taxpayer_key) as invoices,
            AsyncVerificationClient(self.target, token=self.verifier_key) as verification,
        ):
            handles: list[object] = []
            watchers = [asyncio.create_task(self._watch(invoices, w, handles)) for w in self.watches.values()]
            deadline = time.monotonic() + 30
            while not all(w.ready for w in self.watches.values()):
                if time.monotonic() > deadline or any(t.done() for t in watchers):
                    raise RuntimeError(f"watches did not start: {[w.error for w in self.watches.values()]}")
                await asyncio.sleep(0.05)
            self._started.set()
            actors = [
                *(self._issuer(invoices, random.Random(self._rng.random())) for _ in range(issuers)),
                *(self._verifier(verification, invoices, random.Random(self._rng.random())) for _ in range(verifiers)),
                *(self._voider(invoices, random.Random(self._rng.random())) for _ in range(voiders)),
            ]
            await asyncio.gather(*actors)
            await self._catch_up()
            for handle in handles:
                handle.close()  # type: ignore[attr-defined]
            await asyncio.gather(*watchers)

    async def _until_acknowledged(
        self, kind: str, change: Change, call: Callable[[], Awaitable[invoice_pb2.Invoice]]
    ) -> None:
        began = time.monotonic()
        while True:
            sent = time.monotonic()
            try:
                change.acknowledged = await call()
            except FapiaoError as error:
                code = error.code.name
                self.answers.append(Answer(kind, sent, time.monotonic() - sent, code))
                change.failures.append(code)
                if code not in RETRYABLE:
                    change.refused = f"{code}:{error.reason}"
                    return
                if time.monotonic() - began > GIVE_UP_SECONDS:
                    change.gave_up = True
                    return
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            self.answers.append(Answer(kind, sent, time.monotonic() - sent, OK))
            return

    async def _issuer(self, client: AsyncInvoiceClient, rng: random.Random) -> None:
        while not self._stopping.is_set():
            kind = rng.choice((PAPER_GENERAL, DIGITAL_GENERAL))
            change = Change(str(uuid.uuid4()), rng.choice(self.sellers), kind)
            self.issues[change.request_id] = change
            request = issue_request(kind, change.seller, request_id=change.request_id)
            await self._until_acknowledged("issue", change, functools.partial(client.issue_invoice, request))
            if change.acknowledged is not None:
                self._known.append(change.acknowledged)
                if kind == PAPER_GENERAL:
                    self._voidable.append(change.acknowledged)

    async def _voider(self, client: AsyncInvoiceClient, rng: random.Random) -> None:
        while not self._stopping.is_set():
            if not self._voidable:
                await asyncio.sleep(0.05)
                continue
            invoice = self._voidable.pop(rng.randrange(len(self._voidable)))
            change = Change(str(uuid.uuid4()), invoice.seller.tax_id, invoice.invoice_type, target=invoice.id)
            self.voids[change.request_id] = change
            void = functools.partial(client.void_invoice, invoice, request_id=change.request_id)
            await self._until_acknowledged("void", change, void)
            await asyncio.sleep(0.1)  # about one void for every few invoices issued

    async def _verifier(
        self, verification: AsyncVerificationClient, invoices: AsyncInvoiceClient, rng: random.Random
    ) -> None:
        turn = 0
        while not self._stopping.is_set():
            if not self._known:
                await asyncio.sleep(0.05)
                continue
            invoice = rng.choice(self._known)
            turn += 1
            kind = "read" if turn % 4 == 0 else "verify"
            sent = time.monotonic()
            try:
                if kind == "read":
                    found = await invoices.get_invoice(invoice)
                    code = OK if found.invoice_number == invoice.invoice_number else "WRONG:invoice"
                elif turn % 2:
                    answer = await verification.verify_invoice(**verify_fields(invoice))
                    code = verdict(answer.outcome)
                else:
                    code = verdict((await verification.verify_qr_code(invoice.qr_payload)).verification.outcome)
            except FapiaoError as error:
                code = error.code.name
            self.answers.append(Answer(kind, sent, time.monotonic() - sent, code))

    async def _watch(self, client: AsyncInvoiceClient, watched: Watched, handles: list[object]) -> None:
        watch = client.watch_invoices(tax_id=watched.tax_id, reconnect_attempts=100_000)
        handles.append(watch)
        try:
            async for response in watch.responses():
                watched.ready = True
                watched.event_ids.extend(event.id for event in response.events)
        except FapiaoError as error:
            watched.error = f"{error.code.name}: {error}"

    async def _catch_up(self) -> None:
        """Until every watch has seen as many events as acknowledged changes of its seller (or time is up), then a
        moment more, so an event delivered twice would be seen too."""
        expected = Counter(c.seller for c in (*self.issues.values(), *self.voids.values()) if c.acknowledged)
        deadline = time.monotonic() + WATCH_CATCH_UP_SECONDS
        behind = [w for w in self.watches.values() if len(w.event_ids) < expected[w.tax_id]]
        while behind and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # the watch tasks append as events arrive
            behind = [w for w in behind if len(w.event_ids) < expected[w.tax_id]]
        await asyncio.sleep(1.0)


def verify_fields(invoice: invoice_pb2.Invoice) -> dict[str, object]:
    proof = InvoiceType(invoice.invoice_type).proof
    value: object = {
        Proof.CHECK_CODE: invoice.check_code[-6:],
        Proof.AMOUNT: invoice.amount_fen,
        Proof.TOTAL: invoice.total_fen,
    }[proof]
    day = invoice.issue_date
    return {
        "invoice_code": invoice.invoice_code,
        "invoice_number": invoice.invoice_number,
        "issue_date": date(day.year, day.month, day.day),
        proof.value: value,
    }


def verdict(outcome: int) -> str:
    return OK if outcome == verification_pb.VERIFICATION_OUTCOME_MATCH else f"WRONG:{outcome}"


class Probe:
    """A plain client (no SDK, no retries of its own) verifying one invoice through the balancer every
    ``interval`` seconds: what a caller that does not retry sees, and how fast it hears it."""

    def __init__(self, target: str, verifier_key: str, invoice: invoice_pb2.Invoice, interval: float = 0.05) -> None:
        self.answers: list[Answer] = []
        self._target = target
        self._metadata = (("authorization", f"Bearer {verifier_key}"),)
        self._request = verify_request(**verify_fields(invoice))  # type: ignore[arg-type]
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-probe", daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._thread.join(30)

    def _run(self) -> None:
        import grpc

        from fapiao.v1 import verification_service_pb2_grpc

        with grpc.insecure_channel(self._target, options=[("grpc.enable_retries", 0)]) as channel:
            stub = verification_service_pb2_grpc.VerificationServiceStub(channel)
            while not self._stopping.wait(self._interval):
                sent = time.monotonic()
                try:
                    answer = stub.VerifyInvoice(self._request, metadata=self._metadata, timeout=10)
                    code = verdict(answer.outcome)
                except grpc.RpcError as error:
                    code = error.code().name  # type: ignore[attr-defined]
                self.answers.append(Answer("probe", sent, time.monotonic() - sent, code))
