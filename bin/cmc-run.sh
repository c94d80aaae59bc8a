#!/bin/sh
# cmc-run.sh: start the whole system on loopback in the foreground under
# s6-svscan (make run).  Ctrl-C stops everything.  Environment as for
# cmc-init.sh.  Exit 0 after a clean stop, 111 if it could not start.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
CMC_HOME=${CMC_HOME:-$top/var}
export CMC_HOME
sh "$top/bin/cmc-init.sh"
CMC_HOME=$(cd "$CMC_HOME" && pwd)
. "$CMC_HOME/etc/cmc.conf"
scan=$CMC_HOME/service
if s6-svscanctl -a "$scan" 2>/dev/null; then
  echo "cmc-run: fatal: already running on $scan" >&2
  exit 111
fi

cat <<BANNER

  The mail cloud is running (CMC_HOME=$CMC_HOME).

  SMTP relay      127.0.0.1:$CMC_SMTP_PORT  (STARTTLS; relay allowed from 127.0.0.1)
  SMTP AUTH       user demo, password $(cat "$CMC_HOME/etc/demo-password")  (after STARTTLS)
  Bounce server   $CMC_MX_ADDR:$CMC_MX_PORT  (smtp-recv -m: mail for return.TENANT.$CMC_HOSTNAME)
  Demo domain     mail to anything@example.test lands in $CMC_HOME/sink/new
  Logs            $CMC_HOME/log/<service>/current
  Message events  $CMC_BIN/cmcctl events demo <id>

  Try:  swaks --server 127.0.0.1:$CMC_SMTP_PORT --from app@demo.test --to user@example.test

  Ctrl-C stops everything.
BANNER

stop() { s6-svscanctl -t "$scan" 2>/dev/null || :; }
trap stop INT TERM
# s6-svscan gets its own session so that Ctrl-C reaches only this script,
# which then asks s6-svscan for an orderly stop (services down, logs flushed).
setsid s6-svscan "$scan" &
pid=$!
while kill -0 "$pid" 2>/dev/null; do wait "$pid" || :; done
echo "cmc-run: stopped"
