#!/bin/sh
# queue-inject -d: the server form on $CMC_HOME/run/inject.sock.  The
# protocol (envelope frame, data frames, end; "ID" after the commit, "100
# ..." / "111 ..." otherwise), the same file as the one-message form, group
# commit (clients stopped behind a SIGSTOPped server are committed as one
# group with one sync of new/), every bad frame refused with nothing left
# in tmp/ or new/, a second server refused, SIGTERM, and SIGKILL at random
# moments under load: every message that got an id is whole in new/, no
# partial file ever appears there.
. "${0%/*}/lib.sh"
plan 28
CMC_HOME=$TMPD/home; SPOOL=$CMC_HOME/spool; SOCK=$CMC_HOME/run/inject.sock
CMC_HOSTNAME=inject.test
export CMC_HOME CMC_HOSTNAME
mkdir -p "$SPOOL/tmp" "$SPOOL/new" "$SPOOL/queue" && mkfifo "$SPOOL/trigger" || exit 1
unset CMC_MSG_MAX

start() {
  queue-inject -d 2>>"$TMPD/server.log" &
  SERVER=$!
  echo "$SERVER" >"$TMPD/server.pid"
  BGPIDS="$BGPIDS $SERVER"
  wait_for 10 test -S "$SOCK"
}
start
ok $? "queue-inject -d listens on run/inject.sock"
is "$(stat -c %a "$SOCK")" 660 "the socket has mode 660"
queue-inject -d 2>"$TMPD/second.log"
is "$?" 111 "a second server on the same CMC_HOME is refused (111)"
like "$(cat "$TMPD/second.log")" "*another server*" "... and says why"

# The client: frames from the command line; prints each reply line.
cat >"$TMPD/client.py" <<'PYEOF'
import os, socket, sys
def frame(t, b): return t + str(len(b)).encode() + b"\n" + b
def env(extra=b""):
    return b"Tacme\0Cdefault\0I127.0.0.1\0" + extra + b"Fs@example.com\0Rr@example.org\0\0"
def talk(data, n=1):
    s = socket.socket(socket.AF_UNIX); s.settimeout(20)
    s.connect(os.environ["CMC_HOME"] + "/run/inject.sock")
    try: s.sendall(data)
    except OSError: pass
    f = s.makefile("rb"); out = []
    for i in range(n):
        l = f.readline()
        if not l: break
        out.append(l.decode().rstrip("\n"))
    print(" | ".join(out) if out else "(closed)")
msg = b"Subject: one\nX: y\r\n\r\nline1\nline2\rline3\r\n"
case = sys.argv[1]
if case == "one": talk(frame(b"E", env()) + frame(b"D", msg[:10]) + frame(b"D", msg[10:]) + b".\n")
elif case == "two": talk((frame(b"E", env()) + frame(b"D", b"Subject: a\n\nx\n") + b".\n") * 2, 2)
elif case == "badtype": talk(b"X12\n")
elif case == "data-first": talk(frame(b"D", b"abc"))
elif case == "env-empty": talk(b"E0\n")
elif case == "leading-zero": talk(b"E012\n")
elif case == "len-long": talk(b"D12345678901\n")
elif case == "end-early": talk(b".\n")
elif case == "q-field": talk(frame(b"E", env(b"Q0123\0")))
elif case == "bad-env": talk(frame(b"E", b"Tacme\0Cdefault\0Fs@example.com\0\0"))
elif case == "env-junk": talk(frame(b"E", env() + b"junk"))
elif case == "two-env": talk(frame(b"E", env()) + frame(b"E", env()))
elif case == "too-big": talk(frame(b"E", env()) + frame(b"D", b"x" * 2000) + b".\n")
elif case == "gone":
    s = socket.socket(socket.AF_UNIX); s.connect(os.environ["CMC_HOME"] + "/run/inject.sock")
    s.sendall(frame(b"E", env()) + frame(b"D", b"Subject: gone\n\nhalf a mess"))
    s.close(); print("closed")
PYEOF
cl() { $PY "$TMPD/client.py" "$@"; }
spool() { $PY - "$@" <<'PYEOF'
import sys
d = open(sys.argv[1], "rb").read()
i = d.index(b"\0\0")
out = d[:i].replace(b"\0", b"\n") + b"\n" if sys.argv[2] == "env" else d[i + 2:]
sys.stdout.buffer.write(out)
PYEOF
}
empty() { [ -z "$(ls -A "$SPOOL/new")$(ls -A "$SPOOL/tmp")" ]; }
clear() { rm -f "$SPOOL"/new/* "$SPOOL"/tmp/*; }

# --- one message ----------------------------------------------------------
id=$(cl one)
like "$id" "[0-9A-F]*" "one message: the id comes back ($id)"
f=$SPOOL/new/$id
[ -f "$f" ] && [ -z "$(ls "$SPOOL/tmp")" ]
ok $? "the file is in new/ under the id, nothing in tmp/"
like "$(spool "$f" env)" "Tacme
Cdefault
I127.0.0.1
S[0-9]*
Q$id
Fs@example.com
Rr@example.org" "the envelope is stored with S and Q"
spool "$f" msg | sed '/^Date: /d' >"$TMPD/m1"
printf 'Subject: one\r\nX: y\r\nMessage-ID: <%s@inject.test>\r\n\r\nline1\r\nline2\r\nline3\r\n' "$id" >"$TMPD/m1.want"
cmp -s "$TMPD/m1" "$TMPD/m1.want"
ok $? "normalised as queue-inject does: CRLF, Date and Message-ID at the header's end"
two=$(cl two)
like "$two" "[0-9A-F]* | [0-9A-F]*" "two messages on one connection: two ids ($two)"

# --- group commit ----------------------------------------------------------
clear
: >"$TMPD/server.log.mark"
kill -STOP "$SERVER"
TMPD=$TMPD $PY - <<'PYEOF' >"$TMPD/group.out" &
import os, socket, threading
env = b"Tacme\0Cdefault\0Fs@example.com\0Rr@example.org\0\0"
res, sent, lock = [], [0], threading.Lock()
def one(i):
    s = socket.socket(socket.AF_UNIX); s.settimeout(30)
    s.connect(os.environ["CMC_HOME"] + "/run/inject.sock")
    m = b"Subject: g%d\r\n\r\nbody %d\r\n" % (i, i)
    s.sendall(b"E%d\n" % len(env) + env + b"D%d\n" % len(m) + m + b".\n")
    with lock:
        sent[0] += 1
        if sent[0] == 20: open(os.environ["TMPD"] + "/group.sent", "w").close()
    res.append(s.makefile("rb").readline().decode().strip())
ts = [threading.Thread(target=one, args=(i,)) for i in range(20)]
for t in ts: t.start()
for t in ts: t.join()
print(" ".join(sorted(res)))
PYEOF
GROUP=$!
# The 20 clients have connected and sent everything: then let it run.
wait_for 15 test -f "$TMPD/group.sent"
ok $? "20 clients wait behind the stopped server"
kill -CONT "$SERVER"
wait "$GROUP"
ids=$(cat "$TMPD/group.out")
is "$(echo "$ids" | tr ' ' '\n' | grep -c '^[0-9A-F]\{25\}$')" 20 "all 20 clients get an id"
is "$(ls "$SPOOL/new" | sort | tr '\n' ' ' | sed 's/ $//')" "$ids" "exactly their 20 files are in new/"
grep -q 'commit msgs=20$' "$TMPD/server.log"
ok $? "committed as one group: one sync of new/ for the 20"

# --- bad frames -----------------------------------------------------------
clear
is "$(cl badtype)" "111 protocol error: bad frame" "an unknown frame type: 111"
is "$(cl data-first)" "111 protocol error: unexpected frame" "data before the envelope: 111"
is "$(cl env-empty)" "111 protocol error: unexpected frame" "an empty envelope frame: 111"
is "$(cl leading-zero)" "111 protocol error: bad frame" "a length with a leading zero: 111"
is "$(cl len-long)" "111 protocol error: bad frame" "a length of 11 digits: 111"
is "$(cl end-early)" "111 protocol error: unexpected frame" "an end without an envelope: 111"
is "$(cl two-env)" "111 protocol error: unexpected frame" "a second envelope inside a message: 111"
is "$(cl q-field)" "100 malformed envelope: Q field on input" "an envelope with a Q field: 100"
is "$(cl bad-env)" "100 malformed envelope" "an envelope without recipients: 100"
is "$(cl env-junk)" "100 malformed envelope: bytes after its end" "bytes after the envelope's end: 100"
cl gone >/dev/null
wait_for 10 empty
ok $? "a client gone in the middle of a message: nothing left in tmp/ or new/"
kill "$SERVER"; wait "$SERVER" 2>/dev/null
CMC_MSG_MAX=1000; export CMC_MSG_MAX
start
unset CMC_MSG_MAX
is "$(cl too-big)" "100 message too big" "a message over CMC_MSG_MAX: 100"
empty
ok $? "after all the refusals tmp/ and new/ are empty"

# --- SIGKILL under load ------------------------------------------------------
# Clients send numbered messages in a loop; the server is killed with
# SIGKILL at random moments and started again.  A message whose client got
# an id must be in new/, whole; nothing partial may be in new/.
kill "$SERVER"; wait "$SERVER" 2>/dev/null
clear
# restarted after every kill, as s6 would
bg sh -c 'while [ ! -f "$1/stop" ]; do queue-inject -d 2>>"$1/server.log"; done' sh "$TMPD"
LOOP=$!
wait_for 10 test -S "$SOCK"
$PY - "$TMPD" "$LOOP" <<'PYEOF' >"$TMPD/kill.out"
import os, random, signal, socket, sys, threading, time
tmpd, loop = sys.argv[1], int(sys.argv[2]); home = os.environ["CMC_HOME"]; sockp = home + "/run/inject.sock"
env = b"Tacme\0Cdefault\0Fs@example.com\0Rr@example.org\0\0"
got, lock, stop = {}, threading.Lock(), False
def body(tok): return b"Subject: %s\r\n\r\n" % tok + (b"%s line\r\n" % tok) * 300 + b"end %s\r\n" % tok
def client(k):
    i = 0
    while not stop:
        tok = b"k%02dm%05d" % (k, i); i += 1
        try:
            s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sockp)
            b = body(tok)
            s.sendall(b"E%d\n" % len(env) + env)
            for j in range(0, len(b), 1000): s.sendall(b"D%d\n" % len(b[j:j+1000]) + b[j:j+1000])
            s.sendall(b".\n")
            r = s.makefile("rb").readline().decode().strip()
            if len(r) == 25:
                with lock: got[r] = tok
        except OSError:
            time.sleep(0.01)
ts = [threading.Thread(target=client, args=(k,)) for k in range(8)]
for t in ts: t.start()
def server():
    for d in os.listdir("/proc"):
        if not d.isdigit(): continue
        try: st = open("/proc/%s/stat" % d).read()
        except OSError: continue
        if int(st[st.rfind(")") + 2:].split()[1]) == loop: return int(d)
    return None
rnd = random.Random(7); kills = 0
t_end = time.time() + 4
while time.time() < t_end:
    time.sleep(rnd.uniform(0.05, 0.3))
    pid = server()
    if pid:
        try: os.kill(pid, signal.SIGKILL); kills += 1
        except OSError: pass
open(tmpd + "/stop", "w").close()
stop = True
for t in ts: t.join()
missing = broken = 0
for name in os.listdir(home + "/spool/new"):
    d = open(home + "/spool/new/" + name, "rb").read()
    i = d.find(b"Subject: ")
    tok = d[i + 9:i + 18] if i >= 0 else b"?"
    if not (d.endswith(b"end " + tok + b"\r\n") and d.count(tok) == 302 and (b"Q" + name.encode() + b"\0") in d):
        broken += 1
for i, tok in got.items():
    if not os.path.exists(home + "/spool/new/" + i): missing += 1
print("kills=%d acked=%d in_new=%d missing=%d broken=%d" % (kills, len(got), len(os.listdir(home + "/spool/new")), missing, broken))
PYEOF
diag "$(cat "$TMPD/kill.out")"
like "$(cat "$TMPD/kill.out")" "kills=[1-9]* acked=[1-9]* * missing=0 broken=0" "SIGKILL under load: every acknowledged message is whole in new/, nothing partial there"
pkill -KILL -P "$LOOP" 2>/dev/null
wait "$LOOP" 2>/dev/null
rm -f "$SOCK"                         # a killed server leaves its socket behind
start
kill -TERM "$SERVER"
gone() { ! kill -0 "$SERVER" 2>/dev/null; }
wait_for 10 gone && [ ! -e "$SOCK" ]
ok $? "SIGTERM stops the server and removes the socket"
exit $failed
