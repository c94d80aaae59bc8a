#!/bin/sh
# queue-inject: shell style and qmail style (fd 1 a pipe or a socket) put a
# whole message in new/ with CRLF line ends, Message-ID and Date added only
# when missing, the Q and S fields set, and a byte in the trigger FIFO;
# every refusal (100) and every failure (111) leaves nothing in new/ or tmp/.
. "${0%/*}/lib.sh"
plan 52

CMC_HOME=$TMPD/home; SPOOL=$CMC_HOME/spool
CMC_HOSTNAME=inject.test
export CMC_HOME CMC_HOSTNAME
mkdir -p "$SPOOL/tmp" "$SPOOL/new" "$SPOOL/queue" && mkfifo "$SPOOL/trigger" || exit 1
unset CMC_MSG_MAX

# spool FILE env|msg: the envelope fields (one a line) or the message part.
spool() { $PY - "$@" <<'PYEOF'
import sys
d = open(sys.argv[1], "rb").read()
i = d.index(b"\0\0")
out = d[:i].replace(b"\0", b"\n") + b"\n" if sys.argv[2] == "env" else d[i + 2:]
sys.stdout.buffer.write(out)
PYEOF
}
# qi MODE ENVFILE < message: queue-inject in qmail style, the envelope from
# ENVFILE on fd 1 as a pipe or a socket; prints "rc=N reply=R".
qi() { $PY - "$@" <<'PYEOF'
import os, socket, subprocess, sys
mode, envfile = sys.argv[1], sys.argv[2]
msg = sys.stdin.buffer.read()
env = open(envfile, "rb").read()
mr, mw = os.pipe()
if mode == "socket":
    mine, theirs = socket.socketpair()
    fd1 = theirs.fileno()
else:
    er, ew = os.pipe()
    fd1 = er
p = subprocess.Popen(["queue-inject"], stdin=mr, stdout=fd1)
os.close(mr)
os.write(mw, msg); os.close(mw)
reply = b""
if mode == "socket":
    theirs.close()
    mine.settimeout(20)
    mine.sendall(env)
    if not env.endswith(b"\0\0"):
        mine.shutdown(socket.SHUT_WR)       # the caller gives up
    while True:
        b = mine.recv(100)
        if not b: break
        reply += b
else:
    os.close(er)
    os.write(ew, env); os.close(ew)
print("rc=%d reply=%s" % (p.wait(timeout=20), reply.decode().strip()))
PYEOF
}
empty() { [ -z "$(ls -A "$SPOOL/new" "$SPOOL/tmp" 2>/dev/null | grep -v ':$' | grep -v '^$')" ]; }
clear() { rm -f "$SPOOL"/new/* "$SPOOL"/tmp/*; }
crlf_only() { $PY -c 'import sys, re; d = open(sys.argv[1], "rb").read(); sys.exit(1 if re.search(rb"\r(?!\n)|(?<!\r)\n", d) else 0)' "$1"; }

# --- shell style ---------------------------------------------------------
id=$(printf 'Subject: a\nX-Two: b\r\n\r\nl1\nl2\rl3\r\nl4' \
  | queue-inject -t acme -f s@example.com r1@example.org 'odd..dots@example.net' 2>"$TMPD/err")
is "$?" 0 "shell style: exit 0"
like "$id" "[0-9A-F]*" "shell style: prints the id"
is "${#id}" 25 "the id has 25 characters"
$PY -c 'import re, sys; sys.exit(0 if re.fullmatch("[0-9A-F]{25}", sys.argv[1]) else 1)' "$id"
ok $? "the id is upper-case hex only"
f=$SPOOL/new/$id
[ -f "$f" ]
ok $? "the file is in new/ under the id"
is "$(ls "$SPOOL/tmp" | wc -l)" 0 "nothing is left in tmp/"
is "$(stat -c %a "$f")" 600 "the spool file has mode 600"
env=$(spool "$f" env)
like "$env" "Tacme
Cdefault
S[0-9]*
Q$id
Fs@example.com
Rr1@example.org
R\"odd..dots\"@example.net" "envelope: T C S Q F R, addresses in internal form"
spool "$f" msg >"$TMPD/m1"
date=$(sed -n 's/^Date: \(.*\)\r$/\1/p' "$TMPD/m1")
$PY -c 'import sys, email.utils; sys.exit(0 if email.utils.parsedate_tz(sys.argv[1]) else 1)' "$date"
ok $? "an RFC 5322 Date was added ($date)"
printf 'Subject: a\r\nX-Two: b\r\nDate: %s\r\nMessage-ID: <%s@inject.test>\r\n\r\nl1\r\nl2\r\nl3\r\nl4\r\n' "$date" "$id" >"$TMPD/m1.want"
cmp -s "$TMPD/m1" "$TMPD/m1.want"
ok $? "bare LF and bare CR become CRLF, a last line gets CRLF, fields go at the header's end"
crlf_only "$f"
ok $? "no bare CR or LF anywhere in the file"
[ "$(grep -c '^Message-ID:' "$TMPD/m1")" = 1 ] && [ "$(grep -c '^Date:' "$TMPD/m1")" = 1 ]
ok $? "one Message-ID, one Date"

clear
printf 'Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nmessage-id: <keep@x>\r\nSubject: s\r\n\r\nbody\r\n' >"$TMPD/m2"
id=$(queue-inject -t acme -f '' r@example.org <"$TMPD/m2")
is "$?" 0 "null sender accepted"
spool "$SPOOL/new/$id" msg >"$TMPD/m2.got"
cmp -s "$TMPD/m2" "$TMPD/m2.got"
ok $? "a CRLF message with Date and Message-ID (any case) is stored byte for byte"
like "$(spool "$SPOOL/new/$id" env)" "*
F
R*" "null sender stored as an empty F field"

clear
printf 'Message-ID: <m@x>\nSubject: s\n\nbody\n' | queue-inject -t acme -f s@example.com r@example.org >"$TMPD/id" 2>&1
spool "$SPOOL/new/$(cat "$TMPD/id")" msg >"$TMPD/m3"
is "$(grep -c '^Date: ' "$TMPD/m3"),$(grep -ci '^message-id:' "$TMPD/m3")" "1,1" "only the missing Date is added"

clear
printf 'Date: Mon, 1 Jan 2024 00:00:00 +0000\n\nbody\n' | queue-inject -t acme -f s@example.com r@example.org >"$TMPD/id"
id=$(cat "$TMPD/id")
spool "$SPOOL/new/$id" msg >"$TMPD/m4"
printf 'Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <%s@inject.test>\r\n\r\nbody\r\n' "$id" >"$TMPD/m4.want"
cmp -s "$TMPD/m4" "$TMPD/m4.want"
ok $? "only the missing Message-ID is added, as <ID@CMC_HOSTNAME>"

clear
printf 'just text, no header\nsecond\n' | queue-inject -t acme -f s@example.com r@example.org >"$TMPD/id"
id=$(cat "$TMPD/id")
spool "$SPOOL/new/$id" msg | sed 1d >"$TMPD/m5"
printf 'Message-ID: <%s@inject.test>\r\n\r\njust text, no header\r\nsecond\r\n' "$id" >"$TMPD/m5.want"
cmp -s "$TMPD/m5" "$TMPD/m5.want"
ok $? "no header at all: fields and a blank line go before the text"

clear
printf 'Subject: 8bit\n\ncaf\303\251\n' | queue-inject -t acme -c other -i 192.0.2.1 -u alice -f s@example.com r@example.org >"$TMPD/id"
like "$(spool "$SPOOL/new/$(cat "$TMPD/id")" env)" "Tacme
Cother
I192.0.2.1
Ualice
S*
O8bitmime
F*" "-c -i -u are stored; an 8-bit message is marked 8bitmime"

clear
a=$(echo x | queue-inject -t acme -f s@example.com r@example.org)
b=$(echo x | queue-inject -t acme -f s@example.com r@example.org)
[ -n "$a" ] && [ "$a" != "$b" ] && [ "$(ls "$SPOOL/new" | wc -l)" = 2 ]
ok $? "two injections, two ids, two files"

# A big message with LF line ends is streamed, not cut, and normalised.
clear
$PY -c '
import sys
sys.stdout.buffer.write(b"Subject: big\n\n" + b"".join(b"line %07d " % i + b"x" * 60 + b"\n" for i in range(80000)))' >"$TMPD/big"
id=$(queue-inject -t acme -f s@example.com r@example.org <"$TMPD/big")
spool "$SPOOL/new/$id" msg | sed '/^Date: /d; /^Message-ID: /d' >"$TMPD/big.got"
sed 's/$/\r/' "$TMPD/big" >"$TMPD/big.want"
cmp -s "$TMPD/big.got" "$TMPD/big.want"
ok $? "a 5.6 MB LF message from a file arrives whole, CRLF"
clear
id=$(cat "$TMPD/big" | queue-inject -t acme -f s@example.com r@example.org)
spool "$SPOOL/new/$id" msg | sed '/^Date: /d; /^Message-ID: /d' >"$TMPD/big.got"
cmp -s "$TMPD/big.got" "$TMPD/big.want"
ok $? "the same through a pipe"

# --- refusals: 100, nothing left --------------------------------------------
clear
echo x | queue-inject -t acme -f 'bad address' r@example.org >/dev/null 2>&1
is "$?" 100 "bad sender address: 100"
echo x | queue-inject -t acme -f s@example.com 'r@exa..mple.org' >/dev/null 2>&1
is "$?" 100 "bad recipient address: 100"
echo x | queue-inject -f s@example.com r@example.org >/dev/null 2>&1
is "$?" 100 "no tenant: 100"
echo x | queue-inject -t acme r@example.org >/dev/null 2>&1
is "$?" 100 "no sender: 100"
echo x | queue-inject -t 'Bad Tenant' -f s@example.com r@example.org >/dev/null 2>&1
is "$?" 100 "bad tenant name: 100"
echo x | queue-inject -t acme -i not-an-ip -f s@example.com r@example.org >/dev/null 2>&1
is "$?" 100 "bad client IP: 100"
head -c 2000 /dev/zero | tr '\0' x | CMC_MSG_MAX=1000 queue-inject -t acme -f s@example.com r@example.org >/dev/null 2>&1
is "$?" 100 "message over CMC_MSG_MAX: 100"
empty
ok $? "after the refusals new/ and tmp/ are empty"

# --- qmail style -----------------------------------------------------------
printf 'Tacme\0Cdefault\0I127.0.0.1\0Hclient.test\0Fs@example.com\0Rr@example.org\0Rr2@example.org\0\0' >"$TMPD/env.ok"
res=$(printf 'Subject: q\n\nbody\n' | qi pipe "$TMPD/env.ok")
is "$res" "rc=0 reply=" "qmail style, fd 1 a pipe: exit 0, nothing written back"
f=$(ls "$SPOOL/new")
like "$(spool "$SPOOL/new/$f" env)" "Tacme
Cdefault
I127.0.0.1
Hclient.test
S*
Q$f
Fs@example.com
Rr@example.org
Rr2@example.org" "qmail style: the envelope is stored with S and Q added"
clear
res=$(printf 'Subject: q\r\n\r\nbody\r\n' | qi socket "$TMPD/env.ok")
id=$(ls "$SPOOL/new")
is "$res" "rc=0 reply=$id" "qmail style, fd 1 a socket: the id comes back after the commit"
printf 'Tacme\0Cdefault\0S1700000000\0Fs@example.com\0Rr@example.org\0\0' >"$TMPD/env.s"
clear
res=$(echo x | qi pipe "$TMPD/env.s")
like "$(spool "$SPOOL/new/$(ls "$SPOOL/new")" env)" "*S1700000000*" "an S field given on input is kept"

clear
printf 'Tacme\0Cdefault\0Fs@example.com\0Rr@example.org\0' >"$TMPD/env.trunc"
res=$(echo x | qi pipe "$TMPD/env.trunc" 2>/dev/null)
is "$res" "rc=111 reply=" "an envelope without its end (caller gave up): 111"
: >"$TMPD/env.none"
res=$(echo x | qi socket "$TMPD/env.none" 2>/dev/null)
is "$res" "rc=111 reply=" "no envelope at all: 111"
printf 'Tacme\0Cdefault\0Fs@example.com\0\0' >"$TMPD/env.norcpt"
res=$(echo x | qi pipe "$TMPD/env.norcpt" 2>/dev/null)
is "$res" "rc=100 reply=" "an envelope without recipients: 100"
printf 'Tacme\0Cdefault\0Fs@example.com\0Rbad address\0\0' >"$TMPD/env.badaddr"
res=$(echo x | qi pipe "$TMPD/env.badaddr" 2>/dev/null)
is "$res" "rc=100 reply=" "an envelope with a bad address: 100"
printf 'Tacme\0Cdefault\0Q0123\0Fs@example.com\0Rr@example.org\0\0' >"$TMPD/env.q"
res=$(echo x | qi pipe "$TMPD/env.q" 2>/dev/null)
is "$res" "rc=100 reply=" "an envelope with a Q field: 100"
printf 'Tacme\0Cdefault\0Fs@example.com\0Rr@example.org\0\0junk' >"$TMPD/env.junk"
res=$(echo x | qi pipe "$TMPD/env.junk" 2>/dev/null)
is "$res" "rc=100 reply=" "bytes after the envelope's end: 100"
printf 'Tacme\0Cdefault\0Fs@example.com\0Rr@example.org\0Rr@example.org\0Xwhat\0\0' >"$TMPD/env.tag"
res=$(echo x | qi pipe "$TMPD/env.tag" 2>/dev/null)
is "$res" "rc=100 reply=" "an unknown tag: 100"
printf 'Tacme\0Cdefault\0Fs@example.com\0Rr@exam\nple.org\0\0' >"$TMPD/env.nl"
res=$(echo x | qi pipe "$TMPD/env.nl" 2>/dev/null)
is "$res" "rc=100 reply=" "a newline inside a value: 100"
empty
ok $? "after the bad envelopes new/ and tmp/ are empty"

# --- temporary failures: 111, nothing left ----------------------------------
echo x | CMC_HOME=$TMPD/nonexistent queue-inject -t acme -f s@example.com r@example.org >/dev/null 2>&1
is "$?" 111 "no spool: 111"
mv "$SPOOL/tmp" "$SPOOL/tmp.d" && : >"$SPOOL/tmp"
echo x | queue-inject -t acme -f s@example.com r@example.org >/dev/null 2>&1
is "$?" 111 "tmp/ unusable: 111"
rm "$SPOOL/tmp" && mv "$SPOOL/tmp.d" "$SPOOL/tmp"
mv "$SPOOL/new" "$SPOOL/new.d" && : >"$SPOOL/new"
echo x | queue-inject -t acme -f s@example.com r@example.org >/dev/null 2>"$TMPD/err"
is "$?" 111 "new/ unusable (the link fails): 111"
is "$(ls "$SPOOL/tmp" | wc -l)" 0 "... and the tmp/ file is removed"
rm "$SPOOL/new" && mv "$SPOOL/new.d" "$SPOOL/new"
echo x | CMC_MSG_MAX=nonsense queue-inject -t acme -f s@example.com r@example.org >/dev/null 2>&1
is "$?" 111 "a bad CMC_MSG_MAX is a configuration error: 111"
echo x | CMC_HOSTNAME='bad host' queue-inject -t acme -f s@example.com r@example.org >/dev/null 2>&1
is "$?" 111 "a bad host name for Message-ID: 111"
empty
ok $? "after the temporary failures new/ and tmp/ are empty"

# --- the trigger --------------------------------------------------------------
$PY - "$SPOOL/trigger" "$TMPD/fifo" <<'PYEOF' &
import os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
open(sys.argv[2] + ".ready", "w").close()
r, _, _ = select.select([fd], [], [], 15)
with open(sys.argv[2], "w") as f: f.write(str(len(os.read(fd, 100))) if r else "none")
PYEOF
READER=$!
wait_for 10 test -f "$TMPD/fifo.ready"
echo x | queue-inject -t acme -f s@example.com r@example.org >/dev/null
wait "$READER"
is "$(cat "$TMPD/fifo")" 1 "the trigger FIFO gets one byte per commit"
rm "$SPOOL/trigger"
echo x | queue-inject -t acme -f s@example.com r@example.org >/dev/null 2>&1
is "$?" 0 "a missing FIFO does not undo the commit: still 0"
exit $failed
