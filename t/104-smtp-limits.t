#!/bin/sh
# smtp-recv: every limit with its reply, and the server still serving
# afterwards: SIZE= at MAIL and an oversize body (552 5.3.4, nothing
# queued), recipients per message (452 4.5.3), command line 512 and
# MAIL/RCPT line 1000 (500 5.5.2), text line 1000 (554 5.6.0, nothing
# queued), idle timeout (421 4.4.2, also inside DATA), sessions (421 4.7.0).
. "${0%/*}/lib.sh"
mkhome
{ cmcctl tenant add t1 && cmcctl net add t1 127.0.0.1; } >/dev/null || { echo "Bail out! cmcctl failed"; exit 1; }
PORT=$(free_port); PORT_T=$(free_port); PORT_S=$(free_port)
mkdir -p "$TMPD/sess"
CMC_HOSTNAME=mx.test; export CMC_HOSTNAME
bg env CMC_SMTP_MAXSIZE=100000 CMC_SMTP_MAXRCPT=3 \
  tcpserver -q -R -H -c 200 127.0.0.1 "$PORT" "$BIN/smtp-recv" 2>"$TMPD/smtpd.log"
bg env CMC_SMTP_TIMEOUT=1 tcpserver -q -R -H -c 200 127.0.0.1 "$PORT_T" "$BIN/smtp-recv" 2>>"$TMPD/smtpd.log"
bg env CMC_HOME="$TMPD/sess" CMC_SMTP_MAXSESSIONS=2 \
  tcpserver -q -R -H -c 200 127.0.0.1 "$PORT_S" "$BIN/smtp-recv" 2>>"$TMPD/smtpd.log"
wait_port "$PORT" && wait_port "$PORT_T" && wait_port "$PORT_S" \
  || { echo "Bail out! smtp-recv did not start"; exit 1; }

$PY - "$PORT" "$PORT_T" "$PORT_S" "$CMC_HOME" <<'PYEOF'
import os, socket, sys, time
port, port_t, port_s, home = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
n = failed = 0
def ok(c, name):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if c else "not ok", n, name)); sys.stdout.flush()
    if not c: failed = 1
    return c
def is_(got, want, name):
    if not ok(got == want, name): print("#   got %r\n#   want %r" % (got, want))
new, tmp = os.path.join(home, "spool", "new"), os.path.join(home, "spool", "tmp")
def spooled(): return sorted(os.listdir(new)) + sorted(os.listdir(tmp))
def spool(id):
    data = open(os.path.join(new, id), "rb").read()
    i = data.index(b"\0\0")
    return [f.decode() for f in data[:i].split(b"\0")], data[i + 2:]

class Raw:
    def __init__(self, p=None):
        self.s = socket.create_connection(("127.0.0.1", p or port), 10)
        self.f = self.s.makefile("rb")
    def reply(self):
        lines = []
        while True:
            l = self.f.readline()
            if not l: return (None, b"".join(lines).decode("utf-8", "replace"))
            lines.append(l)
            if l[3:4] != b"-": break
        return (int(lines[-1][:3]), b"".join(lines).decode("utf-8", "replace"))
    def cmd(self, b):
        self.s.sendall(b + b"\r\n")
        return self.reply()
    def status(self, b):
        c, t = self.cmd(b)
        return " ".join(t.split("\r\n")[0].split()[:2])
    def close(self): self.s.close()

def start(p=None):
    r = Raw(p); r.reply(); r.cmd(b"EHLO client.test")
    return r
hdr = b"Date: Mon, 1 Dec 2025 10:00:00 +0000\r\nMessage-ID: <l@client.test>\r\n\r\n"

# message size
r = start()
c, t = r.cmd(b"EHLO client.test")
ok("250-SIZE 100000" in t, "EHLO announces SIZE 100000")
is_(r.status(b"MAIL FROM:<a@b.test> SIZE=100001"), "552 5.3.4", "SIZE= over the limit refused at MAIL")
is_(r.status(b"MAIL FROM:<a@b.test> SIZE=100000"), "250 2.1.0", "SIZE= at the limit accepted")
r.cmd(b"RCPT TO:<c@d.test>"); r.cmd(b"DATA")
before = spooled()
r.s.sendall(hdr + (b"x" * 78 + b"\r\n") * 1300 + b".\r\n")
is_(r.reply()[1][:9], "552 5.3.4", "oversize body 552 5.3.4")
is_(spooled(), before, "nothing queued for the oversize body (new/ and tmp/)")
is_(r.status(b"MAIL FROM:<a@b.test>"), "250 2.1.0", "same session: MAIL again")
r.cmd(b"RCPT TO:<c@d.test>"); r.cmd(b"DATA")
c, t = r.cmd(hdr + b"small\r\n.")
is_(c, 250, "same session: a small message is accepted")

# recipients per message
r.cmd(b"MAIL FROM:<a@b.test>")
codes = [r.cmd(b"RCPT TO:<r%d@d.test>" % i)[0] for i in range(3)]
is_(codes, [250, 250, 250], "3 recipients accepted")
is_(r.status(b"RCPT TO:<r3@d.test>"), "452 4.5.3", "4th recipient 452 4.5.3")
is_(r.status(b"RCPT TO:<r0@d.test>"), "250 2.1.5", "a repeated recipient is not counted twice")
r.cmd(b"DATA")
c, t = r.cmd(hdr + b"three\r\n.")
is_(c, 250, "message to the 3 accepted recipients")
env, msg = spool(t.split()[-1])
is_([f for f in env if f[0] == "R"], ["Rr0@d.test", "Rr1@d.test", "Rr2@d.test"], "envelope has the 3 recipients")

# command line 512, MAIL/RCPT line 1000, any line way over
is_(r.status(b"NOOP " + b"x" * 505), "250 2.0.0", "512-byte command line accepted")
is_(r.status(b"NOOP " + b"x" * 506), "500 5.5.2", "513-byte command line 500 5.5.2")
is_(r.status(b"NOOP"), "250 2.0.0", "same session: NOOP")
is_(r.status(b"NOOP " + b"x" * 50000), "500 5.5.2", "50000-byte line 500 5.5.2")
is_(r.status(b"NOOP"), "250 2.0.0", "same session: NOOP")
r.cmd(b"MAIL FROM:<a@b.test>")
local = b"l" * (1000 - len(b"RCPT TO:<@d.test>\r\n"))
is_(r.status(b"RCPT TO:<" + local + b"@d.test>"), "250 2.1.5", "1000-byte RCPT line accepted")
is_(r.status(b"RCPT TO:<" + local + b"x@d.test>"), "500 5.5.2", "1001-byte RCPT line 500 5.5.2")
r.cmd(b"RSET")

# text line 1000 with CRLF
r.cmd(b"MAIL FROM:<a@b.test>"); r.cmd(b"RCPT TO:<c@d.test>"); r.cmd(b"DATA")
c, t = r.cmd(hdr + b"y" * 998 + b"\r\n.")
is_(c, 250, "998 characters + CRLF accepted")
before = spooled()
r.cmd(b"MAIL FROM:<a@b.test>"); r.cmd(b"RCPT TO:<c@d.test>"); r.cmd(b"DATA")
c, t = r.cmd(hdr + b"y" * 999 + b"\r\nmore\r\n.")
is_(t[:9], "554 5.6.0", "999 characters + CRLF: 554 5.6.0")
is_(spooled(), before, "nothing queued for the long line")
is_(r.status(b"NOOP"), "250 2.0.0", "same session still serving")
r.cmd(b"QUIT")

# idle timeout (1 s here)
r = Raw(port_t); r.reply()
t0 = time.time()
c, t = r.reply()
ok(c == 421 and "4.4.2" in t, "silent client: 421 4.4.2 timeout")
ok(time.time() - t0 < 10, "after about the timeout")
is_(r.reply()[0], None, "connection closed")
before = spooled()
r = start(port_t)
r.cmd(b"MAIL FROM:<a@b.test>"); r.cmd(b"RCPT TO:<c@d.test>"); r.cmd(b"DATA")
r.s.sendall(hdr + b"half a message\r\n")
c, t = r.reply()
ok(c == 421 and "4.4.2" in t, "silent inside DATA: 421 4.4.2")
is_(spooled(), before, "nothing queued for the unfinished message")
r = start(port_t)
is_(r.status(b"NOOP"), "250 2.0.0", "a new session is served")
r.cmd(b"QUIT")

# sessions (2 here)
a, b = Raw(port_s), Raw(port_s)
is_((a.reply()[0], b.reply()[0]), (220, 220), "two sessions greeted")
c3 = Raw(port_s)
c, t = c3.reply()
is_(t, "421 4.7.0 Too many sessions, try later\r\n", "third session: 421 4.7.0 Too many sessions")
is_(c3.reply()[0], None, "... and closed")
a.cmd(b"QUIT"); a.reply()
def greeted():
    r = Raw(port_s)
    c, t = r.reply()
    if c == 220: return r
    r.close()
deadline, r = time.time() + 10, None
while not r and time.time() < deadline:
    r = greeted()
    if not r: time.sleep(0.05)
ok(r is not None, "after one session ended, a new one is greeted")
print("1..%d" % n)
sys.exit(failed)
PYEOF
