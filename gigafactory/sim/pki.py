"""Certificates and kubeconfigs of a simulated cluster, made with the ``cryptography`` package.

One cluster CA signs every serving and client certificate of the control plane; Kueue's webhook
has its own CA, shaped the way Kueue's certificate rotator checks it (CN and DNS name
``kueue-ca``), so the rotator keeps our certificate instead of making one without the loopback
address the API server dials. Everything is valid for loopback only.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = "127.0.0.1"
CLUSTER_NAME = "gigafactory-sim"

CA_DAYS = 3650
"""Validity of both CAs; Kueue's rotator wants at least 90 days left on every certificate."""
LEAF_DAYS = 3650

KUEUE_CA_NAME = "kueue-ca"
"""The rotator validates its CA against this DNS name (cert-controller ``CAName``)."""

_PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Identity:
    """A client certificate's identity: user name (CN) and groups (O)."""

    user: str
    groups: tuple[str, ...] = ()


# Client identities the control plane components use; the API server's default RBAC binds them.
ADMIN = Identity("gigafactory-admin", ("system:masters",))
CONTROLLER_MANAGER = Identity("system:kube-controller-manager")
SCHEDULER = Identity("system:kube-scheduler")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_pem(key: _PrivateKey) -> bytes:
    # PKCS#1 for RSA ("RSA PRIVATE KEY"), SEC1 for EC: what Go's tls.X509KeyPair and
    # cert-controller read without surprises.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class KeyPair:
    cert: x509.Certificate
    key: _PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` and ``<stem>.key`` (mode 0600) and return their paths."""
        crt, key = folder / f"{stem}.crt", folder / f"{stem}.key"
        crt.write_bytes(self.cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(self.key_pem)
        return crt, key


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Signing and key encipherment; a CA also signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=True,
        key_encipherment=True,
        key_cert_sign=ca,
        crl_sign=ca,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(cn: str, *, rsa_key: bool = False, dns: tuple[str, ...] = ()) -> KeyPair:
    key: _PrivateKey = _rsa_key() if rsa_key else _ec_key()
    name = _name(cn, ("gigafactory",))
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    return KeyPair(builder.sign(key, hashes.SHA256()), key)


def make_leaf(
    ca: KeyPair,
    cn: str,
    *,
    orgs: tuple[str, ...] = (),
    server: bool = False,
    client: bool = False,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    rsa_key: bool = False,
) -> KeyPair:
    """A certificate signed by ``ca``: serving (SANs ``dns`` and ``ips``) and/or client auth."""
    key: _PrivateKey = _rsa_key() if rsa_key else _ec_key()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, orgs))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return KeyPair(builder.sign(ca.key, hashes.SHA256()), key)


@dataclass(frozen=True)
class Pki:
    """Paths of every file :func:`create` writes (all under one folder)."""

    folder: Path

    def path(self, name: str) -> Path:
        return self.folder / name

    @property
    def ca_crt(self) -> Path:
        return self.path("ca.crt")

    @property
    def ca_key(self) -> Path:
        return self.path("ca.key")

    @property
    def sa_key(self) -> Path:
        return self.path("sa.key")

    @property
    def sa_pub(self) -> Path:
        return self.path("sa.pub")

    def crt(self, stem: str) -> Path:
        return self.path(f"{stem}.crt")

    def key(self, stem: str) -> Path:
        return self.path(f"{stem}.key")


# Serving certificates: the API server's and one for the other loopback endpoints
# (controller manager, scheduler health) signed by the cluster CA.
_SERVING_DNS = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")


def create(folder: Path, kueue_namespace: str, kueue_service: str) -> Pki:
    """Write the cluster CA, serving and client certificates, the service-account key pair and
    Kueue's webhook CA and serving certificate into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    pki = Pki(folder)
    ca = make_ca("gigafactory-sim-ca")
    ca.write(folder, "ca")
    make_leaf(ca, "kube-apiserver", server=True, dns=_SERVING_DNS, ips=(LOOPBACK, "10.96.0.1")).write(
        folder, "apiserver"
    )
    make_leaf(ca, "loopback-serving", server=True, dns=("localhost",), ips=(LOOPBACK,)).write(
        folder, "serving"
    )
    for stem, who in (
        ("admin", ADMIN),
        ("controller-manager", CONTROLLER_MANAGER),
        ("scheduler", SCHEDULER),
    ):
        make_leaf(ca, who.user, orgs=who.groups, client=True).write(folder, stem)
    sa = _rsa_key()
    pki.sa_key.touch(mode=0o600)
    pki.sa_key.write_bytes(_key_pem(sa))
    pki.sa_pub.write_bytes(
        sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    kueue_ca = make_ca(KUEUE_CA_NAME, rsa_key=True, dns=(KUEUE_CA_NAME,))
    kueue_ca.write(folder, "kueue-ca")
    make_leaf(
        kueue_ca,
        f"{kueue_service}.{kueue_namespace}.svc",
        server=True,
        dns=(f"{kueue_service}.{kueue_namespace}.svc", "localhost"),
        ips=(LOOPBACK,),
        rsa_key=True,
    ).write(folder, "kueue-webhook")
    return pki


def kubeconfig(server: str, ca_crt: Path, client_crt: Path, client_key: Path, user: str) -> dict[str, Any]:
    """A kubeconfig with the certificates embedded (it stays valid when copied elsewhere)."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CLUSTER_NAME, "cluster": {"server": server, "certificate-authority-data": b64(ca_crt)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(client_crt), "client-key-data": b64(client_key)},
            }
        ],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": CLUSTER_NAME,
    }


def write_kubeconfig(path: Path, pki: Pki, server: str, stem: str, user: str) -> Path:
    data = kubeconfig(server, pki.ca_crt, pki.crt(stem), pki.key(stem), user)
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
