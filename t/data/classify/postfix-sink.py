#!/usr/bin/python3
# postfix-sink.py PORT: the scripted SMTP server the postfix-real-*.eml
# fixtures were made against (see README); not used by the tests.
# a scripted SMTP server: replies chosen by the recipient's local part
import socket, sys, threading
port = int(sys.argv[1])
R = {
 "unknown": ("rcpt", "550 5.1.1 <%s>: Recipient address rejected: User unknown in local recipient table"),
 "full":    ("rcpt", "552 5.2.2 <%s>: Mailbox full"),
 "fulltemp":("rcpt", "452 4.2.2 <%s>: Mailbox full, try again later"),
 "spam":    ("data", "550 5.7.1 Message rejected as spam by content filter"),
 "big":     ("data", "552 5.3.4 Message size exceeds fixed maximum message size"),
 "relay":   ("rcpt", "554 5.7.1 <%s>: Relay access denied"),
 "dmarc":   ("data", "550 5.7.26 Unauthenticated email from example.net is not accepted due to domain's DMARC policy"),
 "disabled":("rcpt", "550 5.2.1 <%s>: The email account that you tried to reach is disabled"),
 "filter":  ("data", "550 5.0.0 <%s>... User unknown"),
 "odd":     ("rcpt", "550 5.9.9 frobnication of the widget failed"),
}
def serve(c):
    f = c.makefile("rwb", buffering=0)
    def w(s): f.write((s + "\r\n").encode())
    w("220 mx.example.com ESMTP test")
    rc = []
    while True:
        l = f.readline()
        if not l: break
        cmd = l.decode(errors="replace").strip()
        u = cmd.upper()
        if u.startswith("EHLO") or u.startswith("HELO"): w("250-mx.example.com\r\n250 ENHANCEDSTATUSCODES")
        elif u.startswith("MAIL"): rc = []; w("250 2.1.0 Ok")
        elif u.startswith("RCPT"):
            a = cmd[cmd.index("<")+1:cmd.index(">")]
            k = a.split("@")[0]
            st, rep = R.get(k, ("", ""))
            if st == "rcpt": w(rep % a if "%s" in rep else rep)
            else: rc.append(a); w("250 2.1.5 Ok")
        elif u == "DATA":
            if not rc: w("554 5.5.1 Error: no valid recipients"); continue
            w("354 go")
            while True:
                d = f.readline()
                if not d or d in (b".\r\n", b".\n"): break
            k = rc[0].split("@")[0]
            st, rep = R.get(k, ("", ""))
            if st == "data": w(rep % rc[0] if "%s" in rep else rep)
            else: w("250 2.0.0 Ok: queued")
        elif u == "QUIT": w("221 2.0.0 Bye"); break
        elif u == "RSET": rc = []; w("250 2.0.0 Ok")
        else: w("502 5.5.2 Error: command not recognized")
    c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(5)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
