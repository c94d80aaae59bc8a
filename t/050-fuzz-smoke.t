#!/bin/sh
# fuzz-smoke: every libFuzzer target t/fuzz/NAME.c builds against lib/*.c
# and the Makefile's LIBS, and runs FUZZ_SMOKE_SECONDS (5) seconds on its
# seeds in t/fuzz/corpus/NAME/ without a crash: one TAP line per target.
# New inputs and crash files go to $TMPD, never into the tree.  Skipped
# where clang cannot build libFuzzer targets.
. "${0%/*}/lib.sh"
cd "$TOP" || exit 1
SECS=${FUZZ_SMOKE_SECONDS:-5}
SAN="-fsanitize=fuzzer,address,undefined"

set -- t/fuzz/*.c
[ -e "$1" ] || skip_all "no fuzz targets in t/fuzz"
command -v clang >/dev/null 2>&1 || skip_all "clang not found"
cat >"$TMPD/probe.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n) { (void)p; (void)n; return 0; }
EOF
clang -g $SAN "$TMPD/probe.c" -o "$TMPD/probe" >"$TMPD/probe.log" 2>&1 \
  || skip_all "clang cannot build libFuzzer targets ($SAN)"

# The Makefile is the one place that says what to link and define.
makevar() {
  printf 'include Makefile\n_fuzz_smoke_var:\n\t@echo $(%s)\n' "$1" \
    | MAKEFLAGS= make -s --no-print-directory -f - _fuzz_smoke_var 2>/dev/null
}
LIBS=$(makevar LIBS)
[ -n "$LIBS" ] || LIBS=$(sed -n 's/^LIBS *= *//p' Makefile)
CPPF=$(makevar CPPFLAGS)
[ -n "$CPPF" ] || CPPF="-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Ilib"

plan $#

# lib/ once for all targets: instrumented, but without libFuzzer's main().
mkdir "$TMPD/lib"
export CPPF TMPD
libok=0
for c in lib/*.c; do [ -e "$c" ] && echo "$c"; done \
  | xargs -P "$(nproc 2>/dev/null || echo 2)" -n 1 sh -c '
      o=$TMPD/lib/${1##*/}
      clang -g -O1 -fsanitize=fuzzer-no-link,address,undefined $CPPF -c "$1" -o "${o%.c}.o" \
        >"${o%.c}.log" 2>&1 || { cat "${o%.c}.log"; exit 1; }' sh >>"$TMPD/lib.log" 2>&1 \
  || libok=1
if [ "$libok" -ne 0 ]; then
  diag "lib/*.c does not build for fuzzing:"
  tail -n 20 "$TMPD/lib.log" | sed 's/^/#   /'
fi
rm -f "$TMPD/libfz.a"
ar rcs "$TMPD/libfz.a" "$TMPD"/lib/*.o 2>>"$TMPD/lib.log" || libok=1

for f; do
  name=${f##*/}
  name=${name%.c}
  exe=$TMPD/fz-$name
  log=$TMPD/fz-$name.log
  mkdir "$TMPD/new-$name"
  seeds=t/fuzz/corpus/$name
  [ -d "$seeds" ] || seeds=
  r=1
  # shellcheck disable=SC2086
  if [ "$libok" -eq 0 ] \
     && clang -g -O1 $SAN $CPPF "$f" "$TMPD/libfz.a" $LIBS -o "$exe" >"$log" 2>&1; then
    # New inputs go to the first (scratch) directory; seeds are only read.
    "$exe" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2048 \
      -artifact_prefix="$TMPD/crash-$name-" "$TMPD/new-$name" $seeds >>"$log" 2>&1
    r=$?
  fi
  ok $r "fuzz target $name builds and runs ${SECS}s without a crash"
  [ "$r" -eq 0 ] || tail -n 25 "$log" | sed 's/^/#   /'
done
exit $failed
