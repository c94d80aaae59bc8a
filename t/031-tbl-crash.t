#!/bin/sh
# db/ survives SIGKILL: writers (cmcctl selftest-write: one event per
# transaction, each key printed after its commit) are killed at random
# moments, some while others keep writing.  A new process still gets in
# (failchk or recovery), the survivors are never wedged (they go on, or
# leave with 111 within seconds), every key reported committed is there
# afterwards, and the environment works.  Every wait is bounded.
. "${0%/*}/lib.sh"
plan 12
mkhome
C="$BIN/cmcctl"
STUCK=3                        # seconds a writer may hang in Berkeley DB

rnd() { awk -v s="$$$(date +%N)" -v n="$1" 'BEGIN { srand(s); print int(rand() * n) }'; }
lines() { wc -l <"$1" 2>/dev/null || echo 0; }
lines_ge() { [ "$(lines "$1")" -ge "$2" ]; }
alive() { [ -e "/proc/$1" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
# going PID FILE BEFORE: the writer has exited, or written past BEFORE
going() { ! alive "$1" || [ "$(lines "$2")" -gt "$3" ]; }

start() {   # start ROUND: four writers, pids in W1..W4
  for i in 1 2 3 4; do
    "$C" selftest-write 1000000 $STUCK >"$TMPD/r$1w$i.out" 2>>"$TMPD/err" &
    eval "W$i=\$!"
  done
}
# killat PID FILE: SIGKILL once FILE has a random number of keys (or the
# writer has left by itself: after one dies, the others may leave with 111)
killat() {
  wait_for 20 ready "$1" "$2" "$(( $(rnd 40) + 1 ))"
  _r=$?
  kill -KILL "$1" 2>/dev/null
  return $_r
}
ready() { ! alive "$1" || lines_ge "$2" "$3"; }

# Round 1: two of four die while the other two write on.
start 1
killat "$W1" "$TMPD/r1w1.out"; r1=$?
killat "$W2" "$TMPD/r1w2.out"; r2=$?
is "$r1$r2" 00 "two writers killed mid-stream"
timeout 20 "$C" checkpoint; is $? 0 "a new process gets into the environment"
b3=$(lines "$TMPD/r1w3.out"); b4=$(lines "$TMPD/r1w4.out")
wait_for $((STUCK + 10)) going "$W3" "$TMPD/r1w3.out" "$b3"; ok $? "survivor 1 not wedged"
wait_for $((STUCK + 10)) going "$W4" "$TMPD/r1w4.out" "$b4"; ok $? "survivor 2 not wedged"
kill -KILL "$W3" "$W4" 2>/dev/null
wait 2>/dev/null

# Rounds 2-3: all four die, each at its own random moment.
for round in 2 3; do
  start $round
  for i in 1 2 3 4; do eval "killat \"\$W$i\" \"$TMPD/r${round}w$i.out\""; done
  wait 2>/dev/null
done
is "$(cat "$TMPD"/r2w*.out "$TMPD"/r3w*.out | wc -l | tr -d ' ')" \
   "$(cat "$TMPD"/r2w*.out "$TMPD"/r3w*.out | sort -u | wc -l | tr -d ' ')" \
   "no key reported twice"
reported=$(cat "$TMPD"/r*w*.out | wc -l)
[ "$reported" -gt 20 ]; ok $? "writers reported commits ($reported)"

cat "$TMPD"/r*w*.out | timeout 30 "$C" selftest-check >"$TMPD/missing"
is $? 0 "every key reported committed is in the table"
is "$(head -n 5 "$TMPD/missing")" "" "nothing missing"

# The environment works afterwards: writes, reads, checkpoint, recovery.
timeout 20 "$C" tenant add after; is $? 0 "a write after the crashes"
timeout 20 "$C" set after k v && is "$(timeout 20 "$C" get after k)" v "read back"
timeout 20 "$C" checkpoint; is $? 0 "checkpoint after the crashes"
timeout 30 "$C" recover && cat "$TMPD"/r*w*.out | timeout 30 "$C" selftest-check >/dev/null
is $? 0 "forced recovery keeps every key"
# Writers that had to leave say why; anything else is worth seeing.
grep -v 'waited in it; leaving\|stuck in the database' "$TMPD/err" | head -n 5 | sed 's/^/# /'
exit $failed
