/* fuzz/envelope: libFuzzer target for lib/envelope.c.  The input is what
   queue-inject reads on fd 1, or the head of a spool file.  Traps when a
   promise of envelope.h breaks: what parses ends in "\0\0" within n, has
   the required fields and 1..ENVELOPE_MAXRCPT recipients in internal form,
   no CR or LF; envelope_put writes it back and that parses to the same
   envelope and the same bytes again. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "addr.h"
#include "buf.h"
#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static int streq(const char *a, const char *b)
{
  if (!a || !b) return a == b;
  return strcmp(a, b) == 0;
}

/* A value from p[0..used): after its tag, NUL-terminated inside, no CR/LF. */
static void value(const char *v, const char *p, size_t used, int required)
{
  size_t len;
  if (!v) {
    if (required) __builtin_trap();
    return;
  }
  if (v < p + 1 || v >= p + used) __builtin_trap();
  len = strlen(v);
  if (v + len >= p + used || memchr(v, '\r', len) || memchr(v, '\n', len)) __builtin_trap();
}

static void address(const char *a, int allow_empty)
{
  struct buf b = BUF_ZERO;
  if (addr_parse(&b, a, strlen(a), allow_empty) == -1) __builtin_trap();
  if (strcmp(b.s, a)) __builtin_trap();
  buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
  const char *p = (const char *)data;
  struct envelope e, e2;
  struct buf w = BUF_ZERO, w2 = BUF_ZERO;
  size_t i, used;
  long r = envelope_parse(&e, p, n);
  if (r == -1) {
    if (errno != EINVAL && errno != ENOMEM) __builtin_trap();
    if (e.rcpt || e.nrcpt) __builtin_trap();
    return 0;
  }
  if (r < 2 || (size_t)r > n || (size_t)r > ENVELOPE_MAX) __builtin_trap();
  used = (size_t)r;
  if (p[used - 1] || p[used - 2]) __builtin_trap();
  value(e.tenant, p, used, 1);      /* a value starts after its tag */
  value(e.composition, p, used, 1);
  value(e.sender, p, used, 1);
  value(e.client_ip, p, used, 0);
  value(e.user, p, used, 0);
  value(e.helo, p, used, 0);
  value(e.id, p, used, 0);
  if (e.nrcpt < 1 || e.nrcpt > ENVELOPE_MAXRCPT || !e.rcpt) __builtin_trap();
  if (e.accepted < -1) __builtin_trap();
  address(e.sender, 1);
  for (i = 0; i < e.nrcpt; i++) {
    value(e.rcpt[i], p, used, 1);
    address(e.rcpt[i], 0);
  }
  /* Written back, it parses to the same envelope, and writes the same bytes. */
  if (envelope_put(&w, &e) == -1) __builtin_trap();
  if (memchr(w.s, '\r', w.len) || memchr(w.s, '\n', w.len)) __builtin_trap();
  /* Only the order of fields may differ, and S has no leading zero. */
  if (w.len != used) __builtin_trap();
  if (envelope_parse(&e2, w.s, w.len) != (long)w.len) __builtin_trap();
  if (!streq(e.tenant, e2.tenant) || !streq(e.composition, e2.composition)
      || !streq(e.client_ip, e2.client_ip) || !streq(e.user, e2.user)
      || !streq(e.helo, e2.helo) || !streq(e.id, e2.id) || !streq(e.sender, e2.sender)
      || e.accepted != e2.accepted || e.is_8bitmime != e2.is_8bitmime
      || e.is_smtputf8 != e2.is_smtputf8 || e.nrcpt != e2.nrcpt)
    __builtin_trap();
  for (i = 0; i < e.nrcpt; i++)
    if (strcmp(e.rcpt[i], e2.rcpt[i])) __builtin_trap();
  if (envelope_put(&w2, &e2) == -1 || w2.len != w.len || memcmp(w.s, w2.s, w.len))
    __builtin_trap();
  envelope_free(&e);
  envelope_free(&e2);
  buf_free(&w);
  buf_free(&w2);
  return 0;
}
