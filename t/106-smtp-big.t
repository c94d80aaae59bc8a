#!/bin/sh
# smtp-recv: a 10 MB message (8-bit text, lines starting with dots) is
# accepted in clear and under TLS and is byte-exact in the spool file
# after the envelope and the Received header; BODY=8BITMIME recorded.
. "${0%/*}/lib.sh"
mkhome
{ cmcctl tenant add t1 && cmcctl net add t1 127.0.0.1; } >/dev/null || { echo "Bail out! cmcctl failed"; exit 1; }
PORT=$(free_port)
CMC_HOSTNAME=mx.test; export CMC_HOSTNAME
bg tcpserver -q -R -H -c 200 127.0.0.1 "$PORT" "$BIN/smtp-recv" 2>"$TMPD/smtpd.log"
wait_port "$PORT" || { echo "Bail out! smtp-recv did not start"; exit 1; }

$PY - "$PORT" "$CMC_HOME" "$TMPD/smtpd.log" <<'PYEOF'
import os, random, smtplib, ssl, sys
port, home, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
n = failed = 0
def ok(c, name):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if c else "not ok", n, name)); sys.stdout.flush()
    if not c: failed = 1
    return c
new = os.path.join(home, "spool", "new")
def spool(id):
    data = open(os.path.join(new, id), "rb").read()
    i = data.index(b"\0\0")
    return [f.decode() for f in data[:i].split(b"\0")], data[i + 2:]

rnd = random.Random(1)
alphabet = bytes(range(0x20, 0x7f)) + bytes(range(0xa0, 0x100))
pool = [bytes(rnd.choice(alphabet) for i in range(rnd.randint(0, 200))) for j in range(500)]
pool += [b"." + l for l in pool[:25]] + [b".", b"..", b""]
lines, size = [], 0
while size < 10 * 1024 * 1024:
    l = rnd.choice(pool)
    lines.append(l)
    size += len(l) + 2
body = (b"Date: Mon, 1 Dec 2025 10:00:00 +0000\r\nMessage-ID: <big@client.test>\r\nSubject: big\r\n\r\n"
        + b"\r\n".join(lines) + b"\r\n.\r\n..\r\nend\r\n")
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE

for tls in (False, True):
    how = "under TLS" if tls else "in clear"
    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    if tls: s.starttls(context=ctx)
    s.ehlo("client.test")
    s.mail("a@b.test", ["SIZE=%d" % len(body), "BODY=8BITMIME"])
    s.rcpt("c@d.test")
    c, m = s.data(body)
    ok(c == 250, "%d-byte message accepted %s" % (len(body), how))
    id = m.split()[-1].decode()
    ok(os.path.exists(os.path.join(new, id)), "in spool/new at the 250 (%s)" % how)
    env, msg = spool(id)
    first, rest = msg.split(b"\r\n", 1)
    ok(first.startswith(b"Received: from client.test by mx.test; "), "Received header first (%s)" % how)
    ok(rest == body, "message byte-exact in the spool file (%s)" % how)
    ok("O8bitmime" in env, "envelope: 8bitmime (%s)" % how)
    s.quit()
ok(("rcpts=1 size=%d" % len(body)) in open(log).read(), "log: size of the message")
print("1..%d" % n)
sys.exit(failed)
PYEOF
