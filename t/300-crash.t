#!/bin/sh
# Crash safety: mail flows from several SMTP clients through smtp-recv,
# queue-inject and deliver to a sink while a killer sends SIGKILL to a
# random one of them at random moments.  Afterwards every message that got
# a 250 must have been delivered (duplicates are allowed, counted and
# reported), nothing may be delivered that was never sent, and every
# delivered copy must be whole.  Two variants, each on a fresh CMC_HOME:
#   tcpserver  tcpserver runs smtp-recv per connection, which runs
#              queue-inject per message
#   listener   smtp-recv -l (its children and the listener itself killed
#              too) handing messages to queue-inject -d (killed too), each
#              restarted as s6 would
. "${0%/*}/lib.sh"
plan 10
N=${CRASH_N:-300}

variant() {
mode=$1
D=$TMPD/$mode; mkdir -p "$D"
CMC_HOME=$D/home
export CMC_HOME
"$BIN/cmcctl" init >"$D/init.log" 2>&1 || { cat "$D/init.log"; echo "Bail out! cmcctl init failed"; exit 1; }
SINK=$D/sink; mkdir -p "$SINK"
SINK_PORT=$(free_port); SMTP_PORT=$(free_port)
cmcctl tenant add crash >/dev/null
cmcctl net add crash 127.0.0.1 >/dev/null
cmcctl route add crash '*' "127.0.0.1:$SINK_PORT" >/dev/null
bg tcpserver -q -R -H -c 100 127.0.0.1 "$SINK_PORT" "$BIN/mail-sink" -d "$SINK" 2>>"$D/sink.log"
SINK_PID=$!
if [ "$mode" = tcpserver ]; then
  bg tcpserver -q -R -H -c 100 127.0.0.1 "$SMTP_PORT" "$BIN/smtp-recv" 2>>"$D/smtp.log"
  SMTPD_PID=$!
  INJECT_PID=0
else
  # restarted as s6 would (which waits a second; a tenth is enough here)
  bg sh -c 'while [ ! -f "$1/stop" ]; do "$2/queue-inject" -d 2>>"$1/inject.log"; sleep 0.1; done' sh "$D" "$BIN"
  INJECT_PID=$!
  bg sh -c 'while [ ! -f "$1/stop" ]; do "$2/smtp-recv" -l "127.0.0.1:$3" 2>>"$1/smtp.log"; sleep 0.1; done' \
    sh "$D" "$BIN" "$SMTP_PORT"
  SMTPD_PID=$!
fi
export CMC_RETRY_INTERVAL=1
# deliver restarted as s6 would after every kill
bg sh -c 'while [ ! -f "$1/stop" ]; do "$2/deliver" 2>>"$1/deliver.log"; done' sh "$D" "$BIN"
LOOP_PID=$!
wait_port "$SINK_PORT" && wait_port "$SMTP_PORT"
ok $? "$mode: servers listening"

$PY - "$SMTP_PORT" "$N" "$D" "$SMTPD_PID" "$LOOP_PID" "$mode" "$INJECT_PID" <<'PYEOF' > "$D/result"
import os, random, signal, smtplib, sys, threading, time
port, n, tmpd, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[6]
roots = {"smtpd": int(sys.argv[4]), "loop": int(sys.argv[5]), "inject": int(sys.argv[7])}
accepted, sent, lock = {}, set(), threading.Lock()
# The listener variant also kills the listener, which is down until it is
# restarted: its clients try longer.
attempts = 3 if mode == "tcpserver" else 12

def body(tok):
    # a body whose integrity can be checked: the token repeated, 8-bit text, a dot line
    return ("From: app@crash.test\r\nTo: user@dest.test\r\nSubject: %s\r\n\r\n" % tok
            + ("%s line \xe9\r\n" % tok) * 40 + "..dot line\r\nend %s\r\n" % tok).encode("latin-1")

def client(k):
    for i in range(k, n, 4):
        tok = "tok%05d" % i
        with lock: sent.add(tok)
        for attempt in range(attempts):
            try:
                s = smtplib.SMTP("127.0.0.1", port, timeout=20)
                s.ehlo("crash.test")
                code, _ = s.mail("app@crash.test")
                if code != 250: raise Exception("mail")
                code, _ = s.rcpt("user%d@dest.test" % i)
                if code != 250: raise Exception("rcpt")
                code, msg = s.data(body(tok))
                if code == 250:
                    with lock: accepted[tok] = msg.decode()
                try: s.quit()
                except Exception: pass
                if code == 250: break
            except Exception:
                time.sleep(0.05 if mode == "tcpserver" else 0.15)

def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit(): continue
        try:
            with open("/proc/%s/stat" % d) as f: st = f.read()
        except OSError: continue
        rest = st[st.rfind(")") + 2:].split()
        if int(rest[1]) == pid: out.append((int(d), st[st.find("(") + 1:st.rfind(")")]))
    return out

kills = {"smtp-recv": 0, "queue-inject": 0, "deliver": 0}
if mode == "listener": kills.update({"listener": 0, "inject-server": 0})
stop = False
def sessions(pid):
    # smtp-recv serving sessions under pid, and the queue-inject each runs
    out = []
    for p, nm in children(pid):
        if nm != "smtp-recv": continue
        out.append((p, "smtp-recv"))
        out += [(q, "queue-inject") for q, nm2 in children(p) if nm2 == "queue-inject"]
    return out
def killer():
    rnd = random.Random(int(os.environ.get("CRASH_SEED", "1")))
    while not stop:
        # The listener variant moves mail fast: kill more often there.
        time.sleep(rnd.uniform(0.02, 0.25) if mode == "tcpserver" else rnd.uniform(0.01, 0.08))
        victims = []
        if mode == "tcpserver":
            victims += sessions(roots["smtpd"])
        else:
            for pid, name in children(roots["smtpd"]):
                if name != "smtp-recv": continue
                victims.append((pid, "listener"))
                victims += sessions(pid)
            victims += [(p, "inject-server") for p, nm in children(roots["inject"]) if nm == "queue-inject"]
        victims += [(p, "deliver") for p, nm in children(roots["loop"]) if nm == "deliver"]
        if not victims: continue
        # A kind of process first (among those running now), so that the
        # few long-lived ones are killed as often as the many short ones.
        want = rnd.choice(sorted({v[1] for v in victims}))
        pool = [v for v in victims if v[1] == want]
        pid, name = rnd.choice(pool)
        try:
            os.kill(pid, signal.SIGKILL); kills[name] += 1
        except OSError: pass

kt = threading.Thread(target=killer); kt.start()
ts = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
stop = True; kt.join()

# Let deliver finish: wait until every accepted token is in the sink or 90 s pass.
def delivered():
    seen = {}
    d = os.path.join(tmpd, "sink", "new")
    for name in os.listdir(d):
        with open(os.path.join(d, name), "rb") as f: data = f.read()
        i = data.find(b"Subject: tok")
        if i < 0: seen.setdefault("?garbage", []).append(name); continue
        tok = data[i + 9:i + 17].decode()
        whole = data.endswith(("end %s\r\n" % tok).encode()) and data.count(tok.encode()) >= 42
        seen.setdefault(tok, []).append(whole)
    return seen
deadline = time.time() + 90
while time.time() < deadline:
    seen = delivered()
    if all(t in seen for t in accepted): break
    time.sleep(0.5)
seen = delivered()
missing = [t for t in accepted if t not in seen]
extra = [t for t in seen if t not in sent]
broken = [t for t, w in seen.items() if t in sent and not all(w)]
dups = sum(len(w) - 1 for t, w in seen.items() if t in sent)
late = [t for t in seen if t in sent and t not in accepted]
print("sent=%d accepted=%d delivered=%d missing=%d extra=%d broken=%d duplicates=%d "
      "delivered_without_250=%d kills=%s" % (len(sent), len(accepted), len(seen), len(missing),
      len(extra), len(broken), dups, len(late), ",".join("%s:%d" % kv for kv in kills.items())))
print("missing: " + " ".join(sorted(missing)[:20]))
PYEOF
touch "$D/stop"
diag "$mode: $(head -n 1 "$D/result")"
res=$(head -n 1 "$D/result")
acc=$(echo "$res" | sed -n 's/.* accepted=\([0-9]*\).*/\1/p')
[ "${acc:-0}" -ge $((N / 2)) ]
ok $? "$mode: most messages accepted despite the kills (${acc:-0} of $N)"
like "$res" "* missing=0 *" "$mode: every message that got 250 was delivered"
like "$res" "* extra=0 *" "$mode: nothing delivered that was never sent"
like "$res" "* broken=0 *" "$mode: every delivered copy is whole"
[ "$failed" = 0 ] || { sed -n 2p "$D/result"; tail -n 20 "$D/deliver.log"; }
# this variant's servers go before the next starts
for p in $SMTPD_PID $INJECT_PID $LOOP_PID; do [ "$p" = 0 ] || pkill -TERM -P "$p" 2>/dev/null; done
for p in $SINK_PID $SMTPD_PID $INJECT_PID $LOOP_PID; do [ "$p" = 0 ] || kill -TERM "$p" 2>/dev/null; done
}

variant tcpserver
variant listener
exit $failed
