#!/bin/sh
# Prohibited time windows, with a fake clock (CMC_FAKE_NOW): the tenant's
# time zone (Asia/Tokyo by default) says 05:59:54 when deliver starts, a
# window 22:00-06:00 holds campaign mail until 06:00:00 (six seconds
# later), then it goes; mail the filter does not take, or that its
# exclusion exempts, goes at once; the time held does not count against
# the retry period (a held message deferred after the window is retried,
# not failed); in another time zone the same clock is outside the window.
. "${0%/*}/lib.sh"
plan 9
mkhome
C="$BIN/cmcctl"
$C tenant add acme >/dev/null && $C tenant add zulu >/dev/null || exit 1
start_dns --mx-host=w.test,mx.w.test,10 --host-record=mx.w.test,127.0.0.1
PORT=$(free_port)
export CMC_REMOTE_PORT=$PORT CMC_HOSTNAME=relay.test CMC_RETRY_PERIOD=2 CMC_RETRY_INTERVAL=1
bg $PY "$T/data/recsink.py" "$TMPD/rec.log" "$TMPD/msgs" "$PORT"
wait_port "$PORT" || { echo "Bail out! recsink did not start"; exit 1; }

for t in acme zulu; do
  $C window add $t night -h X-Kind -p campaign -x From -X '.*vip@.*' -w 22:00-06:00 || exit 1
done
$C set zulu timezone UTC || exit 1
inj() { printf "$2X-Seq: $3\n\nbody\n" | queue-inject -t "$1" -f s@example.com "$4" >/dev/null || exit 1; }
inj acme 'X-Kind: campaign\n' campaign held@w.test
inj acme '' other free@w.test
inj acme 'X-Kind: campaign\nFrom: "Boss" <vip@shop.test>\n' vip vip@w.test
inj acme 'X-Kind: campaign\n' deferred defer-1@w.test
inj zulu 'X-Kind: campaign\n' zulu zulu@w.test

# 2024-01-01 05:59:54 in Tokyo (UTC+9) is 2023-12-31 20:59:54 UTC
start=$($PY -c 'import time; print("%.3f" % time.time())')
CMC_FAKE_NOW=1704056394 bg deliver 2>"$TMPD/deliver.err"
at() { grep "^msg .* $1\$" "$TMPD/rec.log" | awk '{print $2}'; }
wait_for 20 sh -c "grep -q ' campaign\$' '$TMPD/rec.log'"
ok $? "the held campaign message went out in the end"
late() { $PY -c "import sys; print(int((float(sys.argv[1]) - float(sys.argv[2])) * 1000))" "$1" "$start"; }
t_held=$(late "$(at campaign)"); t_free=$(late "$(at other)"); t_vip=$(late "$(at vip)"); t_zulu=$(late "$(at zulu)")
diag "ms after deliver started: campaign $t_held, other $t_free, vip $t_vip, other time zone $t_zulu"
# the window ends 5 to 6 s after the start (CMC_FAKE_NOW is taken in whole seconds)
[ "$t_held" -ge 5000 ]; ok $? "campaign mail was held until 06:00 (fake), 5-6 s of real time ($t_held ms)"
[ "$t_held" -le 12000 ]; ok $? "and sent right after the window ended"
[ -n "$t_free" ] && [ "$t_free" -lt 5000 ]; ok $? "mail the filter does not take went at once, in the window ($t_free ms)"
[ -n "$t_vip" ] && [ "$t_vip" -lt 5000 ]; ok $? "mail the exclusion exempts went at once ($t_vip ms)"
[ -n "$t_zulu" ] && [ "$t_zulu" -lt 5000 ]; ok $? "20:59:54 UTC is outside the window of a tenant in UTC ($t_zulu ms)"

# The held message that is deferred after the window: the retry period
# (2 s) was over when the window ended, but held time does not count.
wait_for 20 sh -c "grep -q 'rcpt=defer-1@w.test result=Z' '$TMPD/deliver.err'"
ok $? "the first attempt after the window was deferred, not failed for the retry period"
first=$(grep -m1 'rcpt=defer-1@w.test' "$TMPD/deliver.err")
like "$first" "*result=Z*" "its first result is a deferral ($first)"
wait_for 20 sh -c "grep -q 'rcpt=defer-1@w.test result=D status=3' '$TMPD/deliver.err'"
ok $? "it fails with status 3 once the period, counted without the window, is over"
exit $failed
