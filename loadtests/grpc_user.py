"""A Locust user that speaks gRPC: each call is timed and reported to Locust's request event, the documented
way to load-test a protocol other than HTTP (docs.locust.io, "Testing other systems/protocols")."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence

import grpc
import grpc.experimental.gevent as grpc_gevent
import slo_hooks  # noqa: F401  (its listeners put every locustfile's run under the SLO gate)
from google.protobuf.message import Message
from loadtest_settings import LoadTestSettings
from locust import User, events
from locust.env import Environment
from locust.runners import MasterRunner
from target import open_channel

from fapiao.v1 import access_pb2, admin_service_pb2, admin_service_pb2_grpc
from fapiao.v1 import verification_service_pb2_grpc as pb_grpc
from fapiao_client import DEFAULT_TARGET, FapiaoError

# Locust has monkey-patched the standard library by now; gRPC must cooperate with gevent before any channel
# exists, or one blocking call would stall every user of the process.
grpc_gevent.init_gevent()

UNARY_TIMEOUT_SECONDS = 10.0
STREAM_TIMEOUT_SECONDS = 60.0
# How long a user waits at start for the register to answer at all, so a run may start with the server it tests
# (`fapiao serve ... &` just before locust, as in the README); past it, the user's start fails as any call would.
STARTUP_WAIT_SECONDS = 60.0
ADMIN_KEY = "FAPIAO_LOADTEST_ADMIN_KEY"
_user_numbers = itertools.count(1)


class UnexpectedAnswer(Exception):
    """The register answered, but not what this request must get; reported as a failure."""


def _accept(_answers: Sequence[Message]) -> None:
    pass


def enrol(
    channel: grpc.Channel, principal_id: str, role: int, tax_ids: Sequence[str], rate_limit: float
) -> tuple[tuple[str, str], ...]:
    """Make this user a principal of its own through AdminService (FAPIAO_LOADTEST_ADMIN_KEY, an ADMIN's API key),
    as an operator provisions an ERP system; returns the metadata that authenticates its calls."""
    admin_key = os.environ.get(ADMIN_KEY, "")
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    as_admin = (("authorization", f"Bearer {admin_key}"),)
    principal = access_pb2.Principal(
        id=principal_id,
        role=role,
        tax_ids=tax_ids,
        rate_limit=rate_limit,
        display_name="load test",  # type: ignore[arg-type]
    )
    try:
        # The user's first call: it waits for the register to come up rather than failing at once.
        admin.CreatePrincipal(admin_service_pb2.CreatePrincipalRequest(principal=principal), metadata=as_admin,
                              timeout=STARTUP_WAIT_SECONDS, wait_for_ready=True)  # fmt: skip
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
    key = admin.CreateApiKey(
        admin_service_pb2.CreateApiKeyRequest(principal_id=principal_id, description="load test"),
        metadata=as_admin,
        timeout=UNARY_TIMEOUT_SECONDS,
    ).secret
    return (("authorization", f"Bearer {key}"),)


@events.init.add_listener
def require_admin_key(environment: Environment, **_: object) -> None:
    """Every process that runs users enrols them with an ADMIN's key: say so before any load, not once per user."""
    if isinstance(environment.runner, MasterRunner) or os.environ.get(ADMIN_KEY):
        return
    raise SystemExit(
        f"loadtests: set {ADMIN_KEY} to an ADMIN's API key; the users are made through AdminService with it. "
        f"`fapiao bootstrap-admin --id loadtest-admin | tail -n 1` prints a new one (see loadtests/README.md)"
    )


class GrpcUser(User):
    """One caller of the register with its own channel (one HTTP/2 connection), as each ERP system has.

    ``host`` is the gRPC target, ``HOST:PORT`` or ``https://HOST:PORT`` (Locust's --host; see target.py). Every
    user is a principal of its own (made at start through AdminService), so each keeps its own verification history
    and its own rate limit.
    """

    abstract = True
    host = DEFAULT_TARGET
    # The service this kind of user calls; ``self.stub`` is its stub on the user's channel.
    service_stub: type = pb_grpc.VerificationServiceStub
    # What the user's principal is: a verifier unless a subclass says otherwise (with the tax ids it acts for).
    role: int = access_pb2.ROLE_VERIFIER

    def acting_for(self) -> Sequence[str]:
        return ()

    def on_start(self) -> None:
        self.caller = f"loadtest-{os.getpid()}-{next(_user_numbers)}"
        self._channel = open_channel(self.host, self.environment.parsed_options)
        rate_limit = LoadTestSettings.from_environment().rate_limit
        self.metadata = enrol(self._channel, self.caller, self.role, self.acting_for(), rate_limit)
        self.stub = self.service_stub(self._channel)

    def on_stop(self) -> None:
        self._channel.close()

    def call(
        self,
        name: str,
        send: Callable[[], Sequence[Message]],
        *,
        check: Callable[[Sequence[Message]], None] = _accept,
        expect_error: tuple[grpc.StatusCode, str] | None = None,
    ) -> None:
        """Make one call and report it as request type "grpc" named ``name``.

        ``send`` makes the call and returns every message received (one for a unary call, all of a stream), so
        the time reported covers the whole exchange. The call succeeds when ``check`` accepts the answers, or,
        given ``expect_error`` (status code, ErrorInfo reason), when the register refuses it for exactly that.
        """
        start_time = time.time()
        started = time.perf_counter()
        answers: Sequence[Message] = ()
        exception: Exception | None = None
        try:
            answers = send()
        except grpc.RpcError as error:
            refusal = FapiaoError.from_rpc_error(error)
            exception = None if expect_error == (refusal.code, refusal.reason) else refusal
        else:
            if expect_error is not None:
                exception = UnexpectedAnswer(f"expected {expect_error[0].name} ({expect_error[1]}), got an answer")
        response_time = (time.perf_counter() - started) * 1000
        if exception is None and expect_error is None:
            try:
                check(answers)
            except UnexpectedAnswer as error:
                exception = error
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            start_time=start_time,
            response_time=response_time,
            response_length=sum(answer.ByteSize() for answer in answers),
            response=None,
            context={"caller": self.caller},
            exception=exception,
            url=self.host,
        )
