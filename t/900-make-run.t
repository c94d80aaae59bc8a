#!/bin/sh
# make run: the whole system under s6-svscan on loopback, as a newcomer
# starts it: the banner, a message relayed by swaks from 127.0.0.1 to the
# demo sink, its events, SMTP AUTH with the printed credentials, and an
# orderly stop on SIGINT.
. "${0%/*}/lib.sh"
plan 8
CMC_HOME=$TMPD/var
CMC_SMTP_PORT=$(free_port); CMC_MX_PORT=$(free_port); CMC_SINK_PORT=$(free_port)
export CMC_HOME CMC_SMTP_PORT CMC_MX_PORT CMC_SINK_PORT
# Started with SIGINT at its default, as from a terminal (a background job
# of a script would inherit SIGINT ignored).
$PY -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
  sh "$TOP/bin/cmc-run.sh" >"$TMPD/run.out" 2>&1 &
RUN_PID=$!
BGPIDS="$BGPIDS $RUN_PID"
wait_port "$CMC_SMTP_PORT" && wait_port "$CMC_SINK_PORT"
ok $? "smtp-recv and the sink listen"
grep -q "127.0.0.1:$CMC_SMTP_PORT" "$TMPD/run.out"
ok $? "the banner says where to point an SMTP client"

swaks --server "127.0.0.1:$CMC_SMTP_PORT" --from app@demo.test --to someone@example.test \
  --header "Subject: tour" --body "hello from the tour" >"$TMPD/swaks.out" 2>&1
ok $? "swaks relays from 127.0.0.1"
id=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' "$TMPD/swaks.out" | head -n 1)
has_mail() { grep -l "hello from the tour" "$CMC_HOME"/sink/new/* >/dev/null 2>&1; }
wait_for 30 has_mail
ok $? "the message reached the demo sink"
has_success() { "$BIN/cmcctl" events demo "$id" | grep -q succeeded; }
wait_for 15 has_success
ok $? "its events show succeeded (id $id)"

pw=$(cat "$CMC_HOME/etc/demo-password")
swaks --server "127.0.0.1:$CMC_SMTP_PORT" --tls --auth PLAIN --auth-user demo \
  --auth-password "$pw" --from app@demo.test --to auth@example.test >"$TMPD/swaks2.out" 2>&1
ok $? "SMTP AUTH after STARTTLS with the printed credentials"

kill -INT "$RUN_PID"
stopped() { ! kill -0 "$RUN_PID" 2>/dev/null; }
wait_for 30 stopped
ok $? "SIGINT stops make run"
gone() { ! pgrep -f "$CMC_HOME/service" >/dev/null && ! pgrep -f "s6-svscan $CMC_HOME" >/dev/null; }
wait_for 15 gone
ok $? "no supervisor is left behind"
[ "$failed" = 0 ] || { cat "$TMPD/run.out"; cat "$TMPD/swaks.out"; tail -n 5 "$CMC_HOME"/log/*/current; }
exit $failed
