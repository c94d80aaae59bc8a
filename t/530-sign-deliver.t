#!/bin/sh
# Signing in deliver: mail sent by SMTP to smtp-recv goes through deliver
# to a mail-sink on loopback and arrives DKIM-signed (dkimpy verifies it
# against the records dnsmasq serves), S/MIME-signed when the tenant has a
# certificate for the From (openssl cms -verify accepts it), one signature
# per recipient; a recipient domain on the tenant's no-S/MIME list gets
# DKIM only; Ed25519 keys work; a domain with an RSA and an Ed25519 key
# gets both signatures (dkimpy verifies each, opendkim-testmsg too); a
# domain without a key goes unsigned when the tenant allows it and waits
# when it requires signing; a missing key file defers the mail (nothing is
# sent) with the reason in the event, and it goes out signed once the key
# is back; a message that can never be signed (a malformed header field)
# fails with the reason.
. "${0%/*}/lib.sh"
$PY -c 'import dkim, dns.resolver' 2>/dev/null || skip_all "python3-dkim or python3-dnspython missing"
[ -x /usr/sbin/opendkim-testmsg ] || skip_all "opendkim-tools not installed"
command -v cc >/dev/null || skip_all "no C compiler for the resolver shim"
plan 37

mkhome
{ cmcctl tenant add acme && cmcctl tenant add strict && cmcctl net add acme 127.0.0.1/32 \
  && cmcctl set acme verp off; } >/dev/null || exit 1
dkimctl keygen acme example.test -s k1 >/dev/null 2>&1 && dkimctl keygen acme ed.test -s e1 -a ed25519 >/dev/null 2>&1 \
  && dkimctl keygen acme miss.test -s m1 -a ed25519 >/dev/null 2>&1 && dkimctl policy strict require >/dev/null \
  && dkimctl keygen acme dual.test -s d1 >/dev/null 2>&1 && dkimctl keygen acme dual.test -s d2 -a ed25519 >/dev/null 2>&1 \
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

{ dkimctl record acme example.test; dkimctl record acme ed.test; dkimctl record acme miss.test
  dkimctl record acme dual.test; } | $PY -c '
import re, sys
for l in sys.stdin:
    print("--txt-record=%s,%s" % (l.split()[0].rstrip("."), ",".join(re.findall(r"\"([^\"]*)\"", l))))' >"$TMPD/args"
echo "--mx-host=dest.test,mx.dest.test,10" >>"$TMPD/args"
echo "--mx-host=plain.test,mx.dest.test,10" >>"$TMPD/args"
echo "--host-record=mx.dest.test,127.0.0.2" >>"$TMPD/args"
set --
while IFS= read -r a; do set -- "$@" "$a"; done <"$TMPD/args"
start_dns "$@"
# dual.test: d1 (RSA) signs; d2 (Ed25519) joins it (-d), once published
dkimctl activate acme dual.test d2 -d >/dev/null 2>&1; ok "$?" "dkimctl activate -d: an Ed25519 key beside the RSA key"
is "$(dkimctl list acme dual.test | cut -f3,4,6 | tr '\t\n' ': ')" "d1:rsa:active d2:ed25519:active " "both active"
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
send("a@dual.test", ["r9@dest.test"], "dual")
PYEOF
ok "$?" "six messages accepted by smtp-recv"
arrived() { [ "$(ls "$TMPD/sink/new" | wc -l)" -ge "$1" ]; }
wait_for 60 arrived 7; ok "$?" "seven copies arrive at the sink"
copy() { grep -l "^Message-ID: <$1@t>" "$TMPD"/sink/new/* 2>/dev/null | head -${2:-1}; }
cms() { openssl cms -verify -in "$1" -CAfile "$C/ca.pem" -purpose smimesign -out /dev/null >/dev/null 2>&1 && echo verified; }
B1=$(copy both 2 | sed -n 1p); B2=$(copy both 2 | sed -n 2p)
is "$(dkimpy --bare "$B1" "$B2" | tr '\n' ' ')" "pass pass " "both recipients' copies: DKIM verifies (dkimpy)"
is "$(cms "$B1") $(cms "$B2")" "verified verified" "both: S/MIME verifies (openssl cms -verify)"
like "$(tr -d '\r\n\t ' <"$B1")" "DKIM-Signature:v=1;a=rsa-sha256;c=relaxed/relaxed;d=example.test;s=k1;*" "DKIM first, d=example.test"
grep -q '^Content-Type: multipart/signed; protocol="application/pkcs7-signature";' "$B1"; ok "$?" "multipart/signed"
grep -q '^To: r1@dest.test, r2@dest.test' "$B1" && grep -q '^Subject: signed both' "$B1"; ok "$?" "To and Subject outside the signed part"
is "$(grep -c '^DKIM-Signature' "$B1") $(grep -c '^DKIM-Signature' "$B2")" "1 1" "one DKIM signature in each recipient's copy"
D=$(copy dkimonly)
is "$(dkimpy --bare "$D")" "pass" "no certificate for the From: DKIM only, verifies"
grep -q multipart/signed "$D"; is "$?" 1 "and no S/MIME"
P=$(copy skipped)
is "$(dkimpy --bare "$P")" "pass" "a recipient domain on the no-S/MIME list: DKIM verifies"
grep -q multipart/signed "$P"; is "$?" 1 "and no S/MIME for it"
E=$(copy ed)
is "$(dkimpy --bare "$E")" "pass" "Ed25519 through deliver verifies"
like "$(tr -d '\r\n\t ' <"$E")" "DKIM-Signature:v=1;a=ed25519-sha256;*d=ed.test;s=e1;*" "a=ed25519-sha256"
N=$(copy nokey)
grep -q '^DKIM-Signature' "$N"; is "$?" 1 "no key for the domain, tenant allows: sent unsigned"
DU=$(copy dual)
is "$(grep -c '^DKIM-Signature' "$DU")" 2 "dual: two DKIM-Signature fields"
like "$(tr -d '\r\n\t ' <"$DU")" "DKIM-Signature:v=1;a=rsa-sha256;*d=dual.test;s=d1;*DKIM-Signature:v=1;a=ed25519-sha256;*d=dual.test;s=d2;*" \
  "RSA (d1) first, then Ed25519 (d2)"
is "$(dkimpy --bare --each "$DU")" "pass pass" "dual: dkimpy verifies both signatures"
is "$(dkimpy --bare "$DU")" "pass" "dual: a verifier that checks the first only: RSA passes"
# opendkim-testmsg asks glibc's resolver, which knows port 53 only: a shim
# points it at the dnsmasq (as in t/500-dkim-sign.t, which also shows
# that the key does come from there).  It is given the RSA signature
# alone: the copy without the Ed25519 field, which no signature covers.
resolver_shim
$PY - "$DU" >"$TMPD/dual.rsa" <<'PYEOF'
import re, sys
head, body = open(sys.argv[1], "rb").read().split(b"\r\n\r\n", 1)
fields = re.split(rb"\r\n(?![ \t])", head)
keep = [f for f in fields if not (f.lower().startswith(b"dkim-signature:") and b"ed25519-sha256" in f)]
sys.stdout.buffer.write(b"\r\n".join(keep) + b"\r\n\r\n" + body)
PYEOF
SHIM_RESOLVER=$CMC_RESOLVER LD_PRELOAD=$TMPD/shim.so /usr/sbin/opendkim-testmsg <"$TMPD/dual.rsa" >"$TMPD/testmsg.out" 2>&1
is "$?:$(grep -c '^DKIM-Signature' "$TMPD/dual.rsa"):$(cat "$TMPD/testmsg.out")" "0:1:" "dual: opendkim-testmsg verifies the RSA signature"
sed 's/^Second line\./Second line!/' "$TMPD/dual.rsa" >"$TMPD/dual.bad"
SHIM_RESOLVER=$CMC_RESOLVER LD_PRELOAD=$TMPD/shim.so /usr/sbin/opendkim-testmsg <"$TMPD/dual.bad" >/dev/null 2>&1
[ "$?" -ne 0 ]; ok "$?" "and refuses it with the body changed"
SHIM_RESOLVER=$CMC_RESOLVER LD_PRELOAD=$TMPD/shim.so /usr/sbin/opendkim-testmsg <"$DU" >"$TMPD/testmsg.out" 2>&1
is "$?:$(cat "$TMPD/testmsg.out")" "0:" "dual: opendkim-testmsg accepts the copy with both fields"

# --- require: no key means the mail waits; so does a missing key file ---
printf 'From: a@nokey.test\r\nSubject: strict\r\nMessage-ID: <strict@t>\r\n\r\nbody\r\n' \
  | queue-inject -t strict -f a@nokey.test r7@dest.test >"$TMPD/id.strict"
ev_has() { cmcctl events "$1" "$2" | grep -q "$3"; }
wait_for 30 ev_has strict "$(cat "$TMPD/id.strict")" deferred; ok "$?" "tenant requires signing, no key: deferred"
like "$(cmcctl events strict "$(cat "$TMPD/id.strict")" | grep deferred | head -1)" "*deferred	0	r7@dest.test		DKIM: no DKIM key for nokey.test of tenant strict, and the tenant requires signing*" \
  "with the reason"
is "$(copy strict | wc -l)" 0 "and nothing sent"
mv "$CMC_HOME/keys/dkim/acme/miss.test/m1.key" "$TMPD/m1.key"
printf 'From: a@miss.test\r\nSubject: miss\r\nMessage-ID: <miss@t>\r\n\r\nbody\r\n' \
  | queue-inject -t acme -f a@miss.test r8@dest.test >"$TMPD/id.miss"
ID=$(cat "$TMPD/id.miss")
wait_for 30 ev_has acme "$ID" deferred; ok "$?" "key file missing: deferred"
like "$(cmcctl events acme "$ID" | grep deferred | head -1)" "*deferred	0	r8@dest.test		DKIM: key for miss.test selector m1 unreadable: unable to open *m1.key: No such file or directory" \
  "the deferral says why: the key, its selector, the file"
is "$(copy miss | wc -l)" 0 "nothing sent unsigned"
like "$(cat "$TMPD/deliver.err")" "*id=$ID rcpt=r8@dest.test result=Z*" "deliver logs the deferral"
mv "$TMPD/m1.key" "$CMC_HOME/keys/dkim/acme/miss.test/m1.key"
wait_for 30 ev_has acme "$ID" succeeded; ok "$?" "key back: delivered at the next attempt"
M=$(copy miss)
is "$(dkimpy --bare "$M")" "pass" "and signed"
is "$(grep -c '^DKIM-Signature' "$M")" 1 "once"

# --- never signable: a malformed header field fails, with the reason ---
printf 'From: a@example.test\r\nSubject: bad\r\nMessage-ID: <bad@t>\r\nDate: Mon, 2 Jun 2025 10:00:00 +0900\r\nno colon in this line\r\n\r\nbody\r\n' \
  | queue-inject -t acme -f a@example.test r10@dest.test >"$TMPD/id.bad"
ID=$(cat "$TMPD/id.bad")
wait_for 30 ev_has acme "$ID" failed; ok "$?" "a malformed header field: failed"
like "$(cmcctl events acme "$ID" | grep failed)" "*failed	99	r10@dest.test		DKIM: malformed header field (*): no name and colon" \
  "status 99, and why"
is "$(copy bad | wc -l)" 0 "nothing sent unsigned"
exit $failed
