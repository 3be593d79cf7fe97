#!/usr/bin/env python3
"""Reads one testssl.sh JSON file (--jsonfile) and prints one `PASS|FAIL name: detail` line per check
of kurier's TLS policy (docs/security.md). Exit status 1 when any line is FAIL.

usage: testssl_verdict.py NAME FILE.json

Checks:
  protocols        SSLv2, SSLv3, TLS 1.0, TLS 1.1 not offered; TLS 1.2 and TLS 1.3 offered
  cipher-classes   no NULL, anonymous, export, LOW, 3DES/IDEA or obsolete CBC suites
  suites           every suite the server accepted (testssl's per-cipher test) has ephemeral key
                   exchange (ECDHE/DHE: forward secrecy) and an AEAD cipher (AES-GCM, ChaCha20-Poly1305)
  server-order     the server has a cipher order (tls.ciphers = "modern")
  vulnerabilities  heartbleed, CCS, ticketbleed, ROBOT, renegotiation, CRIME, BREACH, POODLE,
                   fallback SCSV, SWEET32, FREAK, DROWN, LOGJAM, BEAST, LUCKY13, RC4: all OK
  other            any other finding of severity MEDIUM or worse, except those about the throw-away
                   self-signed certificate of the test instance (cert_*, OCSP, CAA)
"""

import json
import sys

BAD = {"MEDIUM", "HIGH", "CRITICAL"}
VULNS = ["heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego", "CRIME_TLS",
         "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13", "RC4"]
CERT_PREFIXES = ("cert_", "certs_", "OCSP_", "DNS_CAA", "certificate_transparency")


def main(name, path):
    with open(path) as f:
        doc = json.load(f)
    findings = {}
    if isinstance(doc, dict) and "scanResult" in doc:  # --jsonfile-pretty
        for scan in doc["scanResult"]:
            for section, items in scan.items():
                if isinstance(items, list):
                    for it in items:
                        findings[it["id"]] = it
    else:  # --jsonfile: a flat list
        for it in doc:
            findings[it["id"]] = it
    lines = []

    def check(check_name, ok, detail):
        lines.append((ok, f"{'PASS' if ok else 'FAIL'} {name}.{check_name}: {detail}"))

    def finding(fid):
        f = findings.get(fid)
        return (f.get("finding", ""), f.get("severity", "")) if f else (None, None)

    if not findings:
        check("scan", False, f"testssl.sh produced no findings ({path}); is the listener up?")
        return lines

    bad_protocols = [p for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1") if not str(finding(p)[0]).startswith("not offered")]
    missing = [p for p in ("TLS1_2", "TLS1_3") if not str(finding(p)[0]).startswith("offered")]
    check("protocols", not bad_protocols and not missing,
          "SSLv2, SSLv3, TLS 1.0, TLS 1.1 not offered; TLS 1.2, TLS 1.3 offered" if not bad_protocols and not missing
          else f"offered but must not be: {bad_protocols or '-'}; missing: {missing or '-'}")

    classes = {"cipherlist_NULL": "NULL", "cipherlist_aNULL": "anonymous", "cipherlist_EXPORT": "export",
               "cipherlist_LOW": "LOW", "cipherlist_3DES_IDEA": "3DES/IDEA", "cipherlist_AVERAGE": "obsolete CBC",
               "cipherlist_OBSOLETED": "obsolete CBC"}
    offered = [label for fid, label in classes.items()
               if fid in findings and not str(finding(fid)[0]).startswith("not offered")]
    check("cipher-classes", not offered,
          "no NULL, anonymous, export, LOW, 3DES/IDEA or CBC suites" if not offered else f"offered: {', '.join(offered)}")

    suites = [f["finding"] for fid, f in findings.items() if fid.startswith("cipher_x") or fid.startswith("cipher-tls")]
    weak = []
    for s in suites:
        cols = s.split()
        # "xc02f   ECDHE-RSA-AES128-GCM-SHA256   ECDH 253   AESGCM   128   TLS_ECDHE_RSA_..."
        if len(cols) < 4:
            continue
        kx, enc = cols[2], cols[4] if cols[3].isdigit() else cols[3]
        if kx not in ("ECDH", "DH") or enc not in ("AESGCM", "ChaCha20", "AESCCM"):
            weak.append(f"{cols[1]} ({kx}, {enc})")
    if not suites:
        check("suites", False, "testssl.sh listed no accepted suites (the per-cipher test did not run)")
    else:
        check("suites", not weak,
              f"all {len(suites)} accepted suites are ECDHE/DHE with AES-GCM or ChaCha20-Poly1305"
              if not weak else f"not forward-secret AEAD: {', '.join(weak)}")

    order, sev = finding("cipher_order")
    check("server-order", sev == "OK", f"cipher order: {order}")

    vulnerable = []
    for v in VULNS:
        text, sev = finding(v)
        if text is not None and sev not in ("OK", "INFO"):
            vulnerable.append(f"{v} ({sev}: {text})")
    checked = [v for v in VULNS if v in findings]
    check("vulnerabilities", not vulnerable,
          f"{len(checked)} checked ({', '.join(checked)}), none vulnerable" if not vulnerable else "; ".join(vulnerable))

    others = [f"{fid} {f['severity']}: {f.get('finding', '')}" for fid, f in findings.items()
              if f.get("severity") in BAD and not fid.startswith(CERT_PREFIXES) and fid not in VULNS]
    ignored = sorted(fid for fid, f in findings.items() if f.get("severity") in BAD and fid.startswith(CERT_PREFIXES))
    check("other-findings", not others,
          ("no other finding of severity MEDIUM or worse" if not others else "; ".join(others))
          + (f" (not judged, about the test instance's self-signed certificate: {', '.join(ignored)})" if ignored else ""))
    return lines


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    result = main(sys.argv[1], sys.argv[2])
    for _, line in result:
        print(line)
    sys.exit(0 if all(ok for ok, _ in result) else 1)
