#!/bin/sh
# Signing in deliver: mail sent by SMTP to smtp-recv goes through deliver
# to a mail-sink on loopback and arrives DKIM-signed (dkimpy verifies it
# against the records dnsmasq serves), S/MIME-signed when the tenant has a
# certificate for the From (openssl cms -verify accepts it), one signature
# per recipient; a recipient domain on the tenant's no-S/MIME list gets
# DKIM only; Ed25519 keys work; a domain without a key goes unsigned when
# the tenant allows it and fails when it requires signing; a missing key
# file defers the mail (nothing is sent), which goes out signed once the
# key is back.
. "${0%/*}/lib.sh"
$PY -c 'import dkim, dns.resolver' 2>/dev/null || skip_all "python3-dkim or python3-dnspython missing"
plan 25

mkhome
{ cmcctl tenant add acme && cmcctl tenant add strict && cmcctl net add acme 127.0.0.1/32 \
  && cmcctl set acme verp off; } >/dev/null || exit 1
dkimctl keygen acme example.test -s k1 >/dev/null 2>&1 && dkimctl keygen acme ed.test -s e1 -a ed25519 >/dev/null 2>&1 \
  && dkimctl keygen acme miss.test -s m1 -a ed25519 >/dev/null 2>&1 && dkimctl policy strict require >/dev/null \
  || echo "Bail out! dkimctl failed"

# S/MIME: a CA and a certificate for news@example.test, made with openssl
C=$TMPD/ca; mkdir "$C"
{ openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/ca.key" \
  && openssl req -x509 -new -key "$C/ca.key" -subj "/CN=Test CA" -days 30 -out "$C/ca.pem" \
       -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
  && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/news.key" \
  && openssl req -new -key "$C/news.key" -subj "/CN=News" -out "$C/news.csr" \
  && printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\nsubjectAltName=email:news@example.test\n' >"$C/ext" \
  && openssl x509 -req -in "$C/news.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial -days 10 \
       -extfile "$C/ext" -out "$C/news.pem"; } >"$C/log" 2>&1 || echo "Bail out! openssl failed"
smimectl add acme news@example.test "$C/news.pem" "$C/news.key" "$C/ca.pem" >/dev/null || echo "Bail out! smimectl add failed"
smimectl skip acme plain.test >/dev/null

{ dkimctl record acme example.test; dkimctl record acme ed.test; dkimctl record acme miss.test; } | $PY -c '
import re, sys
for l in sys.stdin:
    print("--txt-record=%s,%s" % (l.split()[0].rstrip("."), ",".join(re.findall(r"\"([^\"]*)\"", l))))' >"$TMPD/args"
echo "--mx-host=dest.test,mx.dest.test,10" >>"$TMPD/args"
echo "--mx-host=plain.test,mx.dest.test,10" >>"$TMPD/args"
echo "--host-record=mx.dest.test,127.0.0.2" >>"$TMPD/args"
set --
while IFS= read -r a; do set -- "$@" "$a"; done <"$TMPD/args"
start_dns "$@"
start_sink "$TMPD/sink" 127.0.0.2
export CMC_REMOTE_PORT=$SINK_PORT CMC_HOSTNAME=relay.test CMC_RETRY_INTERVAL=1 CMC_RETRY_PERIOD=3600
PORT=$(free_port)
bg tcpserver -q -R -H -c 20 127.0.0.1 "$PORT" "$BIN/smtp-recv" 2>"$TMPD/smtpd.log"
wait_port "$PORT" || echo "Bail out! smtp-recv did not start"
bg deliver 2>"$TMPD/deliver.err"

# --- by SMTP through smtp-recv ---
$PY - "$PORT" <<'PYEOF'
import smtplib, sys
def send(frm, rcpt, mid, extra="", body="Gr\u00fc\u00dfe aus K\u00f6ln.\r\nSecond line.\r\n"):
    m = ("From: Sender <%s>\r\nTo: %s\r\nSubject: signed %s\r\nDate: Mon, 2 Jun 2025 10:00:00 +0900\r\n"
         "Message-ID: <%s@t>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
         "Content-Transfer-Encoding: 8bit\r\n%s\r\n%s" % (frm, ", ".join(rcpt), mid, mid, extra, body)).encode()
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
    s.sendmail(frm, rcpt, m)
    s.quit()
send("news@example.test", ["r1@dest.test", "r2@dest.test"], "both")
send("other@example.test", ["r3@dest.test"], "dkimonly")
send("news@example.test", ["r4@plain.test"], "skipped")
send("a@ed.test", ["r5@dest.test"], "ed")
send("a@nokey.test", ["r6@dest.test"], "nokey")
PYEOF
ok "$?" "five messages accepted by smtp-recv"
arrived() { [ "$(ls "$TMPD/sink/new" | wc -l)" -ge "$1" ]; }
wait_for 60 arrived 6; ok "$?" "six copies arrive at the sink"
copy() { grep -l "^Message-ID: <$1@t>" "$TMPD"/sink/new/* 2>/dev/null | head -${2:-1}; }
dkimpy() { $PY - "$DNS_PORT" "$@" <<'PYEOF'
import sys, dkim, dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = int(sys.argv[1])
def txt(name, timeout=5):
    try:
        return b"".join(r.resolve(name.decode() if isinstance(name, bytes) else name, "TXT", lifetime=timeout)[0].strings)
    except Exception:
        return None
for f in sys.argv[2:]:
    try:
        print("pass" if dkim.verify(open(f, "rb").read(), dnsfunc=txt) else "fail")
    except Exception as e:
        print("error", e)
PYEOF
}
cms() { openssl cms -verify -in "$1" -CAfile "$C/ca.pem" -purpose smimesign -out /dev/null >/dev/null 2>&1 && echo verified; }
B1=$(copy both 2 | sed -n 1p); B2=$(copy both 2 | sed -n 2p)
is "$(dkimpy "$B1" "$B2" | tr '\n' ' ')" "pass pass " "both recipients' copies: DKIM verifies (dkimpy)"
is "$(cms "$B1") $(cms "$B2")" "verified verified" "both: S/MIME verifies (openssl cms -verify)"
like "$(tr -d '\r\n\t ' <"$B1")" "DKIM-Signature:v=1;a=rsa-sha256;c=relaxed/relaxed;d=example.test;s=k1;*" "DKIM first, d=example.test"
grep -q '^Content-Type: multipart/signed; protocol="application/pkcs7-signature";' "$B1"; ok "$?" "multipart/signed"
grep -q '^To: r1@dest.test, r2@dest.test' "$B1" && grep -q '^Subject: signed both' "$B1"; ok "$?" "To and Subject outside the signed part"
is "$(grep -c '^DKIM-Signature' "$B1") $(grep -c '^DKIM-Signature' "$B2")" "1 1" "one DKIM signature in each recipient's copy"
D=$(copy dkimonly)
is "$(dkimpy "$D")" "pass" "no certificate for the From: DKIM only, verifies"
grep -q multipart/signed "$D"; is "$?" 1 "and no S/MIME"
P=$(copy skipped)
is "$(dkimpy "$P")" "pass" "a recipient domain on the no-S/MIME list: DKIM verifies"
grep -q multipart/signed "$P"; is "$?" 1 "and no S/MIME for it"
E=$(copy ed)
is "$(dkimpy "$E")" "pass" "Ed25519 through deliver verifies"
like "$(tr -d '\r\n\t ' <"$E")" "DKIM-Signature:v=1;a=ed25519-sha256;*d=ed.test;s=e1;*" "a=ed25519-sha256"
N=$(copy nokey)
grep -q '^DKIM-Signature' "$N"; is "$?" 1 "no key for the domain, tenant allows: sent unsigned"

# --- require: no key means failed; a missing key file means deferred ---
printf 'From: a@nokey.test\r\nSubject: strict\r\nMessage-ID: <strict@t>\r\n\r\nbody\r\n' \
  | queue-inject -t strict -f a@nokey.test r7@dest.test >"$TMPD/id.strict"
ev_has() { cmcctl events "$1" "$2" | grep -q "$3"; }
wait_for 30 ev_has strict "$(cat "$TMPD/id.strict")" failed; ok "$?" "tenant requires signing, no key: failed"
like "$(cmcctl events strict "$(cat "$TMPD/id.strict")" | grep failed)" "*failed	99	r7@dest.test		DKIM: no DKIM key for nokey.test of tenant strict, and the tenant requires signing*" \
  "status 99 with the reason"
is "$(copy strict | wc -l)" 0 "and nothing sent"
mv "$CMC_HOME/keys/dkim/acme/miss.test/m1.key" "$TMPD/m1.key"
printf 'From: a@miss.test\r\nSubject: miss\r\nMessage-ID: <miss@t>\r\n\r\nbody\r\n' \
  | queue-inject -t acme -f a@miss.test r8@dest.test >"$TMPD/id.miss"
ID=$(cat "$TMPD/id.miss")
wait_for 30 ev_has acme "$ID" deferred; ok "$?" "key file missing: deferred"
like "$(cmcctl events acme "$ID" | grep deferred | head -1)" "*deferred	0	r8@dest.test		DKIM: unable to open key *m1.key: No such file or directory*" \
  "the deferral says why"
is "$(copy miss | wc -l)" 0 "nothing sent unsigned"
like "$(cat "$TMPD/deliver.err")" "*id=$ID rcpt=r8@dest.test result=Z*" "deliver logs the deferral"
mv "$TMPD/m1.key" "$CMC_HOME/keys/dkim/acme/miss.test/m1.key"
wait_for 30 ev_has acme "$ID" succeeded; ok "$?" "key back: delivered at the next attempt"
M=$(copy miss)
is "$(dkimpy "$M")" "pass" "and signed"
is "$(grep -c '^DKIM-Signature' "$M")" 1 "once"
exit $failed
