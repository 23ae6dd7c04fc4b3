"""TLS material for the auth tests (trustme): server certificate, client certificates, rogue CA."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization


@dataclass(frozen=True)
class PKI:
    """Files of a test PKI. Private keys are mode 600 (the SDK warns about readable keys)."""

    ca_file: Path  # trusts server_cert
    server_cert: Path
    server_key: Path
    client_ca_file: Path  # the reference server trusts client certificates of this CA
    client_cert: Path
    client_key: Path
    encrypted_client_key: Path  # client_key encrypted with key_passphrase
    key_passphrase: str
    rogue_cert: Path  # a client certificate of a CA the server does not trust
    rogue_key: Path


def make_pki(directory: Path, server_ca: trustme.CA) -> PKI:
    """Write the PKI files into ``directory``; the server certificate is for 127.0.0.1 and localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    server = server_ca.issue_cert("127.0.0.1", "localhost")
    paths = {name: directory / name for name in ("ca.pem", "server.pem", "server.key", "client-ca.pem")}
    server_ca.cert_pem.write_to_path(str(paths["ca.pem"]))
    server.cert_chain_pems[0].write_to_path(str(paths["server.pem"]))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(paths["server.pem"]), append=True)
    server.private_key_pem.write_to_path(str(paths["server.key"]))

    client_ca = trustme.CA()
    client_ca.cert_pem.write_to_path(str(paths["client-ca.pem"]))
    client = client_ca.issue_cert("kei-agent-client.example", common_name="kei-agent-client")
    client_cert, client_key = directory / "client.pem", directory / "client.key"
    client.cert_chain_pems[0].write_to_path(str(client_cert))
    client.private_key_pem.write_to_path(str(client_key))

    passphrase = "canary-passphrase-" + secrets.token_urlsafe(12)
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    encrypted_key = directory / "client-encrypted.key"
    encrypted_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
    )

    rogue = trustme.CA().issue_cert("kei-agent-client.example", common_name="kei-agent-client")
    rogue_cert, rogue_key = directory / "rogue.pem", directory / "rogue.key"
    rogue.cert_chain_pems[0].write_to_path(str(rogue_cert))
    rogue.private_key_pem.write_to_path(str(rogue_key))
    for private in (paths["server.key"], client_key, encrypted_key, rogue_key):
        private.chmod(0o600)
    return PKI(
        ca_file=paths["ca.pem"],
        server_cert=paths["server.pem"],
        server_key=paths["server.key"],
        client_ca_file=paths["client-ca.pem"],
        client_cert=client_cert,
        client_key=client_key,
        encrypted_client_key=encrypted_key,
        key_passphrase=passphrase,
        rogue_cert=rogue_cert,
        rogue_key=rogue_key,
    )
