#!/bin/sh
# S/MIME: smimectl registers certificates per tenant and From address or
# domain (PEM with a chain, PKCS#12 with its password) and refuses, with
# the reason, a key that does not match, an expired certificate, one
# without e-mail protection or signing key usage, a short RSA key, a
# certificate for another address, a wrong password; sign makes every
# sample multipart/signed, `openssl cms -verify` with only the root CA
# accepts each one (the intermediate comes with the signature), and the
# DKIM signature made on top of it verifies with dkimpy against dnsmasq.
# The CA and the certificates are made here with openssl.
. "${0%/*}/lib.sh"
$PY -c 'import dkim, dns.resolver' 2>/dev/null || skip_all "python3-dkim or python3-dnspython missing"
plan 66

mkhome
cmcctl tenant add t1 >/dev/null && cmcctl tenant add t2 >/dev/null || exit 1
KEYS=$CMC_HOME/keys/smime
C=$TMPD/ca
mkdir "$C"

# --- a root CA, an intermediate CA, and the certificates under test ---
ossl() { openssl "$@" 2>>"$C/openssl.log" || echo "# openssl $1 failed"; }
ec_key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/$1.key"; }
# leaf NAME ISSUER DAYS EXT...: a certificate for NAME's key signed by ISSUER.
leaf() {
  _n=$1 _i=$2 _d=$3; shift 3
  printf '%s\n' "$@" >"$C/$_n.ext"
  ossl req -new -key "$C/$_n.key" -subj "/CN=$_n" -out "$C/$_n.csr"
  ossl x509 -req -in "$C/$_n.csr" -CA "$C/$_i.pem" -CAkey "$C/$_i.key" -CAcreateserial \
    -days "$_d" -extfile "$C/$_n.ext" -out "$C/$_n.pem"
}
SMIME_EXT="keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=emailProtection"
ec_key root
ossl req -x509 -new -key "$C/root.key" -subj "/CN=Test Root CA" -days 30 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$C/root.pem"
ec_key inter
leaf inter root 30 "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign,cRLSign"
cat "$C/inter.pem" "$C/root.pem" >"$C/chain.pem"
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$C/good.key"
leaf good inter 10 "$SMIME_EXT" "subjectAltName=email:News@Smime.Test"
for k in ec expired wrongeku noeku noku corp p12; do ec_key $k; done
leaf ec inter 10 "$SMIME_EXT" "subjectAltName=email:ec@smime.test"
leaf expired inter -1 "$SMIME_EXT" "subjectAltName=email:news@smime.test"
leaf wrongeku inter 10 "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" "subjectAltName=email:news@smime.test"
leaf noeku inter 10 "keyUsage=critical,digitalSignature" "subjectAltName=email:news@smime.test"
leaf noku inter 10 "keyUsage=critical,keyEncipherment" "extendedKeyUsage=emailProtection" "subjectAltName=email:news@smime.test"
leaf corp inter 10 "$SMIME_EXT" "subjectAltName=email:info@corp.test"
leaf p12 inter 10 "$SMIME_EXT" "subjectAltName=email:p12@smime.test"
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$C/short.key"
leaf short inter 10 "$SMIME_EXT" "subjectAltName=email:news@smime.test"
ossl pkcs12 -export -inkey "$C/p12.key" -in "$C/p12.pem" -certfile "$C/chain.pem" \
  -passout pass:s3cret -out "$C/p12.p12"

# --- refusals, each with its reason ---
refused() {   # refused REASON-PATTERN DESCRIPTION smimectl-args...
  _pat=$1 _d=$2; shift 2
  smimectl "$@" >"$TMPD/out" 2>"$TMPD/err" </dev/null
  is "$?" 100 "refused: $_d"
  like "$(cat "$TMPD/err")" "smimectl: fatal: certificate refused: $_pat" "reason: $_d"
}
refused "the private key does not belong to the certificate*" "key of another certificate" \
  add t1 news@smime.test "$C/good.pem" "$C/ec.key" "$C/chain.pem"
refused "the certificate has expired: not after *" "expired" \
  add t1 news@smime.test "$C/expired.pem" "$C/expired.key" "$C/chain.pem"
refused "the certificate's extended key usage lacks e-mail protection*" "serverAuth only" \
  add t1 news@smime.test "$C/wrongeku.pem" "$C/wrongeku.key" "$C/chain.pem"
refused "the certificate has no extended key usage: S/MIME needs e-mail protection*" "no EKU" \
  add t1 news@smime.test "$C/noeku.pem" "$C/noeku.key" "$C/chain.pem"
refused "the certificate's key usage allows neither digitalSignature nor nonRepudiation*" "keyEncipherment only" \
  add t1 news@smime.test "$C/noku.pem" "$C/noku.key" "$C/chain.pem"
refused "the RSA key has 1024 bits: at least 2048 are needed" "RSA 1024" \
  add t1 news@smime.test "$C/short.pem" "$C/short.key" "$C/chain.pem"
refused "the certificate is not for other@smime.test: it names News@Smime.Test" "another address" \
  add t1 other@smime.test "$C/good.pem" "$C/good.key" "$C/chain.pem"
refused "the certificate is not for an address in corp.test: it names News@Smime.Test" "another domain" \
  add t1 corp.test "$C/good.pem" "$C/good.key" "$C/chain.pem"
refused "the chain does not verify: *" "a chain without the issuer" \
  add t1 news@smime.test "$C/good.pem" "$C/good.key" "$C/root.pem"
echo wrong | smimectl import t1 p12@smime.test "$C/p12.p12" >/dev/null 2>"$TMPD/err"
is "$?" 100 "refused: PKCS#12 with a wrong password"
like "$(cat "$TMPD/err")" "*wrong password, or the PKCS#12 file is damaged" "reason: wrong password"
smimectl add t9 news@smime.test "$C/good.pem" "$C/good.key" >/dev/null 2>&1; is "$?" 100 "unknown tenant"
smimectl add t1 'not an address' "$C/good.pem" "$C/good.key" >/dev/null 2>&1; is "$?" 100 "bad target"
is "$(ls -A "$KEYS/t1" 2>/dev/null | wc -l)" 0 "nothing was written for the refused ones"

# --- registrations ---
smimectl add t1 NEWS@smime.test "$C/good.pem" "$C/good.key" "$C/chain.pem" >"$TMPD/out" 2>&1
is "$?" 0 "add: RSA certificate with its chain"
like "$(cat "$TMPD/out")" "t1	news@smime.test	20*Z	News@Smime.Test	rsa	2048	2	*	CN=good	CN=inter	*" "add prints the registration (target lowercased)"
smimectl add t1 ec@smime.test "$C/ec.pem" "$C/ec.key" "$C/chain.pem" >/dev/null 2>&1; is "$?" 0 "add: ECDSA P-256"
smimectl add t1 corp.test "$C/corp.pem" "$C/corp.key" "$C/chain.pem" >/dev/null 2>&1; is "$?" 0 "add: a whole From domain"
echo s3cret | smimectl import t1 p12@smime.test "$C/p12.p12" >"$TMPD/out" 2>&1; is "$?" 0 "import: PKCS#12, password on stdin"
like "$(cat "$TMPD/out")" "t1	p12@smime.test	*	ec	256	2	*" "the chain came from the PKCS#12 file"
smimectl add t1 news@smime.test "$C/good.pem" "$C/good.key" "$C/chain.pem" >/dev/null 2>"$TMPD/err"
is "$?" 100 "a second add for the same address needs -f"
smimectl add t1 news@smime.test "$C/good.pem" "$C/good.key" "$C/chain.pem" -f >/dev/null 2>&1; is "$?" 0 "-f replaces"
is "$(smimectl list t1 | cut -f2 | tr '\n' ' ')" "corp.test ec@smime.test news@smime.test p12@smime.test " "list t1"
is "$(smimectl list t2 | wc -l)" 0 "nothing for t2"
F=$(ls "$KEYS/t1"/*.pem | head -1)
is "$(stat -c %a "$F") $(stat -c %a "$KEYS/t1") $(stat -c %a "$KEYS")" "600 700 700" "credential files 0600, directories 0700"
is "$(ls "$KEYS/t1" | wc -l)" 4 "one file per certificate"
grep -q 'PRIVATE KEY' "$F"; ok "$?" "the file holds the key"

# --- DNS for the DKIM signature on top ---
dkimctl keygen t1 smime.test -s s1 >/dev/null 2>&1 && dkimctl keygen t1 corp.test -s c1 -a ed25519 >/dev/null 2>&1 \
  || echo "# dkimctl keygen failed"
{ dkimctl record t1 smime.test; dkimctl record t1 corp.test; } | $PY -c '
import re, sys
for l in sys.stdin:
    print("--txt-record=%s,%s" % (l.split()[0].rstrip("."), ",".join(re.findall(r"\"([^\"]*)\"", l))))' >"$TMPD/args"
set --
while IFS= read -r a; do set -- "$@" "$a"; done <"$TMPD/args"
start_dns "$@"

# --- samples, signed ---
mkdir "$TMPD/s"
$PY - "$TMPD/s" <<'PYEOF'
import base64, os, sys
out = sys.argv[1]
def msg(frm, kind):
    h = ["From: Sender <%s>" % frm, "To: Reader <reader@example.org>", "Subject: %s sample" % kind,
         "Date: Mon, 2 Jun 2025 10:00:00 +0900", "Message-ID: <%s.%s>" % (kind, frm)]
    if kind == "plain":
        h += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii"]
        body = ["Hello,", "", "plain text.", "From the start of a line", ".", "trailing space "]
    elif kind == "8bit":
        h += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
        body = ["こんにちは、世界。", "Grüße aus Köln", "x" * 1200]
    elif kind == "bare":
        body = ["no MIME fields at all", "second line"]
    else:
        b = "frontier"
        att = base64.encodebytes(bytes((i * 7 + 3) % 256 for i in range(20000))).decode()
        h += ["MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=\"%s\"" % b]
        body = ["preamble", "--" + b, "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: 8bit", "", "Siehe Anhang — données.", "--" + b,
                "Content-Type: application/octet-stream; name=\"d.bin\"", "Content-Transfer-Encoding: base64",
                "Content-Disposition: attachment; filename=\"d.bin\"", ""] + att.rstrip("\n").split("\n") \
               + ["--" + b, "Content-Type: application/octet-stream; name=\"raw.bin\"", "",
                  "raw 8-bit \udcff\udcfe bytes", "--" + b + "--", "epilogue"]
    return ("\r\n".join(h) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode("utf-8", "surrogateescape")
for frm in ("news@smime.test", "ec@smime.test", "someone@corp.test"):
    for kind in ("plain", "8bit", "bare", "multi"):
        m = msg(frm, kind)
        name = os.path.join(out, "%s-%s" % (frm.split("@")[0], kind))
        open(name + ".crlf", "wb").write(m)
        open(name + ".lf", "wb").write(m.replace(b"\r\n", b"\n"))
PYEOF
for f in "$TMPD"/s/*.crlf "$TMPD"/s/*.lf; do
  sign -t t1 <"$f" >"$f.signed" 2>"$TMPD/err" || echo "# sign $f: $(cat "$TMPD/err")"
done
n_ok=0; n_all=0
for f in "$TMPD"/s/*.signed; do
  n_all=$((n_all + 1))
  if openssl cms -verify -in "$f" -CAfile "$C/root.pem" -purpose smimesign -out "$f.content" >/dev/null 2>"$TMPD/v.err"; then
    n_ok=$((n_ok + 1))
  else
    echo "# openssl cms -verify ${f##*/}: $(head -2 "$TMPD/v.err")"
  fi
done
is "$n_all" 24 "24 samples signed (3 senders x 4 kinds x CRLF/LF)"
is "$n_ok" 24 "openssl cms -verify with the root CA alone accepts every one"
S=$TMPD/s/news-8bit.crlf.signed
like "$(head -1 "$S")" "DKIM-Signature: *" "DKIM field first"
like "$(tr -d '\r' <"$S" | sed -n '/^Content-Type: multipart\/signed/,/boundary/p' | tr -d '\n\t ')" \
  'Content-Type:multipart/signed;protocol="application/pkcs7-signature";micalg=sha-256;boundary=*' "multipart/signed, micalg sha-256"
openssl cms -cmsout -print -inform PEM -in /dev/null >/dev/null 2>&1
$PY - "$S" >"$TMPD/p7s.der" <<'PYEOF'
import email, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
sys.stdout.buffer.write(m.get_payload()[1].get_payload(decode=True))
PYEOF
openssl cms -cmsout -print -inform DER -in "$TMPD/p7s.der" >"$TMPD/p7s.txt" 2>&1
like "$(grep -A1 'digestAlgorithm:' "$TMPD/p7s.txt" | head -2 | tr -d '\n ')" "*sha256*" "CMS digest SHA-256"
is "$(grep -c 'subject: CN=' "$TMPD/p7s.txt")" 3 "signer, intermediate and root certificates included"
$PY - "$S" "$TMPD/s/news-8bit.crlf" <<'PYEOF' >"$TMPD/py.out"
import email, sys
from email import policy
signed = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.compat32)
orig = email.message_from_binary_file(open(sys.argv[2], "rb"), policy=policy.compat32)
inner = signed.get_payload()[0]
print("outer", " ".join(k for k in signed.keys()))
print("inner", " ".join(inner.keys()))
print("cte", inner["Content-Transfer-Encoding"])
print("same", inner.get_payload(decode=True) == orig.get_payload(decode=True))
PYEOF
like "$(sed -n 1p "$TMPD/py.out")" "outer DKIM-Signature From To Subject Date Message-ID MIME-Version Content-Type" \
  "From, To, Subject, Date, Message-ID stay outside the signed part"
is "$(sed -n 2p "$TMPD/py.out")" "inner Content-Type Content-Transfer-Encoding" "only Content-* fields inside"
is "$(sed -n 3p "$TMPD/py.out")" "cte quoted-printable" "the 8-bit text part was made quoted-printable"
is "$(sed -n 4p "$TMPD/py.out")" "same True" "and decodes to the original text"
$PY - "$TMPD/s/news-multi.crlf.signed" <<'PYEOF' >"$TMPD/py.out"
import email, sys
inner = email.message_from_binary_file(open(sys.argv[1], "rb")).get_payload()[0]
print(" ".join(str(p.get("Content-Transfer-Encoding")) for p in inner.get_payload()))
PYEOF
is "$(cat "$TMPD/py.out")" "quoted-printable base64 base64" "multipart: 8-bit text to QP, raw binary to base64, base64 kept"
grep -q "$(printf '\200')" "$TMPD/s/news-multi.crlf.signed"; isnt8=$?
is "$isnt8" 1 "the signed message is 7-bit"
like "$(tr -d '\r' <"$TMPD/s/someone-plain.crlf.signed" | sed -n '1,3p' | tr -d '\n\t ')" "*d=corp.test;s=c1;*" "corp.test: DKIM with its own key"
openssl cms -verify -in "$TMPD/s/someone-plain.crlf.signed" -CAfile "$C/root.pem" -noout -signer "$TMPD/signer.pem" >/dev/null 2>&1
like "$(openssl x509 -in "$TMPD/signer.pem" -noout -ext subjectAltName 2>/dev/null | tail -1)" "*info@corp.test*" "a domain registration signs any address of the domain"

# --- DKIM on top verifies (dkimpy, keys from dnsmasq) ---
dkimpy "$TMPD"/s/*.signed >"$TMPD/dkimpy.out" 2>&1
is "$(grep -c ' pass$' "$TMPD/dkimpy.out")" 24 "dkimpy verifies the DKIM signature of every S/MIME-signed sample"

# --- tampering ---
sed 's/^plain text\./plain text!/' "$TMPD/s/news-plain.crlf.signed" >"$TMPD/t1.eml"
openssl cms -verify -in "$TMPD/t1.eml" -CAfile "$C/root.pem" -out /dev/null >/dev/null 2>&1
isnt=$?; [ "$isnt" != 0 ]; ok "$?" "a changed body byte fails openssl cms -verify"
openssl cms -verify -in "$TMPD/s/news-plain.crlf.signed" -CAfile "$C/chain.pem" -purpose smimesign -out /dev/null >/dev/null 2>&1
ok "$?" "(it verifies with the chain as CA file too)"
openssl cms -verify -in "$TMPD/s/news-plain.crlf.signed" -CAfile /dev/null -out /dev/null >/dev/null 2>&1
isnt=$?; [ "$isnt" != 0 ]; ok "$?" "without the CA the signature is not trusted (the test can fail)"

# --- no certificate, no S/MIME; file trouble is temporary ---
printf 'From: a@other.test\nTo: b@example.org\nSubject: x\n\nbody\n' | sign -t t1 >"$TMPD/out" 2>/dev/null
is "$?" 0 "no certificate for the From: exit 0"
grep -q multipart/signed "$TMPD/out"; isnt=$?; is "$isnt" 1 "and no S/MIME"
NEWS=$(smimectl list t1 | awk -F'\t' '$2 == "news@smime.test" {print $8}')
chmod 644 "$KEYS/t1/$NEWS.pem"
sign -t t1 <"$TMPD/s/news-plain.lf" >"$TMPD/out" 2>"$TMPD/err"; is "$?" 111 "credential readable by others: 111"
like "$(cat "$TMPD/err")" "sign: fatal: unable to sign: *not a private regular file*" "said why"
is "$(wc -c <"$TMPD/out")" 0 "nothing written"
chmod 600 "$KEYS/t1/$NEWS.pem"
mv "$KEYS/t1/$NEWS.pem" "$TMPD/saved.pem"
sign -t t1 <"$TMPD/s/news-plain.lf" >/dev/null 2>"$TMPD/err"; is "$?" 111 "credential file missing: 111, never unsigned"
cp "$KEYS/t1/$(smimectl list t1 | awk -F'\t' '$2 == "ec@smime.test" {print $8}').pem" "$KEYS/t1/$NEWS.pem"
sign -t t1 <"$TMPD/s/news-plain.lf" >/dev/null 2>"$TMPD/err"; is "$?" 111 "a file holding another certificate: 111"
like "$(cat "$TMPD/err")" "*is not the one registered*" "said why"
mv "$TMPD/saved.pem" "$KEYS/t1/$NEWS.pem"

# --- del ---
smimectl del t1 ec@smime.test; is "$?" 0 "del"
is "$(ls "$KEYS/t1" | wc -l)" 3 "its file is gone"
smimectl del t1 ec@smime.test 2>/dev/null; is "$?" 100 "del of what is not there: 100"
printf 'From: ec@smime.test\nTo: b@example.org\nSubject: x\n\nbody\n' | sign -t t1 2>/dev/null | grep -c multipart/signed >"$TMPD/out"
is "$(cat "$TMPD/out")" 0 "deleted: no S/MIME any more"
exit $failed
