#!/bin/sh
# smtp-recv: SMTP smuggling.  Only CR LF . CR LF ends a message: a bare LF
# or bare CR around the dot (\n.\n, \r.\r, \n.\r\n, \r\n.\n, ...) never
# ends it, so commands hidden behind such a "dot" stay text of the first
# message and never become a second message.  A control run with a real
# CRLF.CRLF shows that the same bytes would make two.
. "${0%/*}/lib.sh"
mkhome
{ cmcctl tenant add t1 && cmcctl net add t1 127.0.0.1; } >/dev/null || { echo "Bail out! cmcctl failed"; exit 1; }
PORT=$(free_port)
bg tcpserver -q -R -H -c 200 127.0.0.1 "$PORT" "$BIN/smtp-recv" 2>"$TMPD/smtpd.log"
wait_port "$PORT" || { echo "Bail out! smtp-recv did not start"; exit 1; }

$PY - "$PORT" "$CMC_HOME" <<'PYEOF'
import os, socket, sys
port, home = int(sys.argv[1]), sys.argv[2]
n = failed = 0
def ok(c, name):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if c else "not ok", n, name)); sys.stdout.flush()
    if not c: failed = 1
    return c
def is_(got, want, name):
    if not ok(got == want, name): print("#   got %r\n#   want %r" % (got, want))
new = os.path.join(home, "spool", "new")
def spool(id):
    data = open(os.path.join(new, id), "rb").read()
    i = data.index(b"\0\0")
    return [f.decode() for f in data[:i].split(b"\0")], data[i + 2:]

def replies(f):
    out = []
    while True:
        l = f.readline()
        if not l: return out
        if l[3:4] != b"-": out.append(l.decode().strip())

smuggled = (b"MAIL FROM:<smuggled@x.test>\r\nRCPT TO:<victim@d.test>\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nsmuggled body\r\n.\r\n")

def run(sep):
    s = socket.create_connection(("127.0.0.1", port), 10)
    f = s.makefile("rb")
    before = set(os.listdir(new))
    # everything in one go, as an attacker's relay would pass it on
    s.sendall(b"EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
    got = []
    while len(got) < 4:
        l = f.readline()
        if l[3:4] != b"-": got.append(l[:3])
    s.sendall(b"Subject: first\r\n\r\nbefore" + sep + smuggled + b"QUIT\r\n")
    r = replies(f)
    s.close()
    return got, r, sorted(set(os.listdir(new)) - before)

for name, sep in [("LF . LF", b"\n.\n"), ("CR . CR", b"\r.\r"), ("LF . CRLF", b"\n.\r\n"),
                  ("CRLF . LF", b"\r\n.\n"), ("CRLF . CR", b"\r\n.\r"), ("CR . CRLF", b"\r.\r\n"),
                  ("LF . CR", b"\n.\r"), ("CRLF . CR CR LF", b"\r\n.\r\r\n")]:
    got, r, files = run(sep)
    ok(got == [b"220", b"250", b"250", b"250"] and len(r) >= 3 and r[0].startswith("354"), name + ": DATA accepted")
    is_([x[:3] for x in r[1:]], ["250", "221"], name + ": one 250, then QUIT's 221")
    ok(len(files) == 1, name + ": one message in the spool")
    if files:
        env, msg = spool(files[0])
        ok("Fa@b.test" in env and "Fsmuggled@x.test" not in env and b"MAIL FROM:<smuggled@x.test>" in msg,
           name + ": the smuggled commands are text of the first message")

got, r, files = run(b"\r\n.\r\n")
is_([x[:3] for x in r[1:]], ["250", "250", "250", "354", "250", "221"], "control: CRLF . CRLF ends the message")
is_(len(files), 2, "control: the same bytes after a real end make a second message")
print("1..%d" % n)
sys.exit(failed)
PYEOF
