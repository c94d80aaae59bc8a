#!/bin/sh
# smtp-recv: relay by client IP per tenant and composition; anyone else
# gets MAIL accepted but every RCPT refused 554 5.7.1 and nothing queued;
# the access snapshot is read per connection, so a change made with cmcctl
# counts from the next connection.  Also the Received header styles
# (CMC_RECEIVED abbreviated / normal / none).
. "${0%/*}/lib.sh"
mkhome
{ cmcctl tenant add t1 && cmcctl net add t1 127.0.0.2 \
  && cmcctl tenant add t3 && cmcctl net add t3 -c sales 127.0.0.3/32; } >/dev/null \
  || { echo "Bail out! cmcctl failed"; exit 1; }
PORT=$(free_port); PORT_N=$(free_port); PORT_0=$(free_port)
CMC_HOSTNAME=mx.test; export CMC_HOSTNAME
bg tcpserver -q -R -H -c 200 127.0.0.1 "$PORT" "$BIN/smtp-recv" 2>"$TMPD/smtpd.log"
bg env CMC_RECEIVED=normal tcpserver -q -R -H -c 200 127.0.0.1 "$PORT_N" "$BIN/smtp-recv" 2>>"$TMPD/smtpd.log"
bg env CMC_RECEIVED=none tcpserver -q -R -H -c 200 127.0.0.1 "$PORT_0" "$BIN/smtp-recv" 2>>"$TMPD/smtpd.log"
wait_port "$PORT" && wait_port "$PORT_N" && wait_port "$PORT_0" \
  || { echo "Bail out! smtp-recv did not start"; exit 1; }

$PY - "$PORT" "$PORT_N" "$PORT_0" "$CMC_HOME" <<'PYEOF'
import os, re, smtplib, subprocess, sys
port, port_n, port_0, home = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
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
body = b"Date: Mon, 1 Dec 2025 10:00:00 +0000\r\nMessage-ID: <r@client.test>\r\nSubject: r\r\n\r\nhi\r\n"

def session(src, p=None, helo="client.test", esmtp=True):
    s = smtplib.SMTP("127.0.0.1", p or port, timeout=10, source_address=(src, 0))
    if esmtp: s.ehlo(helo)
    else: s.helo(helo)
    return s

# not in any tenant's ranges
s = session("127.0.0.1")
is_(s.mail("a@b.test")[0], 250, "MAIL from an unknown IP is accepted")
c, m = s.rcpt("c@d.test")
is_((c, m), (554, b"5.7.1 <c@d.test>: Relay access denied"), "RCPT from an unknown IP: 554 5.7.1 Relay access denied")
c, m = s.docmd("DATA")
is_(c, 554, "DATA without a valid recipient 554")
s.quit()
ok(os.listdir(new) == [], "nothing queued")
p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--from", "a@b.test",
                    "--to", "u@d.test"], capture_output=True, text=True)
ok(p.returncode != 0 and "554 5.7.1 <u@d.test>: Relay access denied" in p.stdout, "swaks refused too")

# in t1's range, and in t3's composition "sales"
s = session("127.0.0.2")
is_(s.sendmail("a@b.test", ["c@d.test"], body), {}, "relay allowed for 127.0.0.2 (tenant t1)")
s.quit()
ids = os.listdir(new)
env, msg = spool(ids[0])
ok("Tt1" in env and "Cdefault" in env and "I127.0.0.2" in env, "envelope: tenant t1, composition default, client IP")
s = session("127.0.0.3")
s.mail("a@b.test"); s.rcpt("c@d.test")
c, m = s.data(body)
is_(c, 250, "relay allowed for 127.0.0.3 (tenant t3)")
env, msg = spool(m.split()[-1].decode())
ok("Tt3" in env and "Csales" in env, "envelope: tenant t3, composition sales")
s.quit()

# a change of the snapshot counts from the next connection
os.system("cmcctl net add t1 127.0.0.1/32 >/dev/null")
s = session("127.0.0.1")
is_(s.sendmail("a@b.test", ["c@d.test"], body), {}, "127.0.0.1 allowed after cmcctl net add")
s.quit()

# Received styles
def last(m): return spool(m.split()[-1].decode())[1]
s = session("127.0.0.2", port_n)
s.mail("a@b.test"); s.rcpt("c@d.test"); c, m = s.data(body)
msg = last(m)
ok(re.match(rb"Received: from client\.test \(127\.0\.0\.2 \[127\.0\.0\.2\]\)\r\n\tby mx\.test with ESMTP;\r\n\t"
            rb"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n", msg), "normal Received: " + repr(msg[:90]))
ok(msg.endswith(b"\r\n" + body), "message follows the Received header")
s.quit()
s = session("127.0.0.2", port_n, esmtp=False)
s.mail("a@b.test"); s.rcpt("c@d.test"); c, m = s.data(body)
ok(b"with SMTP;" in last(m).split(b"\r\n\r\n")[0], "HELO session: with SMTP")
s.quit()
s = session("127.0.0.2", port_0)
s.mail("a@b.test"); s.rcpt("c@d.test"); c, m = s.data(body)
is_(last(m), body, "CMC_RECEIVED=none: no Received header")
s.quit()
print("1..%d" % n)
sys.exit(failed)
PYEOF
