#!/bin/sh
# Late bounces made by a real MTA: a private Postfix instance (its own
# config and queue directories under the test's directory) is the
# destination of pf.test.  It accepts mail for an unknown local user and
# for user nobody, whose mailbox is full (mailbox_size_limit), then its
# local delivery fails and its bounce daemon sends RFC 3464 DSNs to the
# envelope sender -- our VERP addresses -- relayed to our receiving server
# (smtp-recv -m).  Each original recipient ends "failed" after it had
# "succeeded": unknown user with status 2 (and on the suppression list),
# the full mailbox with status 5.  Needs root (Postfix's master).
. "${0%/*}/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root: the private Postfix instance's master runs as root"
for p in postfix postconf; do
  command -v $p >/dev/null 2>&1 || PATH=/usr/sbin:$PATH
  command -v $p >/dev/null 2>&1 || skip_all "$p not installed (Debian package postfix)"
done
id postfix >/dev/null 2>&1 && id nobody >/dev/null 2>&1 || skip_all "users postfix and nobody needed"
plan 8

mkhome
export CMC_HOSTNAME=relay.test
cmcctl tenant add acme >/dev/null || exit 1
MX=$(free_port)
PFPORT=$(free_port)
cmcctl route add acme pf.test "127.0.0.1:$PFPORT" || exit 1
bg tcpserver -q -R -H -c 50 127.0.0.1 "$MX" "$BIN/smtp-recv" -m 2>"$TMPD/mx.log"
wait_port "$MX" || { echo "Bail out! smtp-recv -m did not start"; exit 1; }

# --- the private Postfix -----------------------------------------------------
P=$TMPD/pf
mkdir -p "$P/etc" "$P/queue" "$P/mail"
chmod 755 "$TMPD" "$P"
chmod 1777 "$P/mail"
cat >"$P/etc/main.cf" <<EOF
compatibility_level = 3.6
config_directory = $P/etc
queue_directory = $P/queue
data_directory = $P/data
maillog_file = $P/maillog
maillog_file_prefixes = $P
myhostname = mx.pf.test
mydomain = pf.test
mydestination = pf.test
myorigin = pf.test
# Every address is taken at RCPT time; local delivery decides later, so
# the failures come back as bounces, not as SMTP replies.
local_recipient_maps =
alias_maps =
alias_database =
mail_spool_directory = $P/mail
mailbox_size_limit = 20000
message_size_limit = 20000
biff = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
# Bounces to our VERP addresses go to our receiving server.
relayhost = [127.0.0.1]:$MX
smtpd_tls_security_level = none
smtp_tls_security_level = none
smtpd_peername_lookup = no
smtp_host_lookup = native
bounce_queue_lifetime = 1d
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
EOF
cat >"$P/etc/master.cf" <<EOF
127.0.0.1:$PFPORT inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
# nobody's mailbox, nearly at the limit
$PY -c 'import sys; open(sys.argv[1], "w").write("From x  Thu Jan  1 00:00:00 2024\n" + "x" * 19900 + "\n\n")' "$P/mail/nobody"
chown nobody "$P/mail/nobody"
chmod 600 "$P/mail/nobody"
pf_stop() {
  pid=$(tr -d ' ' <"$P/queue/pid/master.pid" 2>/dev/null)
  timeout 30 postfix -c "$P/etc" stop >/dev/null 2>&1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = master ] && kill -KILL -- "-$pid" 2>/dev/null
}
trap 'pf_stop; cleanup' EXIT
if ! timeout 60 postfix -c "$P/etc" start >"$TMPD/pf-start.log" 2>&1; then
  cat "$TMPD/pf-start.log" "$P/maillog" 2>/dev/null | sed 's/^/# /'
  echo "Bail out! the private Postfix did not start"
  exit 1
fi
wait_port "$PFPORT" || { echo "Bail out! Postfix smtpd does not listen"; exit 1; }

bg deliver 2>"$TMPD/deliver.err"
id=$(printf 'From: s@shop.test\nSubject: hello\n\nbody\n' \
  | queue-inject -t acme -f s@shop.test nosuchuser@pf.test nobody@pf.test)
ev() { cmcctl events acme "$id" | cut -f2-4; }
has() { ev | grep -q "$1"; }
wait_for 30 has "succeeded	0	nobody@pf.test" && wait_for 5 has "succeeded	0	nosuchuser@pf.test"
ok $? "Postfix accepted both recipients: succeeded"
wait_for 60 has "failed	2	nosuchuser@pf.test"
ok $? "its DSN for the unknown user came back: failed, status 2"
wait_for 60 has "failed	5	nobody@pf.test"
ok $? "its DSN for the full mailbox came back: failed, status 5"
is "$(ev | grep nobody@pf.test | cut -f1 | tr '\n' ' ')" "queued succeeded failed " "in that order: the late bounce after the success"
like "$(cmcctl events acme "$id" | grep 'failed	2' | cut -f6)" "*nknown user*" "the diagnostic is Postfix's"
like "$(cmcctl suppress list acme | cut -f2,3)" "nosuchuser@pf.test	2" "the unknown user is on the suppression list"
grep -q "status=sent" "$P/maillog" && grep -q "relay=127.0.0.1\[127.0.0.1\]:$MX" "$P/maillog"
ok $? "Postfix relayed its bounces to our receiving server"
is "$(ls "$CMC_HOME/spool/unmatched" | wc -l | tr -d ' ')" 0 "nothing unmatched"
if [ "$failed" != 0 ]; then
  sed 's/^/# pf: /' "$P/maillog" | tail -30
  grep '^bounce' "$TMPD/deliver.err" | sed 's/^/# /'
fi
exit $failed
