#!/bin/sh
# smtp-recv: STARTTLS (state reset, commands pipelined behind it in clear
# thrown away, broken handshakes), AUTH PLAIN and LOGIN only under TLS,
# relay by SMTP AUTH user (tenant and composition of the user, U in the
# envelope), every AUTH error reply, no password in the log, and no
# STARTTLS without a certificate.
. "${0%/*}/lib.sh"
mkhome
{ cmcctl tenant add t2 && echo 's3cret-pw' | cmcctl user add t2 -c c2 u1; } >/dev/null \
  || { echo "Bail out! cmcctl failed"; exit 1; }
PORT=$(free_port); PORT_NOTLS=$(free_port)
mkdir -p "$TMPD/notls"
CMC_HOSTNAME=mx.test; export CMC_HOSTNAME
bg tcpserver -q -R -H -c 200 127.0.0.1 "$PORT" "$BIN/smtp-recv" 2>"$TMPD/smtpd.log"
bg env CMC_HOME="$TMPD/notls" tcpserver -q -R -H -c 200 127.0.0.1 "$PORT_NOTLS" "$BIN/smtp-recv" 2>>"$TMPD/smtpd.log"
wait_port "$PORT" && wait_port "$PORT_NOTLS" || { echo "Bail out! smtp-recv did not start"; exit 1; }

$PY - "$PORT" "$PORT_NOTLS" "$CMC_HOME" "$TMPD/smtpd.log" <<'PYEOF'
import base64, os, smtplib, socket, ssl, subprocess, sys
port, port_notls, home, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
n = failed = 0
def ok(c, name):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if c else "not ok", n, name)); sys.stdout.flush()
    if not c: failed = 1
    return c
def is_(got, want, name):
    if not ok(got == want, name): print("#   got %r\n#   want %r" % (got, want))
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
new = os.path.join(home, "spool", "new")
def spool(id):
    data = open(os.path.join(new, id), "rb").read()
    i = data.index(b"\0\0")
    return [f.decode() for f in data[:i].split(b"\0")], data[i + 2:]
def b64(s): return base64.b64encode(s).decode()
body = b"Date: Mon, 1 Dec 2025 10:00:00 +0000\r\nMessage-ID: <a@client.test>\r\nSubject: a\r\n\r\nhi\r\n"

class Raw:
    def __init__(self, p=None):
        self.s = socket.create_connection(("127.0.0.1", p or port), 10)
        self.f = self.s.makefile("rb")
    def tls(self):
        self.s = ctx.wrap_socket(self.s)
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

# before TLS: no AUTH
s = smtplib.SMTP("127.0.0.1", port, timeout=10)
s.ehlo("client.test")
ok(s.has_extn("starttls") and not s.has_extn("auth"), "before TLS: STARTTLS offered, AUTH not")
c, m = s.docmd("AUTH", "PLAIN " + b64(b"\0u1\0s3cret-pw"))
is_((c, m[:6]), (538, b"5.7.11"), "AUTH before TLS: 538 5.7.11")
is_(s.starttls(context=ctx)[0], 220, "STARTTLS 220")
c, m = s.docmd("MAIL", "FROM:<a@b.test>")
is_(c, 503, "after TLS the HELO is forgotten (MAIL 503)")
s.ehlo("client.test")
ok(s.has_extn("auth") and "PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"]
   and not s.has_extn("starttls"), "after TLS: AUTH PLAIN LOGIN offered, STARTTLS not")
is_(s.docmd("STARTTLS")[0], 503, "STARTTLS twice 503")
s.mail("a@b.test")
c, m = s.rcpt("c@d.test")
is_(c, 554, "under TLS but not authenticated: relay denied")
s.rset()
is_(s.docmd("AUTH", "PLAIN " + b64(b"\0u1\0wrong"))[:1], (535,), "wrong password 535")
is_(s.docmd("AUTH", "PLAIN " + b64(b"\0nobody\0s3cret-pw"))[0], 535, "unknown user 535")
is_(s.docmd("AUTH", "PLAIN " + b64(b"u2\0u1\0s3cret-pw"))[0], 535, "authzid of another user 535")
is_(s.docmd("AUTH", "CRAM-MD5")[0], 504, "unknown mechanism 504")
is_(s.docmd("AUTH", "PLAIN !!!!")[0], 501, "undecodable response 501")
is_(s.docmd("AUTH", "PLAIN")[0], 334, "AUTH PLAIN without initial response: 334")
c, m = s.docmd("*")
is_((c, m[:5]), (501, b"5.7.0"), "client cancels with *: 501 5.7.0")
c, m = s.docmd("AUTH", "PLAIN " + b64(b"\0u1\0s3cret-pw"))
is_((c, m), (235, b"2.7.0 Authentication successful"), "AUTH PLAIN with initial response 235")
is_(s.docmd("AUTH", "PLAIN " + b64(b"\0u1\0s3cret-pw"))[0], 503, "AUTH twice 503")
s.mail("a@b.test")
c, m = s.rcpt("c@d.test")
is_(c, 250, "authenticated: relay allowed from an IP of no tenant")
c, m = s.data(body)
is_(c, 250, "message accepted")
env, msg = spool(m.split()[-1].decode())
ok("Tt2" in env and "Cc2" in env and "Uu1" in env and "I127.0.0.1" in env,
   "envelope: the user's tenant and composition, U u1")
s.quit()

# AUTH LOGIN, by smtplib and with an initial response
s = smtplib.SMTP("127.0.0.1", port, timeout=10)
s.starttls(context=ctx); s.ehlo("client.test")
s.user, s.password = "u1", "s3cret-pw"
is_(s.auth("LOGIN", s.auth_login, initial_response_ok=False)[0], 235, "AUTH LOGIN 235")
s.quit()
r = Raw(); r.reply(); r.cmd(b"EHLO client.test"); r.cmd(b"STARTTLS"); r.tls(); r.cmd(b"EHLO client.test")
c, t = r.cmd(b"AUTH LOGIN " + b64(b"u1").encode())
ok(c == 334 and "UGFzc3dvcmQ6" in t, "AUTH LOGIN with the user as initial response: password prompt")
is_(r.status(b64(b"bad").encode()), "535 5.7.8", "AUTH LOGIN wrong password 535 5.7.8")
r.cmd(b"QUIT")

# commands pipelined behind STARTTLS in clear are thrown away
r = Raw(); r.reply(); r.cmd(b"EHLO client.test")
r.s.sendall(b"STARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<evil@y.test>\r\n")
c, t = r.reply()
is_(c, 220, "STARTTLS 220 with commands behind it")
r.tls()
c, t = r.cmd(b"EHLO client.test")
ok(c == 250 and "AUTH PLAIN LOGIN" in t, "the first reply under TLS is EHLO's")
is_(r.status(b"RCPT TO:<c@d.test>"), "503 5.5.1", "the injected MAIL was not executed")
r.cmd(b"QUIT")

# a broken handshake ends that session only
r = Raw(); r.reply(); r.cmd(b"EHLO client.test"); r.cmd(b"STARTTLS")
r.s.sendall(b"this is not a TLS ClientHello\r\n" * 4)
try: gone = r.f.readline() == b""
except OSError: gone = True
ok(gone, "garbage instead of a handshake: connection closed")
s = smtplib.SMTP("127.0.0.1", port, timeout=10)
is_(s.noop()[0], 250, "the server still serves")
s.quit()

# swaks with TLS and AUTH, and AUTH without TLS
p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--from", "a@b.test", "--to", "u@d.test",
                    "-tls", "-a", "PLAIN", "-au", "u1", "-ap", "s3cret-pw"], capture_output=True, text=True)
ok(p.returncode == 0 and "235 2.7.0" in p.stdout and "250 2.0.0 Ok: queued as" in p.stdout,
   "swaks: STARTTLS, AUTH PLAIN, message queued")
p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--from", "a@b.test", "--to", "u@d.test",
                    "-a", "PLAIN", "-au", "u1", "-ap", "s3cret-pw"], capture_output=True, text=True)
ok(p.returncode != 0 and "235" not in p.stdout, "swaks: AUTH without TLS fails")

# no certificate: no STARTTLS
s = smtplib.SMTP("127.0.0.1", port_notls, timeout=10)
s.ehlo("client.test")
ok(not s.has_extn("starttls"), "without a certificate STARTTLS is not offered")
c, m = s.docmd("STARTTLS")
is_((c, m[:5]), (454, b"4.7.0"), "... and refused 454 4.7.0")
s.quit()

logtext = open(log).read()
ok("s3cret" not in logtext and b64(b"\0u1\0s3cret-pw") not in logtext, "no password in the log")
ok("auth user=u1 tenant=t2 comp=c2" in logtext, "log: auth event")
ok("tls version=TLSv1." in logtext and "dropped=" in logtext, "log: tls event")
print("1..%d" % n)
sys.exit(failed)
PYEOF
