#!/bin/sh
# classify-bounce on bad input: truncated MIME, 10 MB of garbage, nested
# message/rfc822 and multipart loops, a flood of parts and recipients,
# NUL bytes, broken encodings, over-long input.  Nothing crashes; every run
# ends in bounded time (timeout) and memory (ulimit -v); the exit status is
# one the page documents (0, 2, 100).
. "${0%/*}/lib.sh"
plan 20
RULES="-d $TOP/templates/classify"
D=$T/data/classify

# The address-space limit; not under AddressSanitizer, which reserves
# terabytes of shadow memory at start (make SANITIZE=1 writes .build-mode).
VLIMIT=1048576
[ "$(cat "$TOP/.build-mode" 2>/dev/null)" = sanitize ] && VLIMIT=unlimited

# run NAME EXPECTED-EXITS ARGS...: classify-bounce under a 20 s time limit
# and a 1 GB address-space limit; ok when the exit status is one expected
run() {
  name=$1 want=$2
  shift 2
  ( ulimit -v $VLIMIT 2>/dev/null; exec timeout 20 "$BIN/classify-bounce" $RULES "$@" ) \
    >"$TMPD/out" 2>"$TMPD/err"
  rc=$?
  case " $want " in
  *" $rc "*) ok 0 "$name (exit $rc)" ;;
  *) ok 1 "$name (exit $rc, want one of $want)"; sed 's/^/# /' "$TMPD/err" | head -5 ;;
  esac
}

$PY - "$TMPD" "$D/postfix-real-unknown.eml" "$D/exchange-html-base64.eml" <<'PYEOF'
import os, random, sys
t, dsn, exch = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
w = lambda n, d: open(os.path.join(t, n), "wb").write(d)
r = random.Random(4711)
# truncated MIME: the DSN cut inside its header, inside a part, inside a boundary
w("cut1.eml", dsn[:200])
w("cut2.eml", dsn[:dsn.index(b"Diagnostic-Code") + 20])
i = dsn.rindex(b"\n--") + 6
w("cut3.eml", dsn[:i])
w("cut4.eml", exch[:len(exch) * 2 // 3])                 # inside base64
# 10 MB of garbage: random bytes; and 10 MB of MIME-ish noise on one line
w("garbage.eml", r.randbytes(10 * 1024 * 1024))
w("noise.eml", b"Content-Type: multipart/report; boundary=x\n\n" + b"--x=?utf-8?B?" * (10 * 1024 * 1024 // 13))
# nested message/rfc822, 5000 deep, each layer a bounce-looking wrapper
inner = b"From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail\n\nnothing here\n"
for k in range(5000):
    inner = (b"From: MAILER-DAEMON@x.example\nSubject: Returned mail\nContent-Type: message/rfc822\n\n" + inner)
w("nest-rfc822.eml", inner)
# nested multipart, 20000 deep, every level a new boundary
parts = b"text\n"
for k in range(20000):
    b = b"b%d" % k
    parts = (b"Content-Type: multipart/mixed; boundary=" + b + b"\n\n--" + b + b"\n" + parts + b"\n--" + b + b"--\n")
w("nest-multipart.eml", b"From: MAILER-DAEMON@x.example\nSubject: failure notice\n" + parts)
# the same boundary inside itself: a part that is its own parent
loop = b"--L\nContent-Type: multipart/report; boundary=L\n\n" * 50000
w("loop.eml", b"From: MAILER-DAEMON@x.example\nContent-Type: multipart/report; boundary=L\n\n" + loop)
# 100000 parts
many = b"".join(b"--P\nContent-Type: text/plain\n\nuser%d@example.com: 550 5.1.1 User unknown\n" % k for k in range(100000))
w("parts.eml", b"From: MAILER-DAEMON@x.example\nSubject: failure notice\nContent-Type: multipart/mixed; boundary=P\n\n" + many + b"--P--\n")
# 50000 recipients in one delivery-status part
rcpts = b"".join(b"Final-Recipient: rfc822; u%d@example.com\nAction: failed\nStatus: 5.1.1\n\n" % k for k in range(50000))
w("rcpts.eml", b"From: MAILER-DAEMON@x.example\nContent-Type: multipart/report; report-type=delivery-status; boundary=R\n\n--R\nContent-Type: message/delivery-status\n\n" + rcpts + b"--R--\n")
# NUL bytes, a header without end, broken base64 and quoted-printable, bad charsets
w("nul.eml", dsn.replace(b"User unknown", b"User\0unknown\0") + b"\0" * 1000)
w("noend.eml", b"From: MAILER-DAEMON@x.example\nSubject: " + b"A" * 3000000)
w("badenc.eml", b"From: MAILER-DAEMON@x.example\nSubject: =?x-unknown?Q?=ZZ=?= =?utf-8?B?####?=\n"
  b"Content-Type: multipart/report; boundary=E\n\n--E\nContent-Type: text/plain; charset=iso-2022-jp\n"
  b"Content-Transfer-Encoding: quoted-printable\n\n=1B$B=\n=ZZ=\n<a@example.com>: 550 no such user\n"
  b"--E\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n!!!!====****\n--E--\n")
# one byte over the 20 MB limit
w("huge.eml", b"x" * (20 * 1024 * 1024 + 1))
PYEOF

for f in cut1 cut2 cut3 cut4; do run "truncated MIME: $f" "0 2" "$TMPD/$f.eml"; done
run "10 MB of random bytes" "0 2" "$TMPD/garbage.eml"
run "10 MB of MIME-looking noise" "0 2" "$TMPD/noise.eml"
run "message/rfc822 nested 5000 deep" "0 2" "$TMPD/nest-rfc822.eml"
run "multipart nested 20000 deep" "0 2" "$TMPD/nest-multipart.eml"
run "a boundary nested in itself 50000 times" "0 2" "$TMPD/loop.eml"
run "100000 parts" "0 2" "$TMPD/parts.eml"
run "50000 recipients" "0" "$TMPD/rcpts.eml"
is "$(wc -l <"$TMPD/out" | tr -d ' ')" 64 "recipients reported are capped at 64"
run "NUL bytes" "0 2" "$TMPD/nul.eml"
run "a header that never ends" "0 2" "$TMPD/noend.eml"
run "broken encodings and charsets" "0 2" "$TMPD/badenc.eml"
run "over 20 MB" "100" "$TMPD/huge.eml"
( ulimit -v $VLIMIT 2>/dev/null; exec timeout 20 "$BIN/classify-bounce" $RULES ) <"$TMPD/huge.eml" >/dev/null 2>&1
is "$?" 100 "over 20 MB on stdin is refused (100)"
cat "$TMPD"/cut*.eml "$TMPD/nul.eml" "$TMPD/badenc.eml" >"$TMPD/mix.mbox"
run "an mbox of broken messages" "0 2" -m "$TMPD/mix.mbox"
head -c 100000 /dev/zero | tr '\0' 'x' >"$TMPD/longreply"
( exec timeout 20 "$BIN/classify-bounce" $RULES -r ) <"$TMPD/longreply" >/dev/null 2>&1
is "$?" 100 "a reply over 64 KB is refused (100)"
"$BIN/classify-bounce" $RULES -q >/dev/null 2>&1
is "$?" 100 "bad usage is 100"
exit $failed
