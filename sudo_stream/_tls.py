"""The TLS settings of a client: whom to trust (``verify``), which certificate to show
(``cert``), and whether to trust the operating system's store (``system_trust_store``).

They are checked when the client is made (types, files that exist, combinations that make
sense), so a mistake is a clear error at once. The ``ssl.SSLContext`` they describe is
built later, in a worker thread, by :meth:`TLSSettings.build` (it reads CA bundles and key
files: blocking I/O that must not run on the event loop).
"""

from __future__ import annotations

import os
import re
import ssl
import sys
from dataclasses import dataclass
from typing import Union

StrPath = Union[str, "os.PathLike[str]"]
VerifyTypes = Union[bool, StrPath, ssl.SSLContext]
"""``True`` (the default CA bundle), ``False`` (no verification), a CA file or directory,
or a ready ``ssl.SSLContext``."""
CertTypes = Union[StrPath, tuple[StrPath, StrPath], tuple[StrPath, StrPath, Union[str, bytes, None]]]
"""A PEM file holding the certificate and its key, ``(certfile, keyfile)``, or
``(certfile, keyfile, password)``."""


@dataclass(frozen=True)
class TLSSettings:
    """Validated TLS settings; :meth:`build` makes the context they describe."""

    verify: bool | str | ssl.SSLContext = True
    cert: tuple[str, str | None, str | bytes | None] | None = None
    system_trust_store: bool = False

    def __repr__(self) -> str:  # never the key's password
        cert = None if self.cert is None else self.cert[:2]
        return (
            f"TLSSettings(verify={self.verify!r}, cert={cert!r}, "
            f"system_trust_store={self.system_trust_store!r})"
        )

    @classmethod
    def of(
        cls, verify: VerifyTypes = True, cert: CertTypes | None = None, system_trust_store: bool = False
    ) -> TLSSettings:
        """Check the arguments a client was given; raise ``TypeError``, ``ValueError``,
        ``FileNotFoundError`` or ``ModuleNotFoundError`` naming the one that is wrong."""
        if not isinstance(system_trust_store, bool):
            raise TypeError(
                f"system_trust_store must be True or False, got {type(system_trust_store).__name__}"
            )
        checked_verify: bool | str | ssl.SSLContext
        if isinstance(verify, (bool, ssl.SSLContext)):
            checked_verify = verify
        elif isinstance(verify, (str, os.PathLike)):
            checked_verify = _existing_path("verify", verify, directory_ok=True)
        else:
            raise TypeError(
                "verify must be True, False, the path of a CA file or directory, or an "
                f"ssl.SSLContext, got {type(verify).__name__}"
            )
        if isinstance(verify, ssl.SSLContext):
            if verify.protocol == ssl.PROTOCOL_TLS_SERVER:
                raise ValueError("verify is a server-side SSLContext; make it with ssl.PROTOCOL_TLS_CLIENT")
            if cert is not None:
                raise ValueError(
                    "cert cannot be given with an ssl.SSLContext as verify: load the client "
                    "certificate into that context (context.load_cert_chain(...))"
                )
        if system_trust_store:
            if verify is False or isinstance(verify, ssl.SSLContext):
                raise ValueError(
                    "system_trust_store=True verifies with the operating system's trust store; "
                    f"it cannot be combined with verify={'False' if verify is False else 'an SSLContext'}"
                )
            import importlib.util

            if _OS_VERIFIER and importlib.util.find_spec("truststore") is None:
                raise ModuleNotFoundError(
                    "system_trust_store=True needs the truststore package: "
                    "pip install 'sudo-stream[truststore]'",
                    name="truststore",
                )
        return cls(checked_verify, _check_cert(cert), system_trust_store)

    @property
    def is_default(self) -> bool:
        """Whether these are the settings of a client given none."""
        return self.verify is True and self.cert is None and not self.system_trust_store

    def build(self) -> ssl.SSLContext:
        """The context these settings describe, offering only HTTP/1.1 (ALPN).

        Blocking: reads CA bundles and key files; run it in a worker thread. A context
        given as ``verify`` is used as it is, but for its ALPN protocols (as httpcore sets
        them on the contexts it is given).
        """
        verify = self.verify
        context: ssl.SSLContext
        if isinstance(verify, ssl.SSLContext):
            context = verify
        elif self.system_trust_store:
            if _OS_VERIFIER:
                import truststore

                context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            else:
                context = _system_bundle()
            if isinstance(verify, str):  # trusted besides the system's own
                _trusting(verify, context)
        elif verify is True:
            import httpx

            context = httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR
        elif verify is False:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:  # these CAs alone, not the default bundle (as httpx does)
            context = _trusting(verify)
        if self.cert is not None:
            certfile, keyfile, password = self.cert
            try:
                context.load_cert_chain(certfile, keyfile, password)
            except ssl.SSLError as exc:  # its words are OpenSSL's ("PEM lib"): say which
                raise ValueError(
                    f"cert: cannot load the certificate {certfile!r} with the key "
                    f"{keyfile or certfile!r} (not PEM, not a matching pair, or a wrong or "
                    f"missing password): {exc}"
                ) from exc
        context.set_alpn_protocols(["http/1.1"])
        return context


# truststore verifies through the operating system's own API on macOS and Windows.
# Elsewhere it is OpenSSL with the system's CA bundle, which it reloads at every
# wrap_socket: ~75 ms of blocking file I/O per new connection, on the event loop. There we
# load that same bundle once, in the worker thread, found as truststore finds it.
_OS_VERIFIER = sys.platform in ("darwin", "win32")
_CA_FILE_CANDIDATES = (  # truststore's list, after Christian Heimes' certifi-system-store
    "/etc/ssl/cert.pem",  # Alpine, Arch, Fedora 34-43, OpenWRT, RHEL 9-10, BSD
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # Fedora 44+, RHEL 11+
    "/etc/pki/tls/cert.pem",  # Fedora <= 34, RHEL <= 9, CentOS <= 9
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu
    "/etc/ssl/ca-bundle.pem",  # SUSE
)


def _system_bundle() -> ssl.SSLContext:
    """The system's CA bundle: where OpenSSL looks (``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
    included), else the usual place of the distribution (a Python whose OpenSSL was built
    elsewhere looks in the wrong place)."""
    defaults = ssl.get_default_verify_paths()
    if defaults.cafile or (defaults.capath and _holds_hashed_certificates(defaults.capath)):
        return ssl.create_default_context()
    for cafile in _CA_FILE_CANDIDATES:
        if os.path.isfile(cafile):
            return ssl.create_default_context(cafile=cafile)
    raise ValueError(
        "system_trust_store: no CA bundle found on this system (set SSL_CERT_FILE, or pass "
        "a CA file as verify)"
    )


def _holds_hashed_certificates(capath: str) -> bool:
    if not os.path.isdir(capath):
        return False
    return any(re.fullmatch(r"[0-9a-fA-F]{8}\.[0-9]", name) for name in os.listdir(capath))


def _trusting(path: str, context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    """``context`` also trusting the CAs at ``path`` (a file or a hashed directory); with
    no context, httpx's for a CA path: the standard library's defaults, trusting those
    CAs alone."""
    cafile, capath = (None, path) if os.path.isdir(path) else (path, None)
    try:
        if context is None:
            return ssl.create_default_context(cafile=cafile, capath=capath)
        context.load_verify_locations(cafile, capath)
    except ssl.SSLError as exc:
        raise ValueError(f"verify: cannot load CA certificates from {path!r}: {exc}") from exc
    return context


def _existing_path(argument: str, path: object, *, directory_ok: bool = False) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{argument}: a path must be a str or os.PathLike, got {type(path).__name__}")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"{argument}: a path must be a str or os.PathLike[str], got bytes")
    if os.path.isfile(text) or (directory_ok and os.path.isdir(text)):
        return text
    what = "file or directory" if directory_ok else "file"
    raise FileNotFoundError(f"{argument}: no such {what}: {text!r}")


def _check_cert(cert: object) -> tuple[str, str | None, str | bytes | None] | None:
    if cert is None:
        return None
    if isinstance(cert, (str, os.PathLike)):
        return _existing_path("cert", cert), None, None
    if isinstance(cert, tuple) and len(cert) in (2, 3):
        certfile = _existing_path("cert", cert[0])
        keyfile = _existing_path("cert", cert[1])
        password = cert[2] if len(cert) == 3 else None
        if password is not None and not isinstance(password, (str, bytes)):
            raise TypeError(
                f"cert: the key's password must be a str or bytes, got {type(password).__name__}"
            )
        return certfile, keyfile, password
    raise TypeError(
        "cert must be the path of a PEM file with the certificate and its key, "
        f"(certfile, keyfile) or (certfile, keyfile, password), got {type(cert).__name__}"
    )
