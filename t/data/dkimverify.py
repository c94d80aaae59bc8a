#!/usr/bin/python3
# dkimverify.py PORT [--bare] [--each] FILE...: verify the DKIM signatures of
# each FILE with dkimpy (an independent verifier), the keys asked of the
# DNS server on 127.0.0.1:PORT (the tests' dnsmasq).  One line a file:
# "NAME RESULT" (--bare: "RESULT"), RESULT pass, fail or "error WHY";
# --each: the results of every DKIM-Signature field, in order, joined by
# spaces (otherwise the first field's).  Used through t/lib.sh's dkimpy.
import sys
import dkim
import dns.resolver

r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = int(sys.argv[1])


def txt(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    try:
        for a in r.resolve(name, "TXT", lifetime=timeout):
            return b"".join(a.strings)
    except Exception:
        return None


args = sys.argv[2:]
bare = "--bare" in args
each = "--each" in args
for f in (a for a in args if a not in ("--bare", "--each")):
    try:
        m = open(f, "rb").read()
        if each:
            head = m.replace(b"\r\n", b"\n").split(b"\n\n")[0].split(b"\n")
            n = sum(1 for l in head if l.lower().startswith(b"dkim-signature:"))
            d = dkim.DKIM(m)
            res = " ".join("pass" if d.verify(idx=i, dnsfunc=txt) else "fail" for i in range(n))
        else:
            res = "pass" if dkim.verify(m, dnsfunc=txt) else "fail"
    except Exception as e:
        res = "error %s" % e
    print(res if bare else "%s %s" % (f.rsplit("/", 1)[-1], res))
