#!/bin/sh
# cmcctl: init is idempotent; tenants, networks, users, routes, settings;
# usage errors and unknown tenants are 100, an unusable database 111; the
# access snapshot follows every change; no password in plain text anywhere.
. "${0%/*}/lib.sh"
plan 46
mkhome
C="$BIN/cmcctl"
PW='Plain-Text-Pa55word'

for d in spool/tmp spool/new spool/queue db keys etc log sink; do
  [ -d "$CMC_HOME/$d" ] || { echo "# missing $d"; false; }
done
ok $? "init made the layout"
[ -p "$CMC_HOME/spool/trigger" ]; ok $? "spool trigger is a FIFO"
is "$(stat -c %a "$CMC_HOME/keys")" 700 "keys/ is 0700"
"$C" init >/dev/null 2>&1; is $? 0 "init again: 0"
"$C" tenant add acme; is $? 0 "tenant add"
"$C" tenant add acme 2>/dev/null; is $? 0 "tenant add of an existing tenant: 0"
"$C" tenant add 'Bad Name' 2>/dev/null; is $? 100 "bad tenant name: 100"
"$C" tenant add beta
is "$("$C" tenant list | tr '\n' ' ')" "acme beta " "tenant list"

"$C" net add acme 192.0.2.0/24; is $? 0 "net add"
"$C" net add acme -c bulk 2001:db8::/32; is $? 0 "net add -c bulk, IPv6"
"$C" net add acme 10.1.2.3; is $? 0 "net add of a single address"
is "$("$C" net list acme | tr '\t\n' ' ;')" "bulk 2001:db8::/32;default 10.1.2.3/32;default 192.0.2.0/24;" "net list"
"$C" net add acme 300.1.1.1 2>/dev/null; is $? 100 "bad address: 100"
"$C" net add nosuch 192.0.2.0/24 2>/dev/null; is $? 100 "unknown tenant: 100"
"$C" net add acme 2>/dev/null; is $? 100 "missing argument: 100"
"$C" net frob acme 1.2.3.4 2>/dev/null; is $? 100 "unknown verb: 100"
"$C" nonsense 2>/dev/null; is $? 100 "unknown subcommand: 100"
"$C" 2>/dev/null; is $? 100 "no subcommand: 100"

printf '%s\n' "$PW" | "$C" user add acme alice; is $? 0 "user add, password on stdin"
printf '%s\n' "other" | "$C" user add beta alice 2>/dev/null; is $? 100 "a user name of another tenant: 100"
"$C" user add acme bob </dev/null 2>/dev/null; is $? 100 "empty password: 100"
printf 'x\n' | "$C" user add acme 'bad user' 2>/dev/null; is $? 100 "bad user name: 100"
is "$("$C" user list acme | tr '\t\n' ' ;')" "default alice;" "user list"

A=$CMC_HOME/etc/access
grep -q "^net	acme	default	192.0.2.0/24$" "$A"; ok $? "snapshot has the network"
grep -q "^net	acme	bulk	2001:db8::/32$" "$A"; ok $? "snapshot has the IPv6 network"
grep -q '^user	alice	acme	default	\$y\$' "$A"; ok $? "snapshot has the user with a yescrypt hash"
is "$(stat -c %a "$A")" 640 "snapshot is mode 0640"
"$C" net del acme 10.1.2.3; is $? 0 "net del"
grep -q "10.1.2.3" "$A"; is $? 1 "snapshot lost the deleted network"
"$C" user del acme alice; is $? 0 "user del"
grep -q "alice" "$A"; is $? 1 "snapshot lost the deleted user"
printf '%s\n' "$PW" | "$C" user add acme alice

"$C" route add acme example.com mx.example.net:25; is $? 0 "route add"
"$C" route add acme '*' '[192.0.2.1]:2525'; is $? 0 "route add *"
"$C" route add acme example.com nohostport 2>/dev/null; is $? 100 "bad host:port: 100"
is "$("$C" route list acme | tr '\t\n' ' ;')" "default * [192.0.2.1]:2525;default example.com mx.example.net:25;" "route list"

"$C" set acme retry_period 3600; is $? 0 "set"
is "$("$C" get acme retry_period)" 3600 "get"
"$C" get acme -c bulk retry_period 2>/dev/null; is $? 100 "get of an unset key (other composition): 100"

is "$("$C" events acme NO-SUCH-ID)" "" "events of an unknown id: nothing"
"$C" tenant add selftest
id=$("$C" selftest-write 1)
like "$("$C" events selftest "$id")" "20*T*Z	queued	0	selftest@example.test		" "events: one tab-separated line"
like "$("$C" events "$id")" "*	queued	0	selftest@example.test	*" "events without a tenant looks in every tenant"

# the password is nowhere in plain text
grep -rqF "$PW" "$CMC_HOME" 2>/dev/null; is $? 1 "password appears in no file under CMC_HOME"

chmod 000 "$CMC_HOME/db"
if [ "$(id -u)" = 0 ]; then
  mv "$CMC_HOME/db" "$CMC_HOME/db.off"; touch "$CMC_HOME/db"
fi
"$C" tenant list >/dev/null 2>&1; is $? 111 "unusable database: 111"
[ -d "$CMC_HOME/db.off" ] && { rm -f "$CMC_HOME/db"; mv "$CMC_HOME/db.off" "$CMC_HOME/db"; }
chmod 750 "$CMC_HOME/db"
"$C" checkpoint; is $? 0 "checkpoint"
"$C" trickle 30; is $? 0 "trickle"
"$C" trickle 0 2>/dev/null; is $? 100 "trickle: a bad percentage is refused"
exit $failed
