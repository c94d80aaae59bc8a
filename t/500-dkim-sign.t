#!/bin/sh
# DKIM: dkimctl makes keys per tenant and domain (RSA 2048, Ed25519) and
# prints their records; sign's output verifies with dkimpy and with
# opendkim-testmsg against those records served by dnsmasq on loopback, for
# plain, 8-bit, long-header and multipart samples, LF and CRLF input;
# tampering breaks it; a missing or public key file is 111, no key passes
# the message unsigned or, if the tenant requires, 111 (it waits for a
# key); rotation switches selectors at once; dkimctl check says match /
# mismatch / absent; a domain with an RSA and an Ed25519 key active
# (activate -d) is signed twice, both signatures verify; deactivate.
# opendkim-testmsg asks glibc's resolver, which only knows port 53 from
# /etc/resolv.conf: a small LD_PRELOAD shim (built here) points its
# res_ninit at our dnsmasq's port.
. "${0%/*}/lib.sh"
[ -x /usr/sbin/opendkim-testmsg ] || skip_all "opendkim-tools not installed"
$PY -c 'import dkim, dns.resolver' 2>/dev/null || skip_all "python3-dkim or python3-dnspython missing"
command -v cc >/dev/null || skip_all "no C compiler for the resolver shim"
plan 168

CMC_HOME=$TMPD/home; export CMC_HOME
unset CMC_RESOLVER
mkdir -p "$CMC_HOME/db" || exit 1
KEYS=$CMC_HOME/keys/dkim

# --- keys ---
dkimctl keygen t1 rsa.test >"$TMPD/k" 2>&1; is "$?" 0 "keygen RSA (default)"
like "$(sed -n 1p "$TMPD/k")" "t1	rsa.test	cmc*	rsa	2048	active	*" "first key of a domain: RSA 2048, active"
SEL=$(awk 'NR==1 {print $3}' "$TMPD/k")
like "$(sed -n 2p "$TMPD/k")" "$SEL._domainkey.rsa.test. IN TXT \"v=DKIM1; k=rsa; p=*\" \"*\"" "keygen prints the record, in 255-byte strings"
is "$($PY -c 'import re,sys; print(max(len(s) for s in re.findall(r"\"([^\"]*)\"", sys.stdin.read())))' <"$TMPD/k")" 255 "strings are at most 255 bytes"
is "$(stat -c %a "$KEYS/t1/rsa.test/$SEL.key")" 600 "key file mode 0600"
is "$(stat -c %a "$KEYS/t1/rsa.test") $(stat -c %a "$KEYS/t1") $(stat -c %a "$KEYS")" "700 700 700" "key directories mode 0700"
dkimctl keygen t1 ed.test -a ed25519 -s ed1 >"$TMPD/k" 2>&1; is "$?" 0 "keygen Ed25519"
like "$(cat "$TMPD/k")" "t1	ed.test	ed1	ed25519	256	active	*ed1._domainkey.ed.test. IN TXT \"v=DKIM1; k=ed25519; p=*\"" "Ed25519 record: k=ed25519"
# Ed25519 where the algorithm does not matter: RSA keys take time to make.
dkimctl keygen t1 rot.test -s old1 >/dev/null 2>&1 || echo "# keygen old1 failed"
dkimctl keygen t1 two.test -s r1 -b 1024 >/dev/null 2>&1 || echo "# keygen r1 failed"
dkimctl keygen t1 two.test -s e1 -a ed25519 >/dev/null 2>&1 || echo "# keygen e1 failed"
for d in rot:new1 mis:m1 abs:a1 miss:k1; do
  dkimctl keygen t1 "${d%:*}.test" -s "${d#*:}" -a ed25519 >/dev/null 2>&1 || echo "# keygen $d failed"
done
is "$(dkimctl list t1 rot.test | cut -f3,6 | tr '\t\n' ': ')" "new1:new old1:active " "second key of a domain waits (new)"
dkimctl keygen t1 rot.test -s old1 >/dev/null 2>&1; is "$?" 100 "a selector is not reused"
dkimctl keygen t2 rot.test -s old1 >/dev/null 2>&1; is "$?" 100 "one DNS name, one tenant"
dkimctl keygen t1 Bad.Test >/dev/null 2>&1; is "$?" 100 "bad domain refused"
dkimctl keygen t1 x.test -a dsa >/dev/null 2>&1; is "$?" 100 "unknown algorithm refused"
dkimctl keygen t1 x.test -b 512 >/dev/null 2>&1; is "$?" 100 "RSA below 1024 bits refused"
dkimctl keygen t1 x.test -a ed25519 -b 2048 >/dev/null 2>&1; is "$?" 100 "bits are for RSA only"

# --- DNS: the records, as dkimctl prints them; mis.test publishes another key ---
rec2arg() { $PY -c '
import re, sys
for l in sys.stdin:
    name = sys.argv[1] if len(sys.argv) > 1 else l.split()[0].rstrip(".")
    print("--txt-record=%s,%s" % (name, ",".join(re.findall(r"\"([^\"]*)\"", l))))' "$@"; }
dkimctl record t1 rsa.test >"$TMPD/rec" && dkimctl record t1 ed.test >>"$TMPD/rec" \
  && dkimctl record t1 rot.test >>"$TMPD/rec" || echo "Bail out! dkimctl record failed"
is "$(wc -l <"$TMPD/rec")" 4 "record prints every key of a domain that is not retired"
rec2arg <"$TMPD/rec" >"$TMPD/args"
dkimctl record t1 rsa.test "$SEL" | rec2arg m1._domainkey.mis.test >>"$TMPD/args"
dkimctl record t1 two.test | rec2arg >>"$TMPD/args"
set --
while IFS= read -r a; do set -- "$@" "$a"; done <"$TMPD/args"
start_dns "$@"

# opendkim-testmsg's resolver, pointed at our dnsmasq.
resolver_shim
testmsg() { SHIM_RESOLVER=$CMC_RESOLVER LD_PRELOAD=$TMPD/shim.so /usr/sbin/opendkim-testmsg; }

# --- samples: DOMAIN-KIND.lf / .crlf ---
mkdir "$TMPD/s"
$PY - "$TMPD/s" <<'PYEOF'
import base64, os, sys
out = sys.argv[1]
def sample(domain, kind):
    h = ["From: =?UTF-8?B?5pel5pys?= Sender <news@%s>" % domain,
         "To: Reader <reader@example.org>",
         "Date: Mon, 2 Jun 2025 10:00:00 +0900",
         "Message-ID: <%s.%s@%s>" % (kind, domain, domain)]
    if kind == "plain":
        h += ["Subject: plain text", "MIME-Version: 1.0",
              "Content-Type: text/plain; charset=us-ascii",
              "Content-Description:  odd \t white   space\t "]
        body = ["Hello,", "", "a plain message.", "  indented  line with   spaces  ", "", "", ""]
    elif kind == "8bit":
        h += ["Subject: 8-bit テスト subject", "MIME-Version: 1.0",
              "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
        body = ["こんにちは、世界。", "Grüße aus Köln — ünïcödé", "\t tab and trailing space \t"]
    elif kind == "empty":
        h += ["Subject: no body"]
        return "\r\n".join(h) + "\r\n\r\n"
    elif kind == "long":
        h += ["Subject: " + "\r\n ".join(["a long subject folded over lines %d" % i for i in range(12)]),
              "References: " + "\r\n\t".join(["<ref%03d.%s@example.org>" % (i, "x" * 20) for i in range(60)]),
              "Cc: " + ",\r\n ".join(["person%02d <p%02d@example.org>" % (i, i) for i in range(40)]),
              "X-Long-Unfolded: " + "y" * 900,
              "MIME-Version: 1.0", "Content-Type: text/plain"]
        body = ["z" * 990, "short", "w " * 400]
    else:
        b = "frontier-%s" % domain
        att = base64.encodebytes(bytes((i * 7 + 3) % 256 for i in range(30000))).decode()
        h += ["Subject: multipart with attachment", "MIME-Version: 1.0",
              "Content-Type: multipart/mixed;\r\n boundary=\"%s\"" % b,
              "List-Unsubscribe: <https://%s/u?id=1>, <mailto:unsub@%s>" % (domain, domain),
              "List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
        body = ["This is a multi-part message in MIME format.", "--" + b,
                "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
                "See the attachment — données.", "--" + b,
                "Content-Type: application/octet-stream; name=\"data.bin\"",
                "Content-Transfer-Encoding: base64",
                "Content-Disposition: attachment; filename=\"data.bin\"", ""] \
               + att.rstrip("\n").split("\n") + ["--" + b + "--", ""]
    return "\r\n".join(h) + "\r\n\r\n" + "\r\n".join(body) + "\r\n"
for domain in ("rsa.test", "ed.test"):
    for kind in ("plain", "8bit", "long", "multi", "empty"):
        m = sample(domain, kind).encode()
        name = os.path.join(out, "%s-%s" % (domain.split(".")[0], kind))
        open(name + ".crlf", "wb").write(m)
        open(name + ".lf", "wb").write(m.replace(b"\r\n", b"\n"))
PYEOF

# --- sign and verify every sample ---
for f in "$TMPD"/s/*.lf "$TMPD"/s/*.crlf; do
  sign -t t1 <"$f" >"$f.signed" 2>"$TMPD/err"
  ok "$?" "sign ${f##*/}"
done
is "$(head -c 16 "$TMPD/s/rsa-plain.crlf.signed")" "DKIM-Signature: " "the field comes first"
like "$(head -n 3 "$TMPD/s/rsa-plain.crlf.signed" | tr -d '\r\n\t ')" "DKIM-Signature:v=1;a=rsa-sha256;c=relaxed/relaxed;d=rsa.test;s=$SEL;*" "rsa: a=rsa-sha256 c=relaxed/relaxed d=rsa.test s=SELECTOR"
like "$(head -n 3 "$TMPD/s/ed-plain.crlf.signed" | tr -d '\r\n\t ')" "DKIM-Signature:v=1;a=ed25519-sha256;c=relaxed/relaxed;d=ed.test;s=ed1;*" "ed25519: a=ed25519-sha256 d=ed.test s=ed1"
is "$(head -n 1 "$TMPD/s/rsa-plain.crlf.signed" | od -An -c | grep -c '\\r')" 1 "CRLF in, CRLF field out"
is "$(head -n 1 "$TMPD/s/rsa-plain.lf.signed" | od -An -c | grep -c '\\r')" 0 "LF in, LF field out"
# strip_field FILE: the message without its first field (the signature).
strip_field() { awk 'NR == 1 { next } !body && /^[ \t]/ { next } { body = 1; print }' "$1"; }
strip_field "$TMPD/s/rsa-multi.crlf.signed" | cmp -s - "$TMPD/s/rsa-multi.crlf"; ok "$?" "CRLF: message after the field unchanged"
strip_field "$TMPD/s/ed-long.lf.signed" | cmp -s - "$TMPD/s/ed-long.lf"; ok "$?" "LF: message after the field unchanged"
H=$(sed -n '/^DKIM-Signature/,/b=/p' "$TMPD/s/rsa-multi.lf.signed" | tr -d ' \t\n')
like "$H" "*h=From:To:Date:Message-ID:Subject:MIME-Version:Content-Type:List-Unsubscribe:List-Unsubscribe-Post:from;*" "signed fields in order, List-Unsubscribe(-Post) included, From over-signed"
like "$(sed -n '/^DKIM-Signature/,/b=/p' "$TMPD/s/rsa-long.lf.signed" | tr -d ' \t\n')" "*h=From:To:Date:Message-ID:Subject:References:Cc:MIME-Version:Content-Type:from;*" "long sample: References and Cc signed, X- field not"

dkimpy "$TMPD"/s/*.signed >"$TMPD/dkimpy.out" 2>&1
for f in "$TMPD"/s/*.signed; do
  b=${f##*/}
  is "$(grep "^$b " "$TMPD/dkimpy.out")" "$b pass" "dkimpy verifies $b"
done
for f in "$TMPD"/s/*.signed; do
  testmsg <"$f" >"$TMPD/tm.out" 2>&1
  r=$?
  [ "$r" = 0 ] || sed 's/^/# /' "$TMPD/tm.out"
  is "$r" 0 "opendkim-testmsg verifies ${f##*/}"
done

# --- tampering ---
S=$TMPD/s/rsa-plain.crlf.signed
sed 's/a plain message/a plain massage/' "$S" >"$TMPD/t-body"
sed 's/^Subject: plain text/Subject: plain text!/' "$S" >"$TMPD/t-subj"
sed 's/^To: Reader/To: Reeder/' "$S" >"$TMPD/t-to"
sed '/^Subject:/i\
From: evil@attacker.test\r' "$S" >"$TMPD/t-from"
sed '/^Subject:/i\
X-Added: not signed\r' "$S" >"$TMPD/t-unsigned"
sed 's/données/donnees/' "$TMPD/s/ed-multi.lf.signed" >"$TMPD/t-edbody"
sed 's/^List-Unsubscribe: <https/List-Unsubscribe: <http/' "$TMPD/s/ed-multi.crlf.signed" >"$TMPD/t-edlu"
dkimpy "$TMPD"/t-* >"$TMPD/dkimpy.out" 2>&1
is "$(grep '^t-body ' "$TMPD/dkimpy.out")" "t-body fail" "dkimpy: changed body fails"
is "$(grep '^t-subj ' "$TMPD/dkimpy.out")" "t-subj fail" "dkimpy: changed Subject fails"
is "$(grep '^t-to ' "$TMPD/dkimpy.out")" "t-to fail" "dkimpy: changed To fails"
is "$(grep '^t-from ' "$TMPD/dkimpy.out")" "t-from fail" "dkimpy: an added From fails (over-signed)"
is "$(grep '^t-unsigned ' "$TMPD/dkimpy.out")" "t-unsigned pass" "dkimpy: an added unsigned field still passes"
is "$(grep '^t-edbody ' "$TMPD/dkimpy.out")" "t-edbody fail" "dkimpy: Ed25519, changed body fails"
is "$(grep '^t-edlu ' "$TMPD/dkimpy.out")" "t-edlu fail" "dkimpy: Ed25519, changed List-Unsubscribe fails"
testmsg <"$TMPD/t-body" >/dev/null 2>&1; isnt0=$?; [ "$isnt0" != 0 ]; ok "$?" "opendkim-testmsg: changed body fails"
testmsg <"$TMPD/t-subj" >/dev/null 2>&1; isnt0=$?; [ "$isnt0" != 0 ]; ok "$?" "opendkim-testmsg: changed Subject fails"
testmsg <"$TMPD/t-edbody" >/dev/null 2>&1; isnt0=$?; [ "$isnt0" != 0 ]; ok "$?" "opendkim-testmsg: Ed25519, changed body fails"
SHIM_RESOLVER=127.0.0.1:1 LD_PRELOAD=$TMPD/shim.so /usr/sbin/opendkim-testmsg <"$S" >/dev/null 2>&1
isnt0=$?; [ "$isnt0" != 0 ]; ok "$?" "opendkim-testmsg without our DNS cannot verify (it does ask dnsmasq)"

# --- -h: the field alone ---
sign -h -t t1 <"$TMPD/s/rsa-8bit.crlf" >"$TMPD/h" 2>&1; is "$?" 0 "sign -h"
is "$(grep -c '^[A-Za-z]' "$TMPD/h")" 1 "-h prints one field"
cat "$TMPD/h" "$TMPD/s/rsa-8bit.crlf" >"$TMPD/h.eml"
is "$(dkimpy "$TMPD/h.eml")" "h.eml pass" "field from -h prepended verifies"
sign -h <"$TMPD/s/rsa-plain.lf" >"$TMPD/h2" 2>&1; is "$?" 0 "no -t: the tenant owning the domain's keys"
like "$(tr -d '\n\t ' <"$TMPD/h2")" "*d=rsa.test;s=$SEL;*" "no -t: signed with t1's key"

# --- no key, policy, malformed ---
msg() { printf 'From: a@%s\nTo: b@example.org\nDate: Mon, 2 Jun 2025 10:00:00 +0900\nSubject: x\n\nbody\n' "$1"; }
msg nokey.test >"$TMPD/nokey"
sign -t t1 <"$TMPD/nokey" >"$TMPD/out" 2>"$TMPD/err"; is "$?" 0 "no key, tenant allows: exit 0"
cmp -s "$TMPD/out" "$TMPD/nokey"; ok "$?" "no key: message passed unchanged"
like "$(cat "$TMPD/err")" "sign: warning: not signed: no DKIM key for nokey.test*" "no key: said on stderr"
is "$(dkimctl policy t1 require)" "t1	require" "policy require"
sign -t t1 <"$TMPD/nokey" >"$TMPD/out" 2>"$TMPD/err"; is "$?" 111 "no key, tenant requires signing: 111 (waits for a key)"
is "$(wc -c <"$TMPD/out")" 0 "nothing on stdout"
is "$(dkimctl policy t1)" "t1	require" "policy read back"
dkimctl policy t1 allow >/dev/null
printf 'To: b@example.org\nSubject: x\n\nbody\n' | sign -t t1 >/dev/null 2>&1; is "$?" 100 "no From: 100"
{ printf 'From: a@rsa.test\n'; msg rsa.test; } | sign -t t1 >/dev/null 2>&1; is "$?" 100 "two From fields: 100"
printf 'From: nobody\n\nbody\n' | sign -t t1 >/dev/null 2>&1; is "$?" 100 "From without a domain: 100"
sign -t 'T 1' <"$TMPD/nokey" >/dev/null 2>&1; is "$?" 100 "bad tenant name: 100"
msg RSA.Test. | sign -t t1 >"$TMPD/out" 2>&1; is "$?" 0 "From domain is case-folded, final dot dropped"
like "$(tr -d '\n\t ' <"$TMPD/out")" "*d=rsa.test;*" "d= is the lowercase domain"

# --- missing, unreadable, public key: temporary ---
rm "$KEYS/t1/miss.test/k1.key"
msg miss.test | sign -t t1 >"$TMPD/out" 2>"$TMPD/err"; is "$?" 111 "missing key file: 111"
is "$(wc -c <"$TMPD/out")" 0 "missing key: nothing on stdout"
like "$(cat "$TMPD/err")" "sign: fatal: unable to sign: key for miss.test selector k1 unreadable: unable to open *k1.key: No such file or directory" "missing key: said why"
msg abs.test | sign -t t1 >/dev/null 2>&1; is "$?" 0 "abs.test signs with its key (no DNS needed)"
chmod 644 "$KEYS/t1/abs.test/a1.key"
msg abs.test | sign -t t1 >/dev/null 2>"$TMPD/err"; is "$?" 111 "key readable by others: 111"
like "$(cat "$TMPD/err")" "*not a private regular file*" "public key file: said why"
chmod 600 "$KEYS/t1/abs.test/a1.key"
echo garbage >"$KEYS/t1/abs.test/a1.key.new" && chmod 600 "$KEYS/t1/abs.test/a1.key.new" \
  && cp "$KEYS/t1/abs.test/a1.key" "$TMPD/a1.save" && mv "$KEYS/t1/abs.test/a1.key.new" "$KEYS/t1/abs.test/a1.key"
msg abs.test | sign -t t1 >/dev/null 2>"$TMPD/err"; is "$?" 111 "key that does not parse: 111"
cp "$TMPD/a1.save" "$KEYS/t1/abs.test/a1.key"

# --- check ---
dkimctl check t1 rsa.test >"$TMPD/out" 2>&1; is "$?" 0 "check: published key"
is "$(cut -d: -f1 "$TMPD/out")" "$SEL._domainkey.rsa.test match" "check says match"
dkimctl check t1 ed.test >"$TMPD/out" 2>&1; is "$?" 0 "check: published Ed25519 key"
dkimctl check t1 mis.test >"$TMPD/out" 2>&1; is "$?" 100 "check: another key published: 100"
is "$(cut -d: -f1 "$TMPD/out")" "m1._domainkey.mis.test mismatch" "check says mismatch"
dkimctl check t1 abs.test a1 >"$TMPD/out" 2>&1; is "$?" 100 "check: nothing published: 100"
is "$(cut -d: -f1 "$TMPD/out")" "a1._domainkey.abs.test absent" "check says absent"
dkimctl check t1 rot.test >"$TMPD/out" 2>&1; is "$?" 0 "check: both keys of a rotation published"
is "$(wc -l <"$TMPD/out")" 2 "check: one line per key"
CMC_RESOLVER=127.0.0.1:$(free_port) dkimctl check t1 rsa.test >"$TMPD/out" 2>&1; is "$?" 111 "check: no DNS answer: 111"
is "$(cut -d: -f1 "$TMPD/out")" "$SEL._domainkey.rsa.test unknown" "check says unknown"

# --- rotation ---
msg rot.test >"$TMPD/rot"
sign -t t1 <"$TMPD/rot" >"$TMPD/rot1" 2>&1; is "$?" 0 "rot.test signs"
like "$(tr -d '\n\t ' <"$TMPD/rot1")" "*s=old1;*" "with the active key old1"
dkimctl activate t1 abs.test a1 >/dev/null 2>&1; is "$?" 0 "activate the active key: no change"
dkimctl keygen t1 abs.test -s a2 -a ed25519 >/dev/null 2>&1
dkimctl activate t1 abs.test a2 >"$TMPD/out" 2>&1; is "$?" 100 "activate an unpublished key: refused"
like "$(cat "$TMPD/out")" "*a2._domainkey.abs.test absent*publish it first*" "activate says why"
dkimctl activate t1 abs.test a2 -f >/dev/null 2>&1; is "$?" 0 "activate -f: forced"
dkimctl activate t1 rot.test new1 >"$TMPD/out" 2>&1; is "$?" 0 "activate the published new key"
is "$(dkimctl list t1 rot.test | cut -f3,6 | tr '\t\n' ': ')" "new1:active old1:old " "new key active, old one old"
sign -t t1 <"$TMPD/rot" >"$TMPD/rot2" 2>&1; is "$?" 0 "rot.test signs after the switch"
like "$(tr -d '\n\t ' <"$TMPD/rot2")" "*s=new1;*" "with new1 at once"
is "$(dkimpy "$TMPD/rot1" "$TMPD/rot2" | tr '\n' ' ')" "rot1 pass rot2 pass " "both verify while both records are published"
dkimctl retire t1 rot.test new1 >/dev/null 2>&1; is "$?" 100 "the active key cannot be retired"
dkimctl retire t1 rot.test old1 >/dev/null 2>&1; is "$?" 0 "retire the old key"
[ ! -e "$KEYS/t1/rot.test/old1.key" ]; ok "$?" "retired private key removed"
is "$(dkimctl list t1 rot.test | cut -f3,6 | tr '\t\n' ': ')" "new1:active old1:retired " "list shows it retired"
is "$(dkimctl record t1 rot.test | cut -d. -f1)" "new1" "record no longer lists the retired key"
dkimctl activate t1 rot.test old1 -f >/dev/null 2>&1; is "$?" 100 "a retired key cannot come back"
dkimctl keygen t1 rot.test -s old1 >/dev/null 2>&1; is "$?" 100 "nor its selector"
dkimctl retire t1 rot.test nosuch >/dev/null 2>&1; is "$?" 100 "retire unknown selector: 100"

# --- dual signing: an RSA and an Ed25519 key (RFC 8463) ---
is "$(dkimctl list t1 two.test | cut -f3,6 | tr '\t\n' ': ')" "e1:new r1:active " "two.test: RSA active, the Ed25519 key new"
dkimctl activate t1 two.test e1 -d >/dev/null 2>&1; is "$?" 0 "activate -d: the Ed25519 key beside the RSA key"
is "$(dkimctl list t1 two.test | cut -f3,6 | tr '\t\n' ': ')" "e1:active r1:active " "both active"
msg two.test >"$TMPD/two"
sign -t t1 <"$TMPD/two" >"$TMPD/two.signed" 2>&1; is "$?" 0 "sign: dual"
like "$(tr -d '\r\n\t ' <"$TMPD/two.signed")" "DKIM-Signature:v=1;a=rsa-sha256;*s=r1;*DKIM-Signature:v=1;a=ed25519-sha256;*s=e1;*From:a@two.test*" \
  "two fields, RSA first"
is "$(dkimpy --bare --each "$TMPD/two.signed")" "pass pass" "dkimpy verifies both"
testmsg <"$TMPD/two.signed" >"$TMPD/out" 2>&1; is "$?:$(cat "$TMPD/out")" "0:" "opendkim-testmsg accepts it"
dkimctl deactivate t1 two.test r1 >/dev/null 2>&1; is "$?" 0 "deactivate the RSA key"
is "$(dkimctl list t1 two.test | cut -f3,6 | tr '\t\n' ': ')" "e1:active r1:old " "the Ed25519 key alone signs"
sign -t t1 <"$TMPD/two" >"$TMPD/two.signed" 2>&1
is "$(grep -c '^DKIM-Signature' "$TMPD/two.signed") $(dkimpy --bare --each "$TMPD/two.signed")" "1 pass" "one signature again"
dkimctl deactivate t1 two.test e1 >"$TMPD/out" 2>&1; is "$?" 100 "deactivate the only active key: refused"
like "$(cat "$TMPD/out")" "*only active key*" "said why"
dkimctl deactivate t1 two.test r1 >/dev/null 2>&1; is "$?" 100 "deactivate a key that is not active: 100"
dkimctl activate t1 two.test r1 >/dev/null 2>&1; is "$?" 0 "activate without -d, one key active"
is "$(dkimctl list t1 two.test | cut -f3,6 | tr '\t\n' ': ')" "e1:old r1:active " "switches: the other becomes old"

# --- tables unavailable ---
CMC_HOME=$TMPD/nowhere sign -t t1 <"$TMPD/rot" >/dev/null 2>&1; is "$?" 111 "no tables: 111"
sign -x </dev/null >/dev/null 2>&1; is "$?" 100 "bad usage: 100"
exit $failed
