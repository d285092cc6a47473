"""TLS and mutual TLS on a real server: the register serves TLS with a given certificate, a second listener
demands a client certificate signed by the configured CA and maps its common name to a principal, and plaintext
is refused off loopback unless configured."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fapiao.v1 import auth_service_pb2 as auth_pb
from fapiao.v1 import auth_service_pb2_grpc as auth_grpc
from fapiao.v1 import verification_service_pb2 as pb
from fapiao.v1 import verification_service_pb2_grpc as pb_grpc
from fapiao_client import VerificationClient, verify_request
from fapiao_server.domain.access import Principal, PrincipalAccount, Role
from fapiao_server.entrypoints.provisioning import provision
from tests.conftest import Register
from tests.support.access import bearer, principal_key
from tests.support.certificates import CertificateAuthority, Issued
from tests.support.keys import shared_keyring
from tests.support.server import ServerProcess, fapiao_executable
from tests.support.services import free_port

pytestmark = pytest.mark.slow
GOVERNMENT = "gov-verification-system"


class Secured:
    def __init__(self, server: ServerProcess, mtls_address: str, ca: CertificateAuthority, client: Issued) -> None:
        self.server, self.mtls_address, self.ca, self.client = server, mtls_address, ca, client

    def credentials(self, client: Issued | None = None) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.certificate.read_bytes(),
            private_key=client.key.read_bytes() if client else None,
            certificate_chain=client.certificate.read_bytes() if client else None,
        )


@pytest.fixture(scope="module")
def secured(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    folder = tmp_path_factory.mktemp("tls")
    ca = CertificateAuthority(folder)
    served, client = ca.issue("localhost", server=True), ca.issue(GOVERNMENT, server=False)
    account = PrincipalAccount(
        Principal(GOVERNMENT, Role.VERIFIER, display_name="a ministry"), certificate_name=GOVERNMENT
    )
    provision(database_url, shared_keyring(database_url), [account], description="transport security test")
    mtls_address = f"127.0.0.1:{free_port()}"
    server = ServerProcess(
        "--listen",
        "127.0.0.1:0",
        env={
            "FAPIAO_DATABASE_URL": database_url,
            **ca.serving_settings(served, mtls_address),
            "FAPIAO_VERIFICATIONS_PER_INVOICE_PER_DAY": "0",
            "FAPIAO_LOG_LEVEL": "WARNING",
        },
    ).start()
    yield Secured(server, mtls_address, ca, client)
    server.stop()


def _verify(channel: grpc.Channel, register: Register, metadata: tuple[tuple[str, str], ...] = ()) -> int:
    sample = register.sample("state = 1")
    request = verify_request(**sample.request_fields())
    return pb_grpc.VerificationServiceStub(channel).VerifyInvoice(request, metadata=metadata, timeout=10).outcome


def test_tls_carries_bearer_credentials_and_plaintext_does_not_connect(
    secured: Secured, register: Register, verifier_key: str
) -> None:
    with grpc.secure_channel(secured.server.address, secured.credentials()) as channel:
        assert _verify(channel, register, bearer(verifier_key)) == pb.VERIFICATION_OUTCOME_MATCH
        with pytest.raises(grpc.RpcError) as refused:
            _verify(channel, register)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED  # TLS alone names nobody
    with VerificationClient(secured.server.address, token=verifier_key, credentials=secured.credentials()) as client:
        assert client.verify_invoice(**register.sample("state = 1").request_fields()).outcome == 1
    with grpc.insecure_channel(secured.server.address) as plaintext:
        with pytest.raises(grpc.RpcError) as failed:
            _verify(plaintext, register, bearer(verifier_key))
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_client_certificate_is_a_principal(secured: Secured, register: Register) -> None:
    with grpc.secure_channel(secured.mtls_address, secured.credentials(secured.client)) as channel:
        assert _verify(channel, register) == pb.VERIFICATION_OUTCOME_MATCH  # no token: the certificate says who
        who = auth_grpc.AuthServiceStub(channel).GetCaller(auth_pb.GetCallerRequest(), timeout=10).principal
        assert (who.id, who.certificate_name) == (GOVERNMENT, GOVERNMENT)


def test_the_mutual_tls_listener_lets_no_one_in_without_a_certificate_of_its_ca(
    secured: Secured, register: Register, tmp_path: Path
) -> None:
    with grpc.secure_channel(secured.mtls_address, secured.credentials()) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            _verify(channel, register)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake fails: no certificate
    stranger = CertificateAuthority(tmp_path, "Another CA").issue(GOVERNMENT, server=False)
    with grpc.secure_channel(secured.mtls_address, secured.credentials(stranger)) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            _verify(channel, register)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # same name, foreign signer
    unknown = secured.ca.issue("nobody-we-know", server=False)
    with grpc.secure_channel(secured.mtls_address, secured.credentials(unknown)) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            _verify(channel, register)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "nobody-we-know" in (refused.value.details() or "")


def test_a_disabled_principal_s_certificate_stops_working(
    secured: Secured, register: Register, database_url: str
) -> None:
    key = principal_key(database_url, Role.ADMIN)
    from fapiao_client.access_client import AdminClient

    with AdminClient(secured.server.address, token=key, credentials=secured.credentials()) as admin:
        name = "gov-temporary"
        admin.create_principal(name, "verifier", certificate_name=name)
        client = secured.ca.issue(name, server=False)
        with grpc.secure_channel(secured.mtls_address, secured.credentials(client)) as channel:
            assert _verify(channel, register) == pb.VERIFICATION_OUTCOME_MATCH
            admin.update_principal(name, disabled=True)
            with pytest.raises(grpc.RpcError) as refused:
                _verify(channel, register)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_plaintext_off_loopback_is_refused_unless_configured(database_url: str) -> None:
    env = {"FAPIAO_DATABASE_URL": database_url, "FAPIAO_LISTEN": "0.0.0.0:0"}
    refused = subprocess.run(
        [str(fapiao_executable()), "serve"], capture_output=True, text=True, timeout=60, env={**_clean_env(), **env}
    )
    assert refused.returncode == 2 and "credentials in the clear" in refused.stderr, refused.stderr


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
