/* fuzz/smtpd: libFuzzer target over smtp-recv's parsers (lib/smtpd.c).
   Each input is used three ways: as command lines (verb, MAIL/RCPT path
   and parameters, SASL responses), and as the byte stream after DATA,
   fed whole and in small chunks.  Promises checked: arguments stay inside
   the line; the data ends exactly at the first CR LF . CR LF (the DATA
   command's CRLF counted before the first byte) and never elsewhere,
   whatever the chunking; the output is never longer than the input. */
#include <stdint.h>
#include <string.h>
#include "buf.h"
#include "smtpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lines(const char *p, size_t n)
{
  static struct smtpd_path pa = SMTPD_PATH_ZERO;
  static struct buf b = BUF_ZERO;
  while (n) {
    const char *nl = memchr(p, '\n', n);
    size_t len = nl ? (size_t)(nl - p) + 1 : n;
    struct smtpd_cmd c;
    if (smtpd_cmd_parse(&c, p, len) == 0) {
      if (c.arg < p || c.arg + c.len > p + len) __builtin_trap();
      if (c.verb == SMTPD_MAIL || c.verb == SMTPD_RCPT) {
        int r = smtpd_path_parse(&pa, c.arg, c.len, c.verb == SMTPD_MAIL, len & 1, len & 2);
        if (r == SMTPD_OK && (!pa.addr.s || strlen(pa.addr.s) != pa.addr.len)) __builtin_trap();
        if (!smtpd_path_reply(r, c.verb == SMTPD_MAIL)) __builtin_trap();
      } else if (c.verb == SMTPD_AUTH || c.verb == SMTPD_UNKNOWN) {
        const char *u, *pw;
        if (smtpd_b64_decode(&b, c.arg, c.len) == 0) {
          if (b.len > c.len) __builtin_trap();
          if (smtpd_plain_split(&b, &u, &pw) == 0 && (u < b.s || pw > b.s + b.len)) __builtin_trap();
        }
      } else if (c.verb == SMTPD_EHLO)
        smtpd_helo_ok(c.arg, c.len);
    }
    p += len;
    n -= len;
  }
}

/* Feed in chunks of k; the count of bytes used, output in out. */
static size_t feed(const char *p, size_t n, size_t k, struct buf *out, struct smtpd_data *d)
{
  size_t i = 0;
  smtpd_data_init(d);
  buf_trunc(out, 0);
  while (i < n && !d->is_done) {
    size_t c = n - i < k ? n - i : k;
    size_t used = smtpd_data_feed(d, p + i, c, out);
    if (used == (size_t)-1) __builtin_trap();
    if (used < c && !d->is_done) __builtin_trap();
    i += used;
  }
  return i;
}

static size_t first_end(const char *p, size_t n)
{
  /* "\r\n" + p: where does the first CR LF . CR LF end, in p's terms? */
  size_t i;
  if (n >= 3 && memcmp(p, ".\r\n", 3) == 0) return 3;
  for (i = 0; i + 5 <= n; i++)
    if (memcmp(p + i, "\r\n.\r\n", 5) == 0) return i + 5;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct buf a = BUF_ZERO, b = BUF_ZERO;
  struct smtpd_data d1, d2;
  const char *p = (const char *)data;
  size_t u1, u2, end;
  lines(p, size);
  u1 = feed(p, size, size ? size : 1, &a, &d1);
  u2 = feed(p, size, 3, &b, &d2);
  if (u1 != u2 || d1.is_done != d2.is_done || a.len != b.len || memcmp(a.s, b.s, a.len)
      || d1.size != a.len || d1.is_long != d2.is_long)
    __builtin_trap();
  if (a.len > u1) __builtin_trap();
  end = first_end(p, size);
  if (d1.is_done ? end != u1 : end != 0) __builtin_trap();
  return 0;
}
