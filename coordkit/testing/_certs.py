"""Throw-away certificates for secure test servers (needs the ``cryptography`` package).

``CertificateAuthority(folder)`` makes a CA; ``issue()`` signs server or client certificates
(any host names, any validity, so expired ones too) and writes PEM files; ``keystore()``
writes the PKCS12 key and trust stores a Java server (ZooKeeper) reads.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coordkit.testing._process import ServerError

__all__ = ["STORE_PASSWORD", "CertificateAuthority", "Issued"]

# Protects the test keystores only: Java refuses a PKCS12 store without a password.
STORE_PASSWORD = "coordkit-test-store"


def _crypto() -> Any:
    try:
        import cryptography  # noqa: F401
    except ImportError as exc:
        raise ServerError(
            "secure test servers need the cryptography package: "
            "pip install 'coordkit[test]' (or pip install cryptography)"
        ) from exc
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    """PEM files of one certificate: ``cert``, its private ``key`` and the signing ``ca``."""

    cert: str
    key: str
    ca: str


class CertificateAuthority:
    """A CA whose key and certificate live in ``folder`` (``<name>-ca.pem``)."""

    def __init__(self, folder: str | os.PathLike[str], name: str = "coordkit-test") -> None:
        x509, hashes, serialization, ec, _, name_oid = _crypto()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(name_oid.COMMON_NAME, f"{name} CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.ca = str(self.folder / f"{name}-ca.pem")
        Path(self.ca).write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(
        self,
        name: str,
        *,
        hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
        client: bool = False,
        expired: bool = False,
    ) -> Issued:
        """Sign a certificate named ``name`` (its CN; etcd takes a client's CN as its user).
        Server certificates carry ``hosts`` as subject alternative names."""
        x509, hashes, serialization, ec, usage_oid, name_oid = _crypto()
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = (
            (now - datetime.timedelta(days=3), now - datetime.timedelta(days=1))
            if expired
            else (now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
        )
        names = [
            x509.IPAddress(ipaddress.ip_address(h)) if h.replace(".", "").isdigit() else x509.DNSName(h)
            for h in hosts
        ]
        usages = [usage_oid.CLIENT_AUTH] if client else [usage_oid.SERVER_AUTH, usage_oid.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(name_oid.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(
                x509.ExtendedKeyUsage(usages),
                critical=False,
            )
        )
        if not client:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        cert_path, key_path = self.folder / f"{name}.pem", self.folder / f"{name}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_path.chmod(0o600)
        return Issued(str(cert_path), str(key_path), self.ca)

    def keystore(self, issued: Issued) -> tuple[str, str]:
        """PKCS12 (keystore, truststore) paths for a Java server, both under STORE_PASSWORD:
        the keystore holds ``issued``'s key and certificate, the truststore this CA."""
        x509, hashes, serialization, _, _, _ = _crypto()
        from cryptography.hazmat.primitives.serialization import pkcs12

        key = serialization.load_pem_private_key(Path(issued.key).read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(Path(issued.cert).read_bytes())
        # Java 17 reads PBES2/AES PKCS12 stores; legacy RC2 ones it rejects by default.
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(2048)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(STORE_PASSWORD.encode())
        )
        keystore = self.folder / f"{Path(issued.cert).stem}.p12"
        keystore.write_bytes(pkcs12.serialize_key_and_certificates(b"server", key, cert, None, encryption))
        truststore = self.folder / f"{self.name}-trust.p12"
        truststore.write_bytes(
            pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(self._cert, b"ca")], encryption)
        )
        return str(keystore), str(truststore)
