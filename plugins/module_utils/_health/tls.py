# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""The tls check: the certificate a server presents (days left, trust, issuer, names), read even when untrusted."""

from __future__ import annotations

import datetime
import hashlib
import re
import ssl

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError
from ansible_collections.opsready.runbooks.plugins.module_utils._health.grading import grade, num
from ansible_collections.opsready.runbooks.plugins.module_utils._health.net import connect, tls_context


def probe_tls(spec, limits, budget):
    try:
        from cryptography import x509
    except ImportError:
        raise OpsreadyError("the Python package cryptography is required for tls checks on the host running "
                            "them (Debian: python3-cryptography, PyPI: cryptography)")
    server_name = spec.get("server_name") or spec["host"]
    findings = []
    try:
        der, version = _peer_certificate(spec, server_name, tls_context(spec["validate_certs"], spec.get("ca_path")),
                                         budget)
        trusted = spec["validate_certs"] or None
    except ssl.SSLCertVerificationError as e:
        findings.append((None, "certificate not trusted for %s: %s" % (server_name, e.verify_message)))
        der, version = _peer_certificate(spec, server_name, tls_context(False), budget)
        trusted = False
    cert = x509.load_der_x509_certificate(der)
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(
        tzinfo=datetime.timezone.utc)
    days_left = round((not_after - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400, 1)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    not_before = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before.replace(
        tzinfo=datetime.timezone.utc)
    observed = {"days_left": days_left, "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "not_before": not_before.strftime("%Y-%m-%dT%H:%M:%SZ"), "serial": "%X" % cert.serial_number,
                "sha256": hashlib.sha256(der).hexdigest(),
                "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
                "names": names, "trusted": trusted, "protocol": version}
    if spec.get("issuer") and not re.search(spec["issuer"], observed["issuer"]):
        findings.append((None, "issuer %s does not match /%s/" % (observed["issuer"], spec["issuer"])))
    missing = [name for name in spec.get("names") or [] if not any(_covers(pattern, name) for pattern in names)]
    if missing:
        findings.append((None, "certificate does not cover %s (it names %s)"
                         % (", ".join(missing), ", ".join(names) or "nothing")))
    if days_left <= 0:
        findings.append(("critical", "certificate expired on %s" % observed["not_after"]))
    else:
        findings += grade("cert_days", days_left, limits["cert_days"], label="certificate expires in")
    return observed, findings, "certificate valid for %s more days" % num(days_left)


def _peer_certificate(spec, server_name, context, budget):
    with connect(spec["host"], spec["port"], budget, context, server_name) as tls:
        return tls.getpeercert(binary_form=True), tls.version()


def _covers(pattern, name):
    pattern, name = pattern.lower(), name.lower()
    if pattern.startswith("*."):
        return "." in name and name.split(".", 1)[1] == pattern[2:]
    return pattern == name
