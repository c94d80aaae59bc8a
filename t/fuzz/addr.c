/* fuzz/addr: libFuzzer target for lib/addr.c.  The input is one address as
   it came after MAIL FROM:< or RCPT TO:<.  Traps when a promise of addr.h
   breaks: the internal form parses to itself, holds no control character,
   CR, LF or NUL, is valid UTF-8 exactly when it is not ASCII, has its
   domain after the last '@', and compares equal to its own key. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "addr.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static int has_8bit(const char *p, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    if ((unsigned char)p[i] >= 0x80) return 1;
  return 0;
}

/* An independent UTF-8 check (RFC 3629): no overlong form, no surrogate,
   nothing above U+10FFFF. */
static int utf8_valid(const char *p, size_t n)
{
  const unsigned char *s = (const unsigned char *)p;
  size_t i = 0, k, len;
  unsigned long cp, min;
  while (i < n) {
    if (s[i] < 0x80) { i++; continue; }
    if ((s[i] & 0xe0) == 0xc0) { len = 2; cp = s[i] & 0x1f; min = 0x80; }
    else if ((s[i] & 0xf0) == 0xe0) { len = 3; cp = s[i] & 0x0f; min = 0x800; }
    else if ((s[i] & 0xf8) == 0xf0) { len = 4; cp = s[i] & 0x07; min = 0x10000; }
    else return 0;
    if (n - i < len) return 0;
    for (k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    i += len;
  }
  return 1;
}

static void check(const char *p, size_t n, int allow_empty)
{
  struct buf a = BUF_ZERO, again = BUF_ZERO, key = BUF_ZERO, ace = BUF_ZERO;
  const char *dom;
  size_t i;
  if (addr_parse(&a, p, n, allow_empty) == -1) {
    if (errno != EINVAL && errno != ENOMEM) __builtin_trap();
    if (a.len != 0) __builtin_trap();               /* nothing appended on error */
    buf_free(&a);
    return;
  }
  if (n == 0) {
    if (!allow_empty || a.len != 0) __builtin_trap();
    buf_free(&a);
    return;
  }
  for (i = 0; i < a.len; i++) {
    unsigned char c = (unsigned char)a.s[i];
    if (c == 0 || c == '\r' || c == '\n' || c < 0x20 || c == 0x7f) __builtin_trap();
  }
  if (strlen(a.s) != a.len) __builtin_trap();
  /* Parsing the internal form gives it back unchanged. */
  if (addr_parse(&again, a.s, a.len, 0) == -1) __builtin_trap();
  if (again.len != a.len || memcmp(again.s, a.s, a.len)) __builtin_trap();
  /* Irregular local parts are quoted, never altered otherwise: an input that
     was kept has the same bytes. */
  if (a.s[0] != '"' && (a.len != n || memcmp(a.s, p, n))) __builtin_trap();
  /* The domain is the input's, after its last '@'. */
  dom = addr_domain(a.s);
  if (!*dom || dom == a.s || dom[-1] != '@') __builtin_trap();
  if (strlen(dom) > n || memcmp(dom, p + n - strlen(dom), strlen(dom))) __builtin_trap();
  if (addr_is_utf8(a.s) != has_8bit(p, n) || !utf8_valid(a.s, a.len)) __builtin_trap();
  /* Keys fold case only: same length, compare equal, are themselves addresses. */
  if (addr_key(&key, a.s) == -1) __builtin_trap();
  if (key.len != a.len || addr_cmp(key.s, a.s) != 0 || addr_cmp(a.s, key.s) != 0) __builtin_trap();
  again.len = 0;
  if (addr_parse(&again, key.s, key.len, 0) == -1 || strcmp(again.s, key.s)) __builtin_trap();
  /* The A-label form is ASCII, lowercase, and itself a valid domain. */
  if (addr_domain_ascii(&ace, dom) == 0) {
    for (i = 0; i < ace.len; i++)
      if ((unsigned char)ace.s[i] >= 0x80 || (ace.s[i] >= 'A' && ace.s[i] <= 'Z' && dom[0] != '['))
        __builtin_trap();
    again.len = 0;
    if (buf_adds(&again, "x@") == -1 || buf_add(&again, ace.s, ace.len) == -1) __builtin_trap();
    key.len = 0;
    if (addr_parse(&key, again.s, again.len, 0) == -1 || strcmp(key.s, again.s)) __builtin_trap();
  } else if (errno != EINVAL && errno != ENOMEM) {
    __builtin_trap();
  } else if (!addr_is_utf8(dom)) {
    __builtin_trap();                               /* ASCII domains always have one */
  }
  buf_free(&a);
  buf_free(&again);
  buf_free(&key);
  buf_free(&ace);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
  check((const char *)data, n, 0);
  check((const char *)data, n, 1);
  return 0;
}
