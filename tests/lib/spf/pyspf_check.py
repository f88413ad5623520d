#!/usr/bin/python3
"""Reference SPF answers from pyspf (python3-spf) for spf_test's cross-check.

Usage: pyspf_check.py PORT IP DOMAIN [IP DOMAIN ...]; prints one result per pair.
DNS goes only to the test's own dnsmasq on 127.0.0.1:PORT: pyspf's DNSLookup is replaced
by a stub over a dnspython Resolver built with configure=False (never /etc/resolv.conf).
"""
import sys

import dns.exception
import dns.resolver
import spf

PORT = int(sys.argv[1])
RES = dns.resolver.Resolver(configure=False)
RES.nameservers = ["127.0.0.1"]
RES.port = PORT
RES.lifetime = 5


def lookup(name, qtype, tcpfallback=True, timeout=30):
    out = []
    try:
        for rdata in RES.resolve(name, qtype, search=False):
            if qtype in ("A", "AAAA"):
                out.append(((name, qtype), rdata.address))
            elif qtype == "MX":
                out.append(((name, qtype), (rdata.preference, rdata.exchange)))
            elif qtype == "PTR":
                out.append(((name, qtype), rdata.target.to_text(True)))
            elif qtype in ("TXT", "SPF"):
                out.append(((name, qtype), list(rdata.strings)))
    except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
        pass
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as x:
        raise spf.TempError("DNS " + str(x))
    return out


spf.DNSLookup = lookup
args = sys.argv[2:]
for ip, domain in zip(args[0::2], args[1::2]):
    result = spf.check2(i=ip, s="user@" + domain, h="helo.test", querytime=5)[0]
    print(result)
