/* fuzz/inject: libFuzzer target for lib/injectp.c (frame heads, what
   queue-inject -d reads from its clients) and lib/inject.c (the message
   written into the spool as it arrives).  The first input byte chooses
   the size of the pieces the rest is fed in.  Traps when a promise
   breaks: a parsed head is within the input and of a known type; the
   spool file starts with an envelope holding the id, and its message has
   CRLF line ends only (no bare CR or LF: SMTP smuggling ends here),
   whatever the pieces. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "envelope.h"
#include "inject.h"
#include "injectp.h"
#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static int dfd = -1;
static char dir[128];

static void heads(const char *p, size_t n)
{
  while (n) {
    char t = 0;
    unsigned long long len = 0;
    long h = injectp_parse(p, n, &t, &len);
    if (h == 0) return;
    if (h < 0) {
      if (errno != EPROTO) __builtin_trap();
      p++;
      n--;
      continue;
    }
    if ((size_t)h > n || h > INJECTP_HEAD_MAX || (t != 'E' && t != 'D' && t != '.')) __builtin_trap();
    if (t == '.' && len) __builtin_trap();
    p += h;
    n -= (size_t)h;
    if (len > n) return;
    p += len;
    n -= (size_t)len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
  struct inject j;
  struct envelope e;
  struct buf b = BUF_ZERO;
  char path[256], id[SPOOL_ID_MAX + 1];
  const char *p = (const char *)data + 1;
  size_t step, i, m;
  long used;
  if (n < 1) return 0;
  heads((const char *)data, n);
  if (dfd == -1) {
    snprintf(dir, sizeof dir, "/tmp/fuzz-inject.%ld", (long)getpid());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/tmp", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/new", dir);
    mkdir(path, 0700);
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) == -1) return 0;
  }
  step = data[0] ? data[0] : n;
  m = n - 1;
  memset(&e, 0, sizeof e);
  e.tenant = "acme";
  e.composition = "default";
  e.sender = "s@example.com";
  e.nrcpt = 1;
  e.rcpt = (const char *[]){ "r@example.org" };
  e.accepted = -1;
  if (inject_open(&j, dfd, "fuzz.test", 1 << 20) == -1) return 0;
  if (inject_head(&j, &e) == -1) __builtin_trap();
  for (i = 0; i < m; i += step)
    if (inject_feed(&j, p + i, m - i < step ? m - i : step) == -1) __builtin_trap();
  if (inject_end(&j) == -1 || inject_close(&j) == -1 || inject_link(&j) == -1) __builtin_trap();
  snprintf(id, sizeof id, "%s", j.id);
  inject_done(&j);
  snprintf(path, sizeof path, "%s/new/%s", dir, id);
  if (file_read(path, &b, 4 << 20) == -1) __builtin_trap();
  unlink(path);
  used = envelope_parse(&e, b.s, b.len);
  if (used < 0 || !e.id || strcmp(e.id, id) || e.accepted < 0) __builtin_trap();
  for (i = (size_t)used; i < b.len; i++) {
    if (b.s[i] == '\r' && (i + 1 == b.len || b.s[i + 1] != '\n')) __builtin_trap();
    if (b.s[i] == '\n' && (i == (size_t)used || b.s[i - 1] != '\r')) __builtin_trap();
  }
  if (b.len > (size_t)used && b.s[b.len - 1] != '\n') __builtin_trap();
  envelope_free(&e);
  buf_free(&b);
  return 0;
}
