# -*- coding: utf-8 -*-
# Copyright: opsready.runbooks contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils is PRIVATE to opsready.runbooks: it may change without notice.
"""Certificate renewal, planned: the certificates declared (each once: its names, its key, where it is deployed and
who serves it), whether each is due from what its servers serve, the expiry report and its Prometheus metrics. Pure
functions of their inputs; the runbook (role cert_renewal) reads the servers and orders over ACME."""

from __future__ import annotations

import datetime
import re

from ansible_collections.opsready.runbooks.plugins.module_utils._errors import OpsreadyError, number, one_line

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS = re.compile(r"(?=.{1,253}$)%s(\.%s)*" % (LABEL, LABEL))
HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,252}")
PATH = re.compile(r"/[A-Za-z0-9_.+@/-]{0,4094}[A-Za-z0-9_.+@-]")
ACCOUNT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")
SERVICE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9@_.:-]{0,199}")
FORMATS = {"haproxy": {"validate": ["haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"], "service": "haproxy",
                       "paths": ["path"]},
           "nginx": {"validate": ["nginx", "-t"], "service": "nginx", "paths": ["cert_path", "key_path"]}}
CERT_KEYS = {"name", "names", "key_type", "rotate_key", "deploy"}
DEPLOY_KEYS = {"host", "format", "path", "cert_path", "key_path", "owner", "group", "validate", "service", "serve"}
SERVE_KEYS = {"address", "port", "sni"}
KEY_TYPES = ("ecdsa", "rsa")
ALERT_DAYS, REVIEW_DAYS = 21, 45


def certificates(declared, renew_days=30, inventory=None):
    """The declared certificates, checked and with their defaults: [{name, names, key_type, rotate_key, deploy:
    [{host, format, path (haproxy) or cert_path and key_path (nginx), owner, group, validate, service, serve:
    [{address, port, sni}]}]}]. inventory: the host names a deployment may name (none: not checked). Every problem at
    once, before anything is read."""
    problems = []
    days = number(renew_days)
    if days is None or not 0 <= days <= 3650:
        problems.append("cert_renewal_days must be a number of days from 0 to 3650, got %r" % (renew_days,))
    if not isinstance(declared, list) or not declared:
        raise OpsreadyError("cert_renewal_certificates must list at least one certificate. Nothing was changed.",
                            step=True)
    found, seen, files = [], set(), {}
    for n, cert in enumerate(declared):
        where = "certificate %d" % (n + 1)
        if not isinstance(cert, dict):
            problems.append("%s must be a dict (name, names, deploy)" % where)
            continue
        name = cert.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            problems.append("%s: name must be letters, digits, _ . - (at most 64, a file name), got %r" % (where, name))
            continue
        where = "certificate %s" % name
        _unknown_keys(where, cert, CERT_KEYS, problems)
        if name in seen:
            problems.append("%s is declared twice" % where)
        seen.add(name)
        names = cert.get("names") if cert.get("names") is not None else [name]
        if not isinstance(names, list) or not names or not all(_dns(x) for x in names):
            problems.append("%s: names must list DNS names with a dot (no wildcard: http-01 cannot prove one; no "
                            "address), got %r" % (where, names))
            names = [name]
        key_type = cert.get("key_type", "ecdsa")
        if key_type not in KEY_TYPES:
            problems.append("%s: key_type must be one of %s, got %r" % (where, ", ".join(KEY_TYPES), key_type))
        rotate = cert.get("rotate_key", False)
        if not isinstance(rotate, bool):
            problems.append("%s: rotate_key must be true or false, got %r" % (where, rotate))
        deploys = cert.get("deploy")
        if not isinstance(deploys, list) or not deploys:
            problems.append("%s: deploy must list where it is deployed (host, format, path, serve)" % where)
            deploys = []
        checked = [_deployment(where, d, names, problems) for d in deploys]
        unknown = sorted({d.get("host") for d in checked if inventory is not None and d.get("host") not in inventory})
        if unknown:
            problems.append("%s: deploy names %s, not in the inventory" % (where, ", ".join(map(str, unknown))))
        addresses = [(d.get("host"), "%s:%s" % (s["address"], s["port"])) for d in checked for s in d.get("serve", ())]
        for address in sorted({a for dummy, a in addresses if [b for dummy, b in addresses].count(a) > 1}):
            problems.append("%s: %s is named twice as serving it (%s): each address is one server, read once" % (
                where, address, ", ".join("on %s" % h for h, a in addresses if a == address)))
        for deploy in checked:
            for key in FORMATS.get(deploy.get("format"), {}).get("paths", []):
                place = (deploy.get("host"), deploy.get(key))
                if deploy.get(key) and place in files:
                    problems.append("%s: %s:%s is declared twice%s: one file, one certificate" % (
                        where, place[0], place[1], "" if files[place] == name else " (also %s's)" % files[place]))
                files[place] = name
        found.append({"name": name, "names": names, "key_type": key_type, "rotate_key": rotate is True,
                      "deploy": checked})
    if problems:
        raise OpsreadyError("%s. Nothing was changed." % "; ".join(problems), step=True)
    return found


def _dns(value):
    return isinstance(value, str) and "." in value and bool(DNS.fullmatch(value)) and not value.replace(".", "").isdigit()


def _unknown_keys(where, given, known, problems):
    unknown = sorted(str(k) for k in given if k not in known)
    if unknown:
        problems.append("%s: unknown key%s %s (known: %s)" % (where, "s" if len(unknown) > 1 else "",
                                                              ", ".join(unknown), ", ".join(sorted(known))))


def _deployment(where, deploy, names, problems):
    if not isinstance(deploy, dict):
        problems.append("%s: each deploy entry is a dict" % where)
        return {}
    host, form = deploy.get("host"), deploy.get("format", "haproxy")
    where = "%s on %s" % (where, host)
    _unknown_keys(where, deploy, DEPLOY_KEYS, problems)
    if not isinstance(host, str) or not HOST.fullmatch(host):
        problems.append("%s: host must be an inventory host, got %r" % (where, host))
    if form not in FORMATS:
        problems.append("%s: format must be haproxy (one PEM: certificate, chain, key) or nginx (certificate with its "
                        "chain, and key apart), got %r" % (where, form))
        form = "haproxy"
    paths = FORMATS[form]["paths"]
    for key in paths:
        value = deploy.get(key)
        if not isinstance(value, str) or not PATH.fullmatch(value) or "/../" in value + "/" or "/./" in value + "/" \
                or "//" in value:
            problems.append("%s: %s must be an absolute path to a file (letters, digits, _ . + @ - /), got %r"
                            % (where, key, value))
    if form == "nginx" and deploy.get("cert_path") and deploy.get("cert_path") == deploy.get("key_path"):
        problems.append("%s: cert_path and key_path must be two files" % where)
    for key in ("owner", "group"):
        if not isinstance(deploy.get(key, "root"), str) or not ACCOUNT.fullmatch(deploy.get(key, "root")):
            problems.append("%s: %s must be a user or group name, got %r" % (where, key, deploy.get(key)))
    service = deploy.get("service", FORMATS[form]["service"])
    if not isinstance(service, str) or not SERVICE.fullmatch(service):
        problems.append("%s: service must be a systemd unit's name, got %r" % (where, service))
    validate = deploy.get("validate", FORMATS[form]["validate"])
    if not isinstance(validate, list) or not validate or not all(isinstance(w, str) and w for w in validate):
        problems.append("%s: validate must be a command as a list of words, got %r" % (where, validate))
    serves = deploy.get("serve") or [{}]
    checked = []
    for serve in serves if isinstance(serves, list) else [None]:
        if not isinstance(serve, dict):
            problems.append("%s: serve lists {address, port, sni}" % where)
            continue
        _unknown_keys(where + " serve", serve, SERVE_KEYS, problems)
        address, port, sni = serve.get("address", host), serve.get("port", 443), serve.get("sni", names[0])
        if not isinstance(address, str) or not HOST.fullmatch(address):
            problems.append("%s: serve address must be a host name or address, got %r" % (where, address))
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            problems.append("%s: serve port must be from 1 to 65535, got %r" % (where, port))
        if not _dns(sni):
            problems.append("%s: serve sni must be a DNS name, got %r" % (where, sni))
        checked.append({"address": address, "port": port, "sni": sni})
    result = {"host": host, "format": form, "owner": deploy.get("owner", "root"), "group": deploy.get("group", "root"),
              "validate": validate, "service": service, "serve": checked}
    result.update({key: deploy.get(key) for key in paths})
    return result


def _time(text):
    """A certificate time as health_check says it (YYYY-MM-DDTHH:MM:SSZ, fractions allowed), or None."""
    if not isinstance(text, str):
        return None
    for form in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.datetime.strptime(text, form).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            continue
    return None


def due(observed, names, now, renew_days=30, fraction=1.0 / 3):
    """Whether a served certificate (the tls check's observed: not_before, not_after, names) is due: fewer than
    renew_days days left, less than `fraction` of its lifetime left, or names it does not cover. A certificate whose
    whole lifetime is shorter than renew_days is judged by the fraction alone (it would be due as soon as issued,
    and ordered again at every run). {due, why, days_left}; None when the times cannot be read."""
    not_after, not_before = _time(observed.get("not_after")), _time(observed.get("not_before"))
    if not_after is None or not_before is None:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    left = (not_after - now).total_seconds()
    lifetime = max(1.0, (not_after - not_before).total_seconds())
    days_left = round(left / 86400, 1)
    renew_seconds = float(number(renew_days) or 0) * 86400
    short = renew_seconds >= lifetime   # judged by its third alone: else due as soon as issued
    if short:
        renew_seconds = 0.0
    served = observed.get("names") or []
    missing = [n for n in names if not any(_covers(p, n) for p in served)]
    if left <= 0:
        return {"due": True, "why": "expired on %s" % observed["not_after"], "days_left": min(days_left, -0.1)}
    if missing:
        return {"due": True, "why": "does not cover %s" % ", ".join(missing), "days_left": days_left}
    if left < renew_seconds:
        return {"due": True, "why": "%s days left, fewer than %s" % (_num(left / 86400), _num(number(renew_days) or 0)),
                "days_left": days_left}
    if left < lifetime * fraction:
        return {"due": True, "why": "%s days left, less than a third of its %s-day lifetime" % (
            _num(left / 86400), _num(lifetime / 86400)), "days_left": days_left}
    if short:
        return {"due": False, "why": "%s days left (renewed at a third of its %s-day lifetime: it is shorter-lived "
                "than the %s days asked)" % (_num(left / 86400), _num(lifetime / 86400), _num(number(renew_days))),
                "days_left": days_left}
    return {"due": False, "why": "%s days left (renewed below %s, or a third of its %s-day lifetime)" % (
        _num(left / 86400), _num(number(renew_days) or 0), _num(lifetime / 86400)), "days_left": days_left}


def plan(declared, results, now=None, renew_days=30, on_disk=None, force=False, ari=None):
    """Each certificate's state from the tls checks of its servers (health_check's checks, named
    '<certificate>@<address>:<port>') and, given on_disk (x509_certificate_info's results looped over
    `declared | subelements('deploy')`), the certificate each deployment's file holds: {certificates: [{name, due,
    state, why, days_left, not_after, serials, window, servers, files}], due: [names], unknown: [names], stale:
    [names], text}. A certificate one of whose servers could not be read is 'unknown' (not ordered: what it serves
    is not known); one server due makes it due; one not due whose server serves another certificate than the
    deployment's file holds is 'stale' (a reload that did not happen: nothing to order). force: every certificate
    that could be read is due (a key compromised, a CA that revoked). ari: the CA's advice, ari_advice()'s input; a
    certificate the CA advises renewing now is due (a revocation ahead, a window the CA chose), unless its file
    already holds another one (stale: it needs a reload, not an order)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    by_name = {r.get("name"): r for r in results or ()}
    files = _files(on_disk)
    advice = ari_advice(ari)
    rows = []
    for cert in declared:
        servers, unreadable, stale, held = [], [], [], {}
        for deploy in cert["deploy"]:
            path = deploy.get("path") or deploy.get("cert_path")
            in_file = files.get((cert["name"], deploy["host"], path))
            if in_file:
                held["%s:%s" % (deploy["host"], path)] = in_file
            for serve in deploy["serve"]:
                result = by_name.get(check_name(cert["name"], serve)) or {}
                observed = result.get("observed") or {}
                verdict = due(observed, cert["names"], now, renew_days)
                if verdict is None:
                    unreadable.append("%s:%s (%s)" % (serve["address"], serve["port"], result.get("reason") or "not read"))
                    continue
                entry = dict(verdict, address="%s:%s" % (serve["address"], serve["port"]), host=deploy["host"],
                             serial=observed.get("serial"), sha256=observed.get("sha256"),
                             not_after=observed["not_after"], issuer=observed.get("issuer"))
                servers.append(entry)
                if in_file and entry["serial"] != in_file:
                    stale.append("%s serves %s, %s holds %s" % (entry["address"], entry["serial"], path, in_file))
        soonest = min(servers, key=lambda s: s["days_left"]) if servers else None
        said = advice.get(cert["name"])
        if force and servers and not unreadable:
            for s in servers:
                s.update(due=True, why="renewed on demand (cert_renewal_force); %s" % s["why"])
        elif said and said["renew"] and servers and not unreadable and not stale:   # stale: a reload, not an order
            for s in servers:
                s.update(due=True, why="the CA advises renewing now (ARI: %s); %s" % (said["text"], s["why"]))
        is_due = any(s["due"] for s in servers)
        state = "unknown" if unreadable else "due" if is_due else "stale" if stale else "ok"
        why = ("cannot read %s" % ", ".join(unreadable)) if unreadable else \
            "; ".join(sorted({"%s: %s" % (s["address"], s["why"]) for s in servers if s["due"]})) if is_due else \
            "%s: reload it (nothing to order)" % "; ".join(sorted(stale)) if stale else soonest["why"]
        days = soonest["days_left"] if soonest else None
        rows.append({"name": cert["name"], "due": is_due and not unreadable, "state": state, "why": why,
                     "days_left": days, "not_after": soonest["not_after"] if soonest else None,
                     "serials": sorted({s["serial"] for s in servers}), "window": window(days), "servers": servers,
                     "files": held, "ari": said["text"] if said else None})
    due_names = [r["name"] for r in rows if r["due"]]
    text = "; ".join("%s: %s (%s)" % (r["name"], r["state"], r["why"]) for r in rows)
    return {"certificates": rows, "due": due_names, "unknown": [r["name"] for r in rows if r["state"] == "unknown"],
            "stale": [r["name"] for r in rows if r["state"] == "stale"], "text": text}


def ari_advice(ari):
    """{certificate: {renew, text}}: what the CA advises for the certificate served (ARI, RFC 9773), or why it was not
    asked or did not answer. ari: {directory: ansible.builtin.uri's result for the CA's directory, results:
    acme_certificate_renewal_info's results looped over `certificates | zip(get_certificate's results)`}; none: not
    asked. A CA without ARI, or one that did not answer, advises nothing: the days left decide."""
    if not ari:
        return {}
    if not isinstance(ari, dict):
        raise OpsreadyError("ari: {directory, results}, as the role gathers them")
    directory = ari.get("directory") or {}
    offered = isinstance(directory.get("json"), dict) and "renewalInfo" in directory["json"]
    if directory.get("failed") or directory.get("unreachable") or not directory:
        everyone = "not answered: its directory could not be read (%s)" % one_line(directory.get("msg") or "not read")
    elif not offered:
        everyone = "not offered by the CA"
    else:
        everyone = None
    advice = {}
    for result in ari.get("results") or ():
        try:
            cert, served = result["item"]
            name = cert["name"]
        except (KeyError, TypeError, ValueError):
            raise OpsreadyError("ari: each result's item is (certificate, get_certificate's result), as "
                                "certificates | zip(results) makes them")
        if everyone:
            text = everyone
        elif result.get("skipped"):
            text = "not asked: the served certificate was not read (%s)" % one_line(
                (served or {}).get("msg") or "no address answered")
        elif result.get("failed") or result.get("unreachable"):
            text = "not answered: %s" % one_line(result.get("msg") or "no reason given")
        elif not result.get("supports_ari"):
            text = ("not asked: %s" % one_line(result.get("msg") or "?")) if result.get("cert_id") else \
                "not asked: the served certificate has no Authority Key Identifier (the CA could not tell which it is)"
        else:
            text = one_line(result.get("msg") or ("renew now" if result.get("should_renew") else "not yet"))
        advice[name] = {"renew": bool(not everyone and result.get("supports_ari") and result.get("should_renew")
                                      and not result.get("failed")), "text": text[:300]}
    return advice


def _files(on_disk):
    """{(certificate, host, path): serial in hex} from x509_certificate_info's results (a file not read: absent)."""
    held = {}
    for result in on_disk or ():
        try:
            cert, deploy = result["item"]
        except (KeyError, TypeError, ValueError):
            raise OpsreadyError("on_disk: each result's item is (certificate, deployment), as subelements('deploy') "
                                "makes them")
        serial = result.get("serial_number")
        if isinstance(serial, int) and not isinstance(serial, bool):
            held[(cert["name"], deploy["host"], deploy.get("path") or deploy.get("cert_path"))] = "%X" % serial
    return held


def served_text(checks):
    """What each address serves, in words, from health_check's tls checks: 'demo@10.0.0.10:443 serves 1A, ...'."""
    def said(check):
        serial = (check.get("observed") or {}).get("serial")
        return "%s serves %s" % (check.get("name"), serial or "nothing read (%s)" % (check.get("reason") or "?"))
    return ", ".join(said(c) for c in checks or ()) or "nothing read"


def check_name(name, serve):
    return "%s@%s:%s" % (name, serve["address"], serve["port"])


def checks(declared):
    """The health_check tls checks that read what every server serves (concurrently, one run)."""
    return [{"name": check_name(cert["name"], serve),
             "tls": {"host": serve["address"], "port": serve["port"], "server_name": serve["sni"],
                     "validate_certs": False}}
            for cert in declared for deploy in cert["deploy"] for serve in deploy["serve"]]


def window(days):
    """The weekly review's windows: expired, alert (within 21 days), review (within 45), ok; unknown."""
    if days is None:
        return "unknown"
    return "expired" if days < 0 else "alert" if days <= ALERT_DAYS else "review" if days <= REVIEW_DAYS else "ok"


def metrics(report):
    """Prometheus textfile metrics of the expiry report (plan()'s certificates)."""
    lines = ["# HELP opsready_certificate_days_left Days until the certificate expires, the soonest of its servers.",
             "# TYPE opsready_certificate_days_left gauge"]
    for row in report:
        if row.get("days_left") is not None:
            lines.append('opsready_certificate_days_left{certificate="%s"} %s' % (_label(row["name"]), row["days_left"]))
    lines += ["# HELP opsready_certificate_due Whether the certificate is due for renewal (1), or could not be read (-1).",
              "# TYPE opsready_certificate_due gauge"]
    for row in report:
        value = -1 if row.get("state") == "unknown" else 1 if row.get("due") else 0
        lines.append('opsready_certificate_due{certificate="%s"} %d' % (_label(row["name"]), value))
    return "\n".join(lines) + "\n"


def _label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _covers(pattern, name):
    pattern, name = pattern.lower(), name.lower()
    if pattern.startswith("*."):
        return name.count(".") == pattern.count(".") and name.endswith(pattern[1:])
    return pattern == name


def _num(value):
    return ("%.2f" % value).rstrip("0").rstrip(".")
