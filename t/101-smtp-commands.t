#!/bin/sh
# smtp-recv: every command and its replies (EHLO/HELO, MAIL, RCPT, DATA,
# RSET, NOOP, QUIT, VRFY, EXPN, HELP, unknown, HTTP), sequence and syntax
# errors, ESMTP parameters (SIZE, BODY=8BITMIME, SMTPUTF8), the envelope
# and Received header in the spool file (which exists when 250 arrives),
# and the error limit.  Clients: raw sockets, smtplib and swaks.
. "${0%/*}/lib.sh"
mkhome
cmcctl tenant add t1 >/dev/null && cmcctl net add t1 127.0.0.1 >/dev/null \
  || { echo "Bail out! cmcctl failed"; exit 1; }
PORT=$(free_port)
CMC_HOSTNAME=mx.test; export CMC_HOSTNAME
bg tcpserver -q -R -H -c 200 127.0.0.1 "$PORT" "$BIN/smtp-recv" 2>"$TMPD/smtpd.log"
wait_port "$PORT" || { echo "Bail out! smtp-recv did not start"; exit 1; }

$PY - "$PORT" "$CMC_HOME" "$TMPD/smtpd.log" <<'PYEOF'
import os, socket, smtplib, subprocess, sys
port, home, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
n = failed = 0
def ok(c, name):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if c else "not ok", n, name)); sys.stdout.flush()
    if not c: failed = 1
    return c
def is_(got, want, name):
    if not ok(got == want, name): print("#   got %r\n#   want %r" % (got, want))

class Raw:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", port), 10)
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
    def code(self, b): return self.cmd(b)[0]
    def status(self, b):
        c, t = self.cmd(b)
        return " ".join(t.split("\r\n")[0].split()[:2])

new = os.path.join(home, "spool", "new")
def spool(id):
    data = open(os.path.join(new, id), "rb").read()
    i = data.index(b"\0\0")
    return [f.decode() for f in data[:i].split(b"\0")], data[i + 2:]

# greeting, EHLO, HELO
r = Raw()
c, t = r.reply()
ok(c == 220 and t.startswith("220 mx.test ESMTP"), "greeting 220 with our name")
c, t = r.cmd(b"EHLO client.test")
caps = [l[4:] for l in t.split("\r\n") if l]
is_(c, 250, "EHLO 250")
is_(caps, ["mx.test", "PIPELINING", "SIZE 26214400", "8BITMIME", "SMTPUTF8", "STARTTLS",
           "ENHANCEDSTATUSCODES"], "EHLO extensions (no AUTH before TLS)")
is_(r.cmd(b"HELO client.test"), (250, "250 mx.test\r\n"), "HELO 250")
is_(r.status(b"EHLO"), "501 5.5.4", "EHLO without a name 501")
is_(r.status(b"EHLO a b"), "501 5.5.4", "EHLO with a space in the name 501")
is_(r.status(b"NOOP"), "250 2.0.0", "NOOP 250")
is_(r.status(b"NOOP anything"), "250 2.0.0", "NOOP with argument 250")
is_(r.status(b"HELP"), "214 2.0.0", "HELP 214")
c, t = r.cmd(b"VRFY postmaster")
ok(c == 252 and "2.5.2" in t, "VRFY answers 252 without revealing anything")
is_(r.status(b"VRFY"), "501 5.5.4", "VRFY without argument 501")
is_(r.status(b"EXPN list"), "502 5.5.1", "EXPN 502")
is_(r.status(b"RSET"), "250 2.0.0", "RSET 250")
is_(r.status(b"RSET x"), "501 5.5.4", "RSET with argument 501")
is_(r.status(b"FOO bar"), "500 5.5.2", "unknown command 500")
is_(r.status(b"BDAT 10 LAST"), "500 5.5.2", "BDAT (not offered) 500")
is_(r.status(b"NOOP\0x"), "500 5.5.2", "NUL in a command 500")
r.s.sendall(b"NOOP\n")
is_(r.reply()[0], 250, "command ended by bare LF accepted")
is_(r.cmd(b"QUIT"), (221, "221 2.0.0 Bye\r\n"), "QUIT 221")
is_(r.reply()[0], None, "connection closed after QUIT")

# sequence errors
r = Raw(); r.reply()
is_(r.status(b"MAIL FROM:<a@b.test>"), "503 5.5.1", "MAIL before HELO 503")
r.cmd(b"EHLO client.test")
is_(r.status(b"RCPT TO:<c@d.test>"), "503 5.5.1", "RCPT before MAIL 503")
is_(r.status(b"DATA"), "503 5.5.1", "DATA before MAIL 503")
is_(r.status(b"MAIL FROM:<a@b.test>"), "250 2.1.0", "MAIL 250")
is_(r.status(b"MAIL FROM:<a@b.test>"), "503 5.5.1", "nested MAIL 503")
is_(r.status(b"DATA"), "503 5.5.1", "DATA before RCPT 503")
is_(r.status(b"RSET"), "250 2.0.0", "RSET")
is_(r.status(b"RCPT TO:<c@d.test>"), "503 5.5.1", "RSET forgot the MAIL")
r.cmd(b"MAIL FROM:<a@b.test>")
is_(r.status(b"RCPT TO:<c@d..test>"), "553 5.1.3", "bad recipient 553 5.1.3")
is_(r.status(b"DATA"), "554 5.5.1", "DATA when every RCPT failed 554 5.5.1")
r.cmd(b"RSET")

# syntax and parameters
is_(r.status(b"MAIL FROM:"), "501 5.5.4", "MAIL without address 501")
is_(r.status(b"MAIL TO:<a@b.test>"), "501 5.5.4", "MAIL TO: 501")
is_(r.status(b"MAIL FROM:<a@b..test>"), "553 5.1.7", "bad sender 553 5.1.7")
is_(r.status(b"MAIL FROM:<a@b.test> RET=FULL"), "555 5.5.4", "unknown MAIL parameter 555")
is_(r.status(b"MAIL FROM:<a@b.test> SIZE=x"), "501 5.5.4", "bad SIZE value 501")
is_(r.status(b"MAIL FROM:<a@b.test> BODY=BINARYMIME"), "501 5.5.4", "BODY=BINARYMIME 501")
is_(r.status("MAIL FROM:<jörg@b.test>".encode()), "553 5.6.7", "UTF-8 sender without SMTPUTF8 553 5.6.7")
is_(r.status(b"MAIL FROM:<> SIZE=100"), "250 2.1.0", "null sender with SIZE 250")
is_(r.status(b"RCPT TO:<c@d.test> NOTIFY=NEVER"), "555 5.5.4", "RCPT parameter 555")
is_(r.status("RCPT TO:<jörg@d.test>".encode()), "553 5.6.7", "UTF-8 recipient without SMTPUTF8 553 5.6.7")
is_(r.status(b"AUTH PLAIN AHUxAHNlY3JldA=="), "538 5.7.11", "AUTH before STARTTLS 538 5.7.11")
r.cmd(b"RSET"); r.cmd(b"HELO client.test")
is_(r.status(b"MAIL FROM:<a@b.test> SIZE=10"), "555 5.5.4", "no parameters after HELO")
is_(r.status(b"AUTH PLAIN AHUxAHNlY3JldA=="), "503 5.5.1", "AUTH after HELO 503")
r.cmd(b"QUIT")

# a message, byte for byte, with the 250 only once the file is in spool/new
body = (b"Date: Mon, 1 Dec 2025 10:00:00 +0000\r\nMessage-ID: <m1@client.test>\r\n"
        b"From: a@b.test\r\nSubject: one\r\n\r\nline 1\r\n..starts with a dot\r\n.\r\nx\r\n")
r = Raw(); r.reply(); r.cmd(b"EHLO client.test")
r.s.sendall(b"MAIL FROM:<a@b.test> BODY=8BITMIME\r\nRCPT TO:<c@d.test>\r\nRCPT TO:<C@D.test>\r\n"
            b"RCPT TO:<e@d.test>\r\nDATA\r\n")
is_([r.reply()[0] for i in range(5)], [250, 250, 250, 250, 354], "pipelined MAIL RCPT RCPT RCPT DATA")
r.s.sendall(body.replace(b"\r\n.", b"\r\n..") + b".\r\n")
c, t = r.reply()
ok(c == 250 and t.startswith("250 2.0.0 Ok: queued as "), "message accepted: " + t.strip())
id = t.split()[-1]
ok(os.path.exists(os.path.join(new, id)), "spool/new/ID exists when the 250 arrives")
env, msg = spool(id)
is_([f for f in env if f[0] not in "SQ"],
    ["Tt1", "Cdefault", "I127.0.0.1", "Hclient.test", "O8bitmime", "Fa@b.test", "Rc@d.test", "Re@d.test"],
    "envelope: tenant, composition, IP, HELO, 8bitmime, sender, recipients once each")
ok(("Q" + id) in env, "envelope holds the id")
first, rest = msg.split(b"\r\n", 1)
ok(first.startswith(b"Received: from client.test by mx.test; "), "abbreviated Received header first")
is_(rest, body, "message byte-exact after the Received header (dots unstuffed)")
r.cmd(b"QUIT")

# SMTPUTF8
r = Raw(); r.reply(); r.cmd(b"EHLO client.test")
is_(r.status("MAIL FROM:<jörg@b.test> SMTPUTF8".encode()), "250 2.1.0", "UTF-8 sender with SMTPUTF8 250")
is_(r.status("RCPT TO:<ñ@d.test>".encode()), "250 2.1.5", "UTF-8 recipient 250")
r.cmd(b"DATA")
c, t = r.cmd("Subject: ü\r\n\r\nx\r\n.".encode())
is_(c, 250, "UTF-8 message accepted")
env, msg = spool(t.split()[-1])
ok("Osmtputf8" in env and "Fjörg@b.test" in env and "Rñ@d.test" in env, "envelope has O smtputf8 and UTF-8 addresses")
r.cmd(b"QUIT")

# HTTP request on the SMTP port, and too many errors
r = Raw(); r.reply()
c, t = r.cmd(b"GET / HTTP/1.0")
is_(c, 421, "HTTP request 421")
is_(r.reply()[0], None, "... and the connection is closed")
r = Raw(); r.reply()
codes = [r.code(b"BOGUS %d" % i) for i in range(20)]
ok(codes[:19] == [500] * 19, "19 bad commands answered 500")
c, t = r.reply()
ok(c == 421 and "4.7.0" in t, "20th error: 421 4.7.0 too many errors")
is_(r.reply()[0], None, "... and the connection is closed")

# smtplib and swaks
s = smtplib.SMTP("127.0.0.1", port, timeout=10)
refused = s.sendmail("app@b.test", ["x1@d.test", "x2@d.test"], b"Subject: smtplib\r\n\r\nhello\r\n")
is_(refused, {}, "smtplib sendmail with two recipients")
s.quit()
p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--from", "app@b.test",
                    "--to", "u@d.test", "--helo", "swaks.test"], capture_output=True, text=True)
ok(p.returncode == 0 and "250 2.0.0 Ok: queued as" in p.stdout, "swaks sends a message")

logtext = open(log).read()
ok("conn ip=127.0.0.1" in logtext, "log: conn event")
ok(("accepted id=%s tenant=t1 comp=default ip=127.0.0.1 user= rcpts=2 size=" % id) in logtext,
   "log: accepted event with id, tenant, rcpts, size")
ok("refused code=503 status=5.5.1 cmd=MAIL" in logtext, "log: refused event")
print("1..%d" % n)
sys.exit(failed)
PYEOF
