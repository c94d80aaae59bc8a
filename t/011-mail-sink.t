#!/bin/sh
# mail-sink under tcpserver, driven by Python's smtplib, a raw socket and
# swaks: the EHLO keywords, every built-in rule and -r/-g/-s/-U, byte-exact
# storage with dot-stuffing removed (a bare LF never ends the data), the
# env/ file, STARTTLS, input limits, and the log lines.  Four sinks share
# one port on 127.0.0.1 .. 127.0.0.4, as deliver's tests use them.
. "${0%/*}/lib.sh"
plan 61

S1=$TMPD/s1; S2=$TMPD/s2; S3=$TMPD/s3; S4=$TMPD/s4
start_sink "$S1" 127.0.0.1 -c "$T/data/tls/cert.pem" -k "$T/data/tls/key.pem"
start_sink "$S2" 127.0.0.2 -U -s 2000 -r 'vip=250 2.1.5 welcome' \
  -r 'defer=550 5.7.1 custom' -r 'x=data 452 4.2.2 over quota' -r 'gone=drop'
start_sink "$S3" 127.0.0.3 -g '554 5.7.1 go away'
start_sink "$S4" 127.0.0.4 -g '421 4.3.2 busy'

$PY - "$SINK_PORT" "$S1" "$S2" >"$TMPD/res" 2>"$TMPD/py.err" <<'PYEOF'
import os, smtplib, socket, ssl, sys, time
port, s1, s2 = int(sys.argv[1]), sys.argv[2], sys.argv[3]
conns = {"s1": 0, "s2": 0}
msgs = {"s1": 0, "s2": 0}
def put(k, v):
    print("%s=%s" % (k, v)); sys.stdout.flush()

class Raw:
    def __init__(self, ip, who=None):
        self.s = socket.create_connection((ip, port), 10)
        self.f = self.s.makefile("rb")
        if who: conns[who] += 1
    def reply(self, full=False):
        lines = []
        while True:
            l = self.f.readline()
            if not l: return "EOF" if not full else ["EOF"]
            lines.append(l.decode("utf-8").rstrip("\r\n"))
            if l[3:4] != b"-": break
        return lines if full else lines[-1]
    def cmd(self, c, full=False):
        self.s.sendall(c if isinstance(c, bytes) else c.encode() + b"\r\n")
        return self.reply(full)
def code(r): return r[:9]
def stored(d, rep):
    name = rep.split()[-1]
    with open(os.path.join(d, "new", name), "rb") as f: body = f.read()
    with open(os.path.join(d, "env", name), "rb") as f: env = f.read()
    return name, body, env

# --- sink 1: keywords, byte-exact storage, rules -------------------------
r = Raw("127.0.0.1", "s1")
put("greet1", r.reply())
ehlo = r.cmd("EHLO client.test", True)
put("ehlo1", ",".join(l[4:].split()[0] for l in ehlo[1:]))
put("ehlo1_size", [l for l in ehlo if "SIZE" in l][0][4:])
r.cmd("MAIL FROM:<s@example.com>")
r.cmd("RCPT TO:<a@example.org>")
r.cmd("RCPT TO:<b@example.org>")
put("data354", code(r.cmd("DATA")))
sent = (b"Subject: raw\r\n\r\n..leading dot\r\n...two dots\r\n. dot space\r\n"
        b"bare lf\n.\r\nafter bare\r\n\xc3\xa9t\xc3\xa9\r\n.\r\n")
want = (b"Subject: raw\r\n\r\n.leading dot\r\n..two dots\r\n dot space\r\n"
        b"bare lf\n.\r\nafter bare\r\n\xc3\xa9t\xc3\xa9\r\n")
rep = r.cmd(sent)
put("data250", code(rep))
msgs["s1"] += 1
name, body, env = stored(s1, rep)
put("exact", "yes" if body == want else "no: %r" % body)
put("env", env.decode().replace("\n", "|"))
put("name", name)
# pipelining: three commands in one write, three answers in order
r.s.sendall(b"MAIL FROM:<p@example.com>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n")
put("pipe", ",".join(code(r.reply()) for _ in range(3)))
put("pipe_end", code(r.cmd(b"pipelined\r\n.\r\n")))
msgs["s1"] += 1
for lp in ("defer", "defer7", "reject", "unknown", "full", "Reject-Case"):
    r.cmd("RSET"); r.cmd("MAIL FROM:<s@example.com>")
    put("rcpt_" + lp, code(r.cmd("RCPT TO:<%s@example.org>" % lp)))
before = len(os.listdir(os.path.join(s1, "new")))
for lp in ("datadefer", "datareject"):
    r.cmd("MAIL FROM:<s@example.com>")
    put("rcpt_" + lp, code(r.cmd("RCPT TO:<%s@example.org>" % lp)))
    r.cmd("DATA")
    put("data_" + lp, code(r.cmd(b"Subject: x\r\n\r\nbody\r\n.\r\n")))
put("refused_not_stored", len(os.listdir(os.path.join(s1, "new"))) - before)
r.cmd("MAIL FROM:<s@example.com>"); r.cmd("RCPT TO:<slow@example.org>"); r.cmd("DATA")
t0 = time.time()
rep = r.cmd(b"Subject: slow\r\n\r\nbody\r\n.\r\n")
msgs["s1"] += 1
put("slow", "%s %s" % (code(rep), "late" if time.time() - t0 >= 1.9 else "early"))
put("long", code(r.cmd("NOOP " + "x" * 1100)))
put("long_after", code(r.cmd("NOOP")))
put("longest_ok", code(r.cmd("NOOP " + "x" * 993)))
r.cmd("MAIL FROM:<s@example.com>")
put("drop", r.cmd("RCPT TO:<drop@example.org>"))

r = Raw("127.0.0.1", "s1"); r.reply()
put("seq_mail_first", code(r.cmd("MAIL FROM:<s@example.com>")))
put("helo", r.cmd("HELO client.test"))
put("seq_rcpt_first", code(r.cmd("RCPT TO:<a@example.org>")))
put("seq_data_first", code(r.cmd("DATA")))
r.cmd("MAIL FROM:<s@example.com>")
put("data_no_rcpt", code(r.cmd("DATA")))
put("nested_mail", code(r.cmd("MAIL FROM:<s@example.com>")))
put("bad_syntax", code(r.cmd("RCPT TO:a@example.org")))
put("unknown_cmd", code(r.cmd("FOO bar")))
put("noop", code(r.cmd("NOOP")))
put("rset", code(r.cmd("RSET")))
put("quit", code(r.cmd("QUIT")))
put("quit_closes", r.reply())

# smtplib: SMTPUTF8, then STARTTLS
s = smtplib.SMTP("127.0.0.1", port, timeout=10); conns["s1"] += 1
s.ehlo("utf8.test")
s.sendmail("s@example.com", ["j\u00fcrgen@example.org"], b"Subject: u\r\n\r\nu\r\n",
           mail_options=["SMTPUTF8"])
msgs["s1"] += 1
s.quit()
s = smtplib.SMTP("127.0.0.1", port, timeout=10); conns["s1"] += 1
s.ehlo("tls.test")
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
put("starttls", s.starttls(context=ctx)[0])
s.ehlo("tls.test")
put("tls_ehlo_starttls", "yes" if s.has_extn("starttls") else "no")
refused = s.sendmail("tls@example.com", ["t@example.org"], b"Subject: tls\r\n\r\nover tls\r\n")
msgs["s1"] += 1
put("tls_refused", len(refused))
s.quit()

# --- sink 2: -U -s 2000 and -r rules -------------------------------------
r = Raw("127.0.0.2", "s2"); r.reply()
ehlo = r.cmd("EHLO client.test", True)
put("ehlo2", ",".join(l[4:].split()[0] for l in ehlo[1:]))
put("mail_utf8_param", code(r.cmd("MAIL FROM:<s@example.com> SMTPUTF8")))
put("mail_utf8_addr", code(r.cmd("MAIL FROM:<j\u00fcrgen@example.com>")))
put("mail_size", code(r.cmd("MAIL FROM:<s@example.com> SIZE=5000")))
put("mail_size_ok", code(r.cmd("MAIL FROM:<s@example.com> SIZE=100 BODY=8BITMIME")))
put("rcpt_vip", r.cmd("RCPT TO:<vip@example.org>"))
put("rcpt_defer_override", r.cmd("RCPT TO:<defer1@example.org>"))
put("rcpt_reject_builtin", code(r.cmd("RCPT TO:<reject@example.org>")))
put("rcpt_x", code(r.cmd("RCPT TO:<x1@example.org>")))
r.cmd("DATA")
put("data_x", r.cmd(b"Subject: x\r\n\r\nbody\r\n.\r\n"))
r.cmd("MAIL FROM:<s@example.com>"); r.cmd("RCPT TO:<big@example.org>"); r.cmd("DATA")
put("too_big", code(r.cmd(b"Subject: big\r\n\r\n" + b"0123456789abcdef\r\n" * 200 + b".\r\n")))
r.cmd("MAIL FROM:<s@example.com>"); r.cmd("RCPT TO:<long@example.org>"); r.cmd("DATA")
put("long_data_line", code(r.cmd(b"Subject: long\r\n\r\n" + b"y" * 1200 + b"\r\n.\r\n")))
r.cmd("MAIL FROM:<s@example.com>"); r.cmd("RCPT TO:<ok@example.org>"); r.cmd("DATA")
put("fits", code(r.cmd(b"Subject: fits\r\n\r\n" + b"z" * 998 + b"\r\n.\r\n")))
msgs["s2"] += 1
r.cmd("MAIL FROM:<s@example.com>")
put("rcpt_gone", r.cmd("RCPT TO:<gone@example.org>"))

# --- sinks 3 and 4: refusing greetings -----------------------------------
r = Raw("127.0.0.3")
put("greet3", r.reply())
put("ehlo3", code(r.cmd("EHLO client.test")))
put("mail3", code(r.cmd("MAIL FROM:<s@example.com>")))
put("quit3", code(r.cmd("QUIT")))
r = Raw("127.0.0.4")
put("greet4", r.reply())
put("after4", r.reply())

for k in conns: put("conns_" + k, conns[k])
for k in msgs: put("msgs_" + k, msgs[k])
PYEOF
ok $? "the Python client ran to the end"
[ -s "$TMPD/py.err" ] && cat "$TMPD/py.err"
r() { sed -n "s/^$1=//p" "$TMPD/res"; }

is "$(r greet1)" "220 sink.test ESMTP mail-sink" "greeting names the host (-h)"
is "$(r ehlo1)" "PIPELINING,8BITMIME,SMTPUTF8,SIZE,STARTTLS,ENHANCEDSTATUSCODES" "EHLO keywords, STARTTLS with -c/-k"
is "$(r ehlo1_size)" "SIZE 26214400" "default SIZE"
is "$(r data354)" "354 go ah" "DATA: 354"
is "$(r data250)" "250 2.0.0" "end of data: 250 2.0.0"
is "$(r exact)" "yes" "stored byte for byte: dot-stuffing removed, CRLF kept, a bare LF kept and never ending the data"
is "$(r env)" "MAIL FROM:<s@example.com>|RCPT TO:<a@example.org>|RCPT TO:<b@example.org>|helo client.test|tls no|ip 127.0.0.1|" "env/NAME: MAIL FROM, RCPT TO lines, helo, tls, ip"
like "$(r name)" "[0-9]*.M[0-9]*P[0-9]*Q1" "maildir-style name"
is "$(r pipe)" "250 2.1.0,250 2.1.5,354 go ah" "pipelined MAIL RCPT DATA: three answers in order"
is "$(r pipe_end)" "250 2.0.0" "pipelined message accepted"
is "$(r rcpt_defer)" "451 4.2.0" "defer...: 451 4.2.0"
is "$(r rcpt_defer7)" "451 4.2.0" "the rule is a prefix of the local part"
is "$(r rcpt_reject)" "550 5.1.1" "reject...: 550 5.1.1"
is "$(r rcpt_unknown)" "550 5.1.1" "unknown...: 550 5.1.1"
is "$(r rcpt_full)" "552 5.2.2" "full...: 552 5.2.2"
is "$(r rcpt_Reject-Case)" "550 5.1.1" "prefixes ignore case"
is "$(r rcpt_datadefer),$(r data_datadefer)" "250 2.1.5,451 4.3.0" "datadefer: RCPT accepted, 451 4.3.0 after the data"
is "$(r rcpt_datareject),$(r data_datareject)" "250 2.1.5,554 5.6.0" "datareject: RCPT accepted, 554 5.6.0 after the data"
is "$(r refused_not_stored)" 0 "refused data is not stored"
is "$(r slow)" "250 2.0.0 late" "slow: 250, answered after 2 s"
is "$(r long)" "500 5.5.2" "a command line over 1000 bytes: 500 5.5.2"
is "$(r long_after)" "250 2.0.0" "the connection goes on after it"
is "$(r longest_ok)" "250 2.0.0" "a command line of exactly 1000 bytes is fine"
is "$(r drop)" "EOF" "drop: the connection closes without an answer"
is "$(r seq_mail_first)" "503 5.5.1" "MAIL before HELO: 503"
is "$(r helo)" "250 sink.test" "HELO: 250 and the name"
is "$(r seq_rcpt_first)" "503 5.5.1" "RCPT before MAIL: 503"
is "$(r seq_data_first)" "503 5.5.1" "DATA before MAIL: 503"
is "$(r data_no_rcpt)" "554 5.5.1" "DATA without an accepted recipient: 554"
is "$(r nested_mail)" "503 5.5.1" "nested MAIL: 503"
is "$(r bad_syntax)" "501 5.5.4" "RCPT without angle brackets: 501"
is "$(r unknown_cmd)" "500 5.5.1" "unknown command: 500"
is "$(r noop),$(r rset),$(r quit),$(r quit_closes)" "250 2.0.0,250 2.0.0,221 2.0.0,EOF" "NOOP, RSET, QUIT closes"
is "$(r starttls)" 220 "STARTTLS: 220"
is "$(r tls_ehlo_starttls)" no "after STARTTLS it is not offered again"
is "$(r tls_refused)" 0 "a message over TLS is accepted"
grep -l 'MAIL FROM:<tls@example.com>' "$S1"/env/* | xargs grep -q '^tls yes$'
ok $? "its env file says tls yes"
grep -l 'RCPT TO:<jürgen@example.org>' "$S1"/env/* >/dev/null
ok $? "SMTPUTF8: a UTF-8 recipient is accepted and stored"

is "$(r ehlo2)" "PIPELINING,8BITMIME,SIZE,ENHANCEDSTATUSCODES" "-U: no SMTPUTF8; no STARTTLS without -c/-k"
is "$(r mail_utf8_param)" "555 5.5.4" "-U: MAIL ... SMTPUTF8 is 555"
is "$(r mail_utf8_addr)" "553 5.6.7" "a UTF-8 address without SMTPUTF8: 553 5.6.7"
is "$(r mail_size)" "552 5.3.4" "MAIL SIZE= over -s: 552 5.3.4"
is "$(r mail_size_ok)" "250 2.1.0" "MAIL SIZE= within -s, BODY=8BITMIME: 250"
is "$(r rcpt_vip)" "250 2.1.5 welcome" "-r adds a rule with its own text"
is "$(r rcpt_defer_override)" "550 5.7.1 custom" "-r overrides a built-in rule"
is "$(r rcpt_reject_builtin)" "550 5.1.1" "built-in rules still apply"
is "$(r rcpt_x),$(r data_x)" "250 2.1.5,452 4.2.2 over quota" "-r 'PREFIX=data CODE TEXT' answers after the data"
is "$(r too_big)" "552 5.3.4" "a message over -s: 552 5.3.4"
is "$(r long_data_line)" "500 5.5.2" "a message line over 1000 bytes: 500 5.5.2"
is "$(r fits)" "250 2.0.0" "a message line of exactly 1000 bytes is fine"
is "$(r rcpt_gone)" "EOF" "-r 'PREFIX=drop' hangs up"
is "$(r greet3),$(r ehlo3),$(r mail3),$(r quit3)" "554 5.7.1 go away,503 5.5.1,503 5.5.1,221 2.0.0" "-g 554: every command but QUIT gets 503"
is "$(r greet4),$(r after4)" "421 4.3.2 busy,EOF" "-g 421: the sink hangs up after the greeting"

# swaks: an ordinary client, with and without TLS
swaks -s 127.0.0.1 -p "$SINK_PORT" -f app@example.com -t one@example.org,two@example.org \
  --body 'from swaks' >"$TMPD/swaks1" 2>&1
ok $? "swaks delivers"
swaks -s 127.0.0.1 -p "$SINK_PORT" --tls -f app@example.com -t three@example.org \
  --body 'from swaks over tls' >"$TMPD/swaks2" 2>&1
ok $? "swaks delivers over STARTTLS"

# the log: one line per connection, one per message; nothing left in tmp/
c1=$(($(r conns_s1) + 2)); m1=$(($(r msgs_s1) + 2))
is "$(grep -c '^conn ip=127.0.0.1 time=[0-9]*$' "$S1/log")" "$c1" "log: one conn line per connection ($c1)"
is "$(grep -c '^msg name=[^ ]* rcpts=[0-9]*$' "$S1/log"),$(ls "$S1/new" | wc -l)" "$m1,$m1" "log: one msg line per stored message ($m1)"
grep -q "^msg name=$(r name) rcpts=2\$" "$S1/log"
ok $? "the msg line names the file and counts its recipients"
is "$(grep -c '^conn ' "$S2/log"),$(grep -c '^msg ' "$S2/log")" "$(r conns_s2),$(r msgs_s2)" "sink 2 counts its own"
is "$(ls "$S1/tmp" "$S2/tmp" | grep -vc '^\(/.*:\)\?$')" 0 "no leftovers in tmp/"
exit $failed
