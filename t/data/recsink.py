#!/usr/bin/python3
"""recsink: a recording SMTP server for the delivery-settings tests (t/45*).

Usage: recsink.py LOGFILE MSGDIR PORT [DATA_DELAY_MS] [ADDR]

Listens on ADDR (default 127.0.0.1) PORT, speaks enough ESMTP for deliver
(EHLO with PIPELINING and 8BITMIME, MAIL, RCPT, DATA, RSET, NOOP, QUIT),
accepts everything, and writes one line per event to LOGFILE, in the order
the events happen (one lock):
    conn  TIME CID SRCIP          a connection was accepted
    mail  TIME CID SRCIP SENDER   MAIL FROM was received
    msg   TIME CID SRCIP RCPT ID  end of data (ID: the X-Seq or Message-ID field)
    defer TIME CID SRCIP RCPT     a recipient whose address starts with "defer" got 451
    end   TIME CID                QUIT received, or the connection was lost
TIME is time.time() with microseconds.  A connection counts as open from
its "conn" to its "end": the client can only open its next connection
after our reply to QUIT, so the concurrency read from the log is what the
client did.  Messages are kept as MSGDIR/N.eml.  DATA_DELAY_MS delays the
reply to the end of data (a slow receiver, so that connections overlap).
"""
import os, socket, socketserver, sys, threading, time

logf = open(sys.argv[1], "a", buffering=1)
msgdir = sys.argv[2]
port = int(sys.argv[3])
delay = (int(sys.argv[4]) if len(sys.argv) > 4 else 0) / 1000.0
addr = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"
lock = threading.Lock()
counter = [0, 0]                                   # connections, messages


def log(*words):
    with lock:
        logf.write(" ".join(str(w) for w in words) + "\n")


def now():
    return "%.6f" % time.time()


class H(socketserver.StreamRequestHandler):
    def handle(self):
        with lock:
            counter[0] += 1
            cid = counter[0]
        src = self.client_address[0]
        log("conn", now(), cid, src)
        ended = False
        w = self.wfile
        w.write(b"220 recsink ESMTP\r\n")
        rcpts, sender = [], ""
        try:
            while True:
                line = self.rfile.readline(4096)
                if not line:
                    break
                cmd = line.strip().decode("utf-8", "replace")
                up = cmd.upper()
                if up.startswith("EHLO"):
                    w.write(b"250-recsink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                elif up.startswith("HELO"):
                    w.write(b"250 recsink\r\n")
                elif up.startswith("MAIL FROM:"):
                    sender = cmd[10:].split()[0] if cmd[10:].split() else ""
                    rcpts = []
                    log("mail", now(), cid, src, sender)
                    w.write(b"250 2.1.0 ok\r\n")
                elif up.startswith("RCPT TO:"):
                    r = cmd[8:].strip().split()[0].strip("<>")
                    if r.lower().startswith("defer"):
                        log("defer", now(), cid, src, r)
                        w.write(b"451 4.3.0 try again later\r\n")
                    else:
                        rcpts.append(r)
                        w.write(b"250 2.1.5 ok\r\n")
                elif up == "DATA" and not rcpts:
                    w.write(b"554 5.5.1 no valid recipients\r\n")
                elif up == "DATA":
                    w.write(b"354 go ahead\r\n")
                    w.flush()
                    data = []
                    while True:
                        l = self.rfile.readline(1 << 20)
                        if not l or l == b".\r\n":
                            break
                        data.append(l[1:] if l.startswith(b"..") else l)
                    body = b"".join(data)
                    ident = "-"
                    for h in body.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
                        if h.lower().startswith(b"x-seq:"):
                            ident = h[6:].strip().decode()
                            break
                        if h.lower().startswith(b"message-id:") and ident == "-":
                            ident = h[11:].strip().decode()
                    with lock:
                        counter[1] += 1
                        n = counter[1]
                    with open(os.path.join(msgdir, "%d.eml" % n), "wb") as f:
                        f.write(body)
                    if delay:
                        time.sleep(delay)
                    for r in rcpts:
                        log("msg", now(), cid, src, r, ident)
                    w.write(b"250 2.0.0 ok\r\n")
                elif up == "RSET" or up == "NOOP":
                    w.write(b"250 ok\r\n")
                elif up == "QUIT":
                    log("end", now(), cid)
                    ended = True
                    w.write(b"221 bye\r\n")
                    break
                else:
                    w.write(b"502 5.5.2 unknown\r\n")
                w.flush()
        except (ConnectionError, OSError):
            pass
        if not ended:
            log("end", now(), cid)


class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


os.makedirs(msgdir, exist_ok=True)
srv = S((addr, port), H)
log("listen", now(), 0, addr)
srv.serve_forever()
