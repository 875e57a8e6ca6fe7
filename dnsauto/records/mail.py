"""Every DNS record a mail domain needs, exactly as Stalwart 0.16 computes them.

This mirrors ``Server::build_dns_records`` (``crates/common/src/network/dns/records.rs``); the
table in reference/stalwart.md §2.2 lists the records. ``D`` is the domain and ``H`` the server
hostname below.

Where dnsauto has less to go on than Stalwart, it decides as follows:

* CAA (``caa``) is published when the domain's ``certificateManagement`` is ``Automatic``
  (Stalwart: its AcmeProvider exists), for the CA of ``mailServer.acme.directory``. ``{ca}`` is the
  registrable domain of the directory URL's host by the Public Suffix List shipped in
  ``publicsuffixlist`` (Stalwart: ``psl::domain_str``); a host that is an IP address or
  ``localhost`` has none, and then no CAA record is made, as in Stalwart when ``domain_str``
  fails. Without an ``accountUri`` the issue record is plain ``"{ca}"`` and no
  ``_validation-persist`` record is made: ACME DNS-PERSIST-01 binds an account, so the record
  means nothing without one.
* ``_validation-persist`` gets ``; policy=wildcard`` when the certificate management has no
  ``subjectAlternativeNames`` (Stalwart's Bootstrap creates it with none).
* PACC (``_ua-auto-config``) is Stalwart's document for the configured services, with the
  OAuth issuer ``https://{jmap hostname or H}``, Stalwart's ``http.url_https`` when no public
  URL is set. dnsauto knows neither a public URL nor per-domain OIDC directories.
* TLSA certificates: for a domain whose ``certificateManagement`` is ``Automatic``, first the
  certificates dnsauto obtains by ACME (``<stateDir>/certs/<name>/``, see
  :mod:`dnsauto.records.tlsa`): ``3 1 1`` for the current key and for the next renewal's key,
  ``2 1 1`` for the current chain's issuers. Otherwise, and for hosts none of those covers,
  ``mailServer.tlsaCertificates`` (PEM chains, inline or as file paths). A host uses the first
  chain whose leaf names it (subject alternative DNS names, or the subject common name when
  there are none; ``*.parent`` covers one label). Stalwart looks the host up in its loaded
  certificates by name, then by parent name.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import json
import threading
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CAA
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.TLSA
import dns.rdtypes.IN.SRV
import dns.rrset
from cryptography import x509
from cryptography.x509.oid import NameOID
from publicsuffixlist import PublicSuffixList

from dnsauto.config.domain import (
    AutomaticCertificate,
    AutomaticDns,
    DnsRecordType,
    Domain,
    ManualDns,
)
from dnsauto.config.mailserver import MailServer, Service, ServiceProtocol
from dnsauto.plugin.changes import rrset_of
from dnsauto.plugin.errors import DnsautoError
from dnsauto.plugin.names import canonical_order, check_hostname, to_name
from dnsauto.plugin.txt import txt_rdata
from dnsauto.records.dkim import DkimKey
from dnsauto.records.mtasts import mta_sts_policy_id
from dnsauto.records.tlsa import ManagedCertificate, covering, spki_digest

__all__ = [
    "build_records",
    "certificate_authority",
    "load_certificate_chain",
    "mta_sts_id",
    "pacc_document",
    "report_uri",
]

R = DnsRecordType
IN = dns.rdataclass.IN

_HTTP_SRV = {
    ServiceProtocol.JMAP: "jmap",
    ServiceProtocol.CALDAV: "caldavs",
    ServiceProtocol.CARDDAV: "carddavs",
}
_TEXT_SRV = {
    ServiceProtocol.IMAP: (("imap", 143), ("imaps", 993)),
    ServiceProtocol.POP3: (("pop3", 110), ("pop3s", 995)),
    ServiceProtocol.SMTP: (("submission", 587), ("submissions", 465)),
}
_TLSA_PORT = {
    ServiceProtocol.IMAP: 993,
    ServiceProtocol.POP3: 995,
    ServiceProtocol.SMTP: 465,
    ServiceProtocol.JMAP: 443,
    ServiceProtocol.CALDAV: 443,
    ServiceProtocol.CARDDAV: 443,
    ServiceProtocol.WEBDAV: 443,
}
_TLSA_WEB_NAMES = (
    ("ua-auto-config", R.AUTO_CONFIG),
    ("autoconfig", R.AUTO_CONFIG_LEGACY),
    ("autodiscover", R.AUTO_DISCOVER),
    ("mta-sts", R.MTA_STS),
)
# PACC ``protocols`` members in the order of Stalwart's ``Protocols`` struct (serde order).
_PACC_ORDER = (
    ServiceProtocol.JMAP,
    ServiceProtocol.IMAP,
    ServiceProtocol.POP3,
    ServiceProtocol.SMTP,
    ServiceProtocol.CALDAV,
    ServiceProtocol.CARDDAV,
    ServiceProtocol.WEBDAV,
    ServiceProtocol.MANAGESIEVE,
)
_PACC_URL_PATH = {
    ServiceProtocol.JMAP: "/jmap/session",
    ServiceProtocol.CALDAV: "/dav/cal/",
    ServiceProtocol.CARDDAV: "/dav/card/",
    ServiceProtocol.WEBDAV: "/dav/file/",
}


def report_uri(uri: str, domain: str) -> str:
    """Stalwart's rule: a ``mailto:`` URI without ``@`` gets ``@{domain}`` appended."""
    if uri.startswith("mailto:") and "@" not in uri:
        return f"{uri}@{domain}"
    return uri


def pacc_document(server_hostname: str, services: Sequence[Service]) -> bytes:
    """The PACC configuration (draft-ietf-mailmaint-pacc) Stalwart serves, byte for byte.

    Stalwart builds it in ``Network::parse`` (``crates/common/src/config/network.rs``) from the
    ``pacc::Configuration`` structs and ``serde_json::to_string``: compact JSON, members in
    struct order, ``protocols`` holding one entry per configured service, the OAuth issuer
    ``https://{host}`` (the JMAP service's host, else the server hostname), password
    authentication on, provider name ``Stalwart``.
    """
    host = check_hostname(server_hostname)
    by_protocol: dict[ServiceProtocol, str] = {}
    http_host = host
    for service in services:
        protocol = ServiceProtocol(service.protocol)
        hostname = check_hostname(service.hostname) if service.hostname else host
        by_protocol[protocol] = hostname
        if protocol is ServiceProtocol.JMAP:
            http_host = hostname
    protocols: dict[str, dict[str, str]] = {}
    for protocol in _PACC_ORDER:
        if protocol not in by_protocol:
            continue
        hostname = by_protocol[protocol]
        if protocol in _PACC_URL_PATH:
            protocols[protocol.value] = {"url": f"https://{hostname}{_PACC_URL_PATH[protocol]}"}
        else:
            protocols[protocol.value] = {"host": hostname}
    document = {
        "protocols": protocols,
        "authentication": {"oauth-public": {"issuer": f"https://{http_host}"}, "password": True},
        "info": {"provider": {"name": "Stalwart"}},
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_SUFFIX_LIST_LOCK = threading.Lock()


def _public_suffix_list() -> PublicSuffixList:
    """The list, parsed once: a sync's worker threads all ask for it at their start, and an
    unguarded cache let each of them parse it (7 % of a re-sync of 200 zones)."""
    with _SUFFIX_LIST_LOCK:
        return _parsed_suffix_list()


@cache
def _parsed_suffix_list() -> PublicSuffixList:
    return PublicSuffixList()


@functools.lru_cache(maxsize=64)
def certificate_authority(directory_url: str) -> str | None:
    """The CA's domain for CAA: the registrable domain of the ACME directory URL's host.

    ``https://acme-v02.api.letsencrypt.org/directory`` gives ``letsencrypt.org``. None when
    the host is an IP address or has no registrable domain (``localhost``). Kept for each
    URL: every domain of a mail server asks for the same (a sixth of building its records).
    """
    host = urlsplit(directory_url).hostname
    if not host:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    result: str | None = _public_suffix_list().privatesuffix(host.rstrip(".").lower())
    return result


def _source_name(index: int, source: str) -> str:
    return f"tlsaCertificates[{index}]" if "-----BEGIN" in source else source


def load_certificate_chain(source: str, *, label: str | None = None) -> list[x509.Certificate]:
    """The certificates of a PEM chain, leaf first; ``source`` is PEM text or a file path.

    :raises DnsautoError: the file cannot be read or holds no valid PEM certificate; the
        message names the file (or ``label`` for inline PEM).
    """
    where = label or source
    if "-----BEGIN" in source:
        data = source.encode("utf-8")
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise DnsautoError(
                f"cannot read TLSA certificate chain {where}: {exc.strerror}"
            ) from None
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise DnsautoError(f"TLSA certificate chain {where} is not valid PEM: {exc}") from None
    return chain


def _certificate_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    else:
        names = san.value.get_values_for_type(x509.DNSName)
    return [n.rstrip(".").lower() for n in names]


def _covers(names: Sequence[str], host: str) -> bool:
    if host in names:
        return True
    parent = host.partition(".")[2]
    return bool(parent) and f"*.{parent}" in names


def _spki(cert: x509.Certificate) -> bytes:
    """The certificate's SubjectPublicKeyInfo exactly as encoded in it (TLSA selector 1)."""
    tbs = cert.tbs_certificate_bytes
    _, content, _ = _der_item(tbs, 0)
    offset = content
    # tbsCertificate: [0] version (optional), serial, signature, issuer, validity, subject, spki
    if tbs[offset] == 0xA0:
        offset = _der_item(tbs, offset)[2]
    for _ in range(5):
        offset = _der_item(tbs, offset)[2]
    start = offset
    end = _der_item(tbs, offset)[2]
    return tbs[start:end]


def _der_item(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, content start, end) of the DER item at ``offset``."""
    tag = data[offset]
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    return tag, start, start + length


def _tlsa(usage: int, cert: x509.Certificate) -> dns.rdata.Rdata:
    digest = hashlib.sha256(_spki(cert)).digest()
    return _rdata(dns.rdtypes.ANY.TLSA.TLSA, usage, 1, 1, digest)


def _rdata(cls: type[dns.rdata.Rdata], *fields: object) -> dns.rdata.Rdata:
    """An IN-class rdata of ``cls`` from its fields (dnspython's constructors are untyped)."""
    factory = cast(Callable[..., dns.rdata.Rdata], cls)
    return factory(IN, dns.rdatatype.from_text(cls.__name__), *fields)


@functools.lru_cache(maxsize=1024)
def _shared_rdata(cls: type[dns.rdata.Rdata], *fields: object) -> dns.rdata.Rdata:
    """:func:`_rdata` of these fields (a host name as text), made once for every domain that
    publishes it: most of a mail domain's records are the same rdata as every other domain's
    of the same server (its MX, CNAME, SRV and CAA records), and making an rdata, which is
    immutable, was a third of building the records."""
    return _rdata(cls, *(to_name(f) if isinstance(f, str) else f for f in fields))


_shared_txt = functools.lru_cache(maxsize=1024)(txt_rdata)
"""A TXT rdata made once for every domain that publishes the same text (SPF, MTA-STS, ...)."""


class _Records:
    """Records gathered by (name, type), turned into RRsets at the end."""

    def __init__(self) -> None:
        # By lower-case labels (a dnspython Name hashes a character at a time) and type.
        self._by_key: dict[
            tuple[tuple[bytes, ...], dns.rdatatype.RdataType],
            tuple[dns.name.Name, list[dns.rdata.Rdata]],
        ] = {}

    def add(self, name: str, rdata: dns.rdata.Rdata) -> None:
        owner = to_name(name)
        _, rdatas = self._by_key.setdefault((canonical_order(owner), rdata.rdtype), (owner, []))
        if rdata not in rdatas:
            rdatas.append(rdata)

    def txt(self, name: str, text: str) -> None:
        self.add(name, _shared_txt(text))

    def mx(self, name: str, priority: int, host: str) -> None:
        self.add(name, _shared_rdata(dns.rdtypes.ANY.MX.MX, priority, host))

    def cname(self, name: str, target: str) -> None:
        self.add(name, _shared_rdata(dns.rdtypes.ANY.CNAME.CNAME, target))

    def srv(self, name: str, port: int, target: str) -> None:
        self.add(name, _shared_rdata(dns.rdtypes.IN.SRV.SRV, 0, 1, port, target))

    def caa(self, name: str, tag: str, value: str) -> None:
        self.add(name, _shared_rdata(dns.rdtypes.ANY.CAA.CAA, 0, tag.encode(), value.encode()))

    def rrsets(self, ttl: int) -> list[dns.rrset.RRset]:
        ordered = sorted(self._by_key.items(), key=lambda item: item[0])
        return [rrset_of(owner, ttl, rdatas) for _, (owner, rdatas) in ordered]


def build_records(
    *,
    domain: str,
    publish: Sequence[DnsRecordType | str],
    settings: Domain,
    server_hostname: str,
    mail_server: MailServer,
    ttl: int,
    dkim_keys: Sequence[DkimKey],
    managed_certificates: Sequence[ManagedCertificate] = (),
) -> list[dns.rrset.RRset]:
    """The RRsets of the record families in ``publish``, as Stalwart 0.16 builds them.

    One RRset per (name, type), absolute names, sorted by name (DNS canonical order) then type.

    :param domain: the mail domain ``D``.
    :param publish: which families to build (``DnsRecordType`` values).
    :param settings: the domain's settings (report URI, DNS management for TLSA, certificate
        management for CAA).
    :param server_hostname: ``H``, the default for every unset MX and service hostname.
    :param ttl: the TTL of every RRset, in seconds.
    :param dkim_keys: the domain's DKIM keys; those in a published stage get a record.
    :param managed_certificates: the certificates dnsauto obtains by ACME, for TLSA when the
        domain's ``certificateManagement`` is ``Automatic``.
    :raises ValueError: a domain or host name is not valid.
    :raises DnsautoError: a TLSA certificate chain cannot be read.
    """
    if ttl < 0 or ttl > 0x7FFFFFFF:
        raise ValueError(f"TTL {ttl} is out of range")
    d = check_hostname(domain)
    h = check_hostname(server_hostname)
    wanted = {DnsRecordType(p) for p in publish}
    suffix = f".{d}"
    mxs = [
        (mx.priority, check_hostname(mx.hostname) if mx.hostname else h)
        for mx in mail_server.mail_exchangers
    ]
    services = [
        (ServiceProtocol(s.protocol), check_hostname(s.hostname) if s.hostname else h, s)
        for s in mail_server.services
    ]
    out = _Records()

    if R.DKIM in wanted:
        for key in dkim_keys:
            if key.stage.is_published:
                out.add(key.record_name(d).to_text(), txt_rdata(key.public_value))

    if R.MX in wanted:
        for priority, host in mxs:
            out.mx(d, priority, host)

    if R.SPF in wanted:
        for host in dict.fromkeys(host for _, host in mxs):
            if host.endswith(suffix):
                out.txt(host, "v=spf1 a -all")
        out.txt(d, "v=spf1 mx -all")

    uri = settings.report_address_uri
    if uri is not None and R.DMARC in wanted:
        out.txt(f"_dmarc.{d}", f"v=DMARC1; p=reject; rua={report_uri(uri, d)}")
    if uri is not None and R.TLS_RPT in wanted:
        out.txt(f"_smtp._tls.{d}", f"v=TLSRPTv1; rua={report_uri(uri, d)}")

    policy_id = mta_sts_id(mail_server, [host for _, host in mxs])
    if R.MTA_STS in wanted and policy_id is not None:
        out.cname(f"mta-sts.{d}", h)
        out.txt(f"_mta-sts.{d}", f"v=STSv1; id={policy_id}")

    if R.AUTO_CONFIG in wanted:
        digest = hashlib.sha256(pacc_document(h, mail_server.services)).digest()
        out.cname(f"ua-auto-config.{d}", h)
        out.txt(f"_ua-auto-config.{d}", "v=UAAC1; a=sha256; d=" + base64.b64encode(digest).decode())
    if R.AUTO_CONFIG_LEGACY in wanted:
        out.cname(f"autoconfig.{d}", h)
    if R.AUTO_DISCOVER in wanted:
        out.cname(f"autodiscover.{d}", h)

    if R.SRV in wanted:
        for protocol, host, service in services:
            if protocol in _HTTP_SRV:
                out.srv(f"_{_HTTP_SRV[protocol]}._tcp.{d}", 443, host)
            for index, (name, port) in enumerate(_TEXT_SRV.get(protocol, ())):
                if index == 1 or service.cleartext:
                    out.srv(f"_{name}._tcp.{d}", port, host)

    certificate = settings.certificate_management
    if R.CAA in wanted and isinstance(certificate, AutomaticCertificate):
        wildcard = not certificate.subject_alternative_names
        _add_caa(out, d, mail_server, uri, wildcard)

    if R.TLSA in wanted:
        managed = managed_certificates if isinstance(certificate, AutomaticCertificate) else ()
        _add_tlsa(out, d, settings, mxs, services, mail_server, managed)

    return out.rrsets(ttl)


def mta_sts_id(mail_server: MailServer, mx_hosts: Sequence[str]) -> str | None:
    """The MTA-STS policy's id: the configured one, else Stalwart's hash of the policy.

    None when the policy has no mx pattern: Stalwart has a policy exactly when there is an MX.
    """
    if mail_server.mta_sts_mx is None:
        patterns = list(mx_hosts)
    else:
        patterns = [_mx_pattern(p) for p in mail_server.mta_sts_mx]
    if not patterns:
        return None
    if mail_server.mta_sts_policy_id:
        return mail_server.mta_sts_policy_id
    max_age = int(mail_server.mta_sts_max_age.total_seconds())
    return mta_sts_policy_id(mail_server.mta_sts_mode, max_age, patterns)


def _mx_pattern(pattern: str) -> str:
    if pattern.startswith("*."):
        return "*." + check_hostname(pattern[2:])
    return check_hostname(pattern)


def _add_caa(
    out: _Records, d: str, mail_server: MailServer, uri: str | None, wildcard: bool
) -> None:
    ca = certificate_authority(mail_server.acme.directory)
    if ca is None:
        return
    account = mail_server.acme.account_uri
    out.caa(d, "issue", f"{ca};accounturi={account}" if account else ca)
    if uri is not None and uri.startswith("mailto:"):
        out.caa(d, "iodef", report_uri(uri, d))
    if account:
        policy = "; policy=wildcard" if wildcard else ""
        out.txt(f"_validation-persist.{d}", f"{ca}; accounturi={account}{policy}")


def _add_tlsa(
    out: _Records,
    d: str,
    settings: Domain,
    mxs: Sequence[tuple[int, str]],
    services: Sequence[tuple[ServiceProtocol, str, Service]],
    mail_server: MailServer,
    managed: Sequence[ManagedCertificate],
) -> None:
    suffix = f".{d}"
    ports: dict[str, set[int]] = {}
    for _, host in mxs:
        if host == d or host.endswith(suffix):
            ports.setdefault(host, set()).add(25)
    for protocol, host, _ in services:
        if (host == d or host.endswith(suffix)) and protocol in _TLSA_PORT:
            ports.setdefault(host, set()).add(_TLSA_PORT[protocol])
    management = settings.dns_management
    for label, family in _TLSA_WEB_NAMES:
        if isinstance(management, ManualDns) or (
            isinstance(management, AutomaticDns) and family in management.publish_records
        ):
            ports.setdefault(f"{label}.{d}", set()).add(443)
    if not ports:
        return
    chains = [
        (_certificate_names(loaded[0]), loaded)
        for index, source in enumerate(mail_server.tlsa_certificates)
        if (loaded := load_certificate_chain(source, label=_source_name(index, source)))
    ]
    issued = [c for c in managed if c.chain]  # before the first issuance: nothing to match
    for host, host_ports in ports.items():
        rdatas: list[dns.rdata.Rdata]
        ours = covering(issued, host)
        if ours is not None:
            rdatas = [_tlsa(3 if n == 0 else 2, cert) for n, cert in enumerate(ours.chain)]
            if ours.next_spki is not None:
                digest = spki_digest(ours.next_spki)
                rdatas.insert(1, _rdata(dns.rdtypes.ANY.TLSA.TLSA, 3, 1, 1, digest))
        else:
            chain = _resolve_chain(chains, host)
            if chain is None:
                continue
            rdatas = [_tlsa(3 if n == 0 else 2, cert) for n, cert in enumerate(chain)]
        for rdata in rdatas:
            for port in sorted(host_ports):
                out.add(f"_{port}._tcp.{host}", rdata)


def _resolve_chain(
    chains: Sequence[tuple[list[str], list[x509.Certificate]]], host: str
) -> list[x509.Certificate] | None:
    for names, chain in chains:
        if host in names:
            return chain
    for names, chain in chains:
        if _covers(names, host):
            return chain
    return None
