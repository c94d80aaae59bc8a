/* envelope.c: read and write the envelope wire form of envelope.h.
   The parser trusts nothing: every field is checked the same way the writer
   checks it, so that whatever envelope_parse accepts, envelope_put writes
   back, and the reverse.  Absent optional fields are null pointers. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "envelope.h"

#define ENVELOPE_TENANT_MAX 64     /* tenant.h's TENANT_NAME_MAX */

/* Tenant names: [a-z0-9][a-z0-9_-]* (tenant.h). */
static int tenant_ok(const char *s, size_t n)
{
  size_t i;
  if (n == 0 || n > ENVELOPE_TENANT_MAX) return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) continue;
    if (i && (c == '_' || c == '-')) continue;
    return 0;
  }
  return 1;
}

/* Free text (composition, user, HELO name): not empty, valid UTF-8, no
   control character. */
static int text_ok(const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, len, k;
  unsigned cp;
  if (n == 0) return 0;
  while (i < n) {
    unsigned char c = u[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return 0;
      i++;
      continue;
    }
    if (c < 0xc2) return 0;
    else if (c < 0xe0) { len = 2; cp = c & 0x1f; }
    else if (c < 0xf0) { len = 3; cp = c & 0x0f; }
    else if (c < 0xf5) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n - i < len) return 0;
    for (k = 1; k < len; k++) {
      if ((u[i + k] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (u[i + k] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || cp < 0xa0)
      return 0;
    i += len;
  }
  return 1;
}

/* An IPv4 or IPv6 address in text form. */
static int ip_ok(const char *s, size_t n)
{
  char t[INET6_ADDRSTRLEN + 1];
  unsigned char bin[16];
  if (n == 0 || n >= sizeof t) return 0;
  memcpy(t, s, n);
  t[n] = 0;
  return inet_pton(AF_INET, t, bin) == 1 || inet_pton(AF_INET6, t, bin) == 1;
}

/* Unix seconds: decimal digits, no sign, no leading zero, fits long long. */
static int time_ok(const char *s, size_t n, long long *t)
{
  long long v = 0;
  size_t i;
  if (n == 0 || (n > 1 && s[0] == '0')) return 0;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
      return 0;
  }
  *t = v;
  return 1;
}

/* Message id: letters, digits, '.', '-', '_', not starting with '.' (it
   names a file). */
static int id_ok(const char *s, size_t n)
{
  size_t i;
  if (n == 0 || s[0] == '.') return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || c == '.' || c == '-' || c == '_'))
      return 0;
  }
  return 1;
}

/* 1 if s[0..n) is an address already in internal form, 0 if not, -1 ENOMEM.
   tmp is scratch space, reused to spare an allocation per recipient. */
static int addr_internal(struct buf *tmp, const char *s, size_t n, int allow_empty)
{
  tmp->len = 0;
  if (addr_parse(tmp, s, n, allow_empty) == -1) return errno == ENOMEM ? -1 : 0;
  return tmp->len == n && memcmp(tmp->s ? tmp->s : "", s, n) == 0;
}

/* 1 if value v[0..n) is acceptable for tag, 0 if not, -1 ENOMEM.  The S
   value is stored in *t. */
static int value_ok(struct buf *tmp, char tag, const char *v, size_t n, long long *t)
{
  if (n + 1 > ENVELOPE_FIELD_MAX) return 0;
  switch (tag) {
  case 'T': return tenant_ok(v, n);
  case 'C': case 'U': case 'H': return text_ok(v, n);
  case 'I': return ip_ok(v, n);
  case 'S': return time_ok(v, n, t);
  case 'Q': return id_ok(v, n);
  case 'O': return (n == 8 && (memcmp(v, "8bitmime", 8) == 0 || memcmp(v, "smtputf8", 8) == 0))
                   || (n == 6 && memcmp(v, "bounce", 6) == 0);
  case 'F': return addr_internal(tmp, v, n, 1);
  case 'R': return addr_internal(tmp, v, n, 0);
  default: return 0;
  }
}

static int add_rcpt(struct envelope *e, size_t *cap, const char *r)
{
  const char **nr;
  size_t ncap;
  if (e->nrcpt == *cap) {
    ncap = *cap ? *cap * 2 : 8;
    if (ncap > ENVELOPE_MAXRCPT) ncap = ENVELOPE_MAXRCPT;
    nr = realloc(e->rcpt, ncap * sizeof *nr);
    if (!nr) return errno = ENOMEM, -1;
    e->rcpt = nr;
    *cap = ncap;
  }
  e->rcpt[e->nrcpt++] = r;
  return 0;
}

long envelope_parse(struct envelope *e, const char *p, size_t n)
{
  struct buf tmp = BUF_ZERO;
  size_t i = 0, cap = 0, span, len;
  const char *z, *v;
  const char **slot;
  long long t = -1;
  int r, *flag, have_s = 0;
  memset(e, 0, sizeof *e);
  e->accepted = -1;
  for (;;) {
    /* Look no further than one field ahead and never past n. */
    if (i >= n) goto bad;
    span = n - i;
    if (span > ENVELOPE_FIELD_MAX + 1) span = ENVELOPE_FIELD_MAX + 1;
    z = memchr(p + i, 0, span);
    if (!z) goto bad;                       /* truncated, or a field too long */
    len = (size_t)(z - (p + i));
    if (i + len + 1 > ENVELOPE_MAX) goto bad;
    if (len == 0) { i++; break; }           /* the empty field ends the envelope */
    v = p + i + 1;
    r = value_ok(&tmp, p[i], v, len - 1, &t);
    if (r == -1) goto fail;
    if (r == 0) goto bad;
    slot = 0;
    flag = 0;
    switch (p[i]) {
    case 'T': slot = &e->tenant; break;
    case 'C': slot = &e->composition; break;
    case 'I': slot = &e->client_ip; break;
    case 'U': slot = &e->user; break;
    case 'H': slot = &e->helo; break;
    case 'Q': slot = &e->id; break;
    case 'F': slot = &e->sender; break;
    case 'S':
      if (have_s) goto bad;
      have_s = 1;
      e->accepted = t;
      break;
    case 'O': flag = v[0] == '8' ? &e->is_8bitmime : v[0] == 'b' ? &e->is_bounce : &e->is_smtputf8; break;
    case 'R':
      if (e->nrcpt == ENVELOPE_MAXRCPT) goto bad;
      if (add_rcpt(e, &cap, v) == -1) goto fail;
      break;
    }
    if (slot) {
      if (*slot) goto bad;                  /* every field but O and R at most once */
      *slot = v;
    }
    if (flag) {
      if (*flag) goto bad;
      *flag = 1;
    }
    i += len + 1;
  }
  if (!e->tenant || !e->composition || !e->sender || e->nrcpt == 0) goto bad;
  buf_free(&tmp);
  return (long)i;
bad:
  errno = EINVAL;
fail:
  r = errno;
  buf_free(&tmp);
  envelope_free(e);
  errno = r;
  return -1;
}

void envelope_free(struct envelope *e)
{
  free(e->rcpt);
  e->rcpt = 0;
  e->nrcpt = 0;
}

/* Append tag+value+NUL after checking the value.  0, or -1 (EINVAL, ENOMEM). */
static int put_field(struct buf *b, struct buf *tmp, char tag, const char *v)
{
  size_t n = strlen(v);
  long long t;
  int r = value_ok(tmp, tag, v, n, &t);
  if (r == -1) return -1;
  if (r == 0) return errno = EINVAL, -1;
  if (buf_addc(b, tag) == -1 || buf_addz(b, v) == -1) return -1;
  return 0;
}

int envelope_put(struct buf *b, const struct envelope *e)
{
  struct buf tmp = BUF_ZERO;
  size_t i, start = b->len;
  int err;
  if (!e->tenant || !e->composition || !e->sender || e->nrcpt == 0
      || e->nrcpt > ENVELOPE_MAXRCPT || !e->rcpt) {
    errno = EINVAL;
    goto fail;
  }
  if (put_field(b, &tmp, 'T', e->tenant) == -1
      || put_field(b, &tmp, 'C', e->composition) == -1
      || (e->client_ip && put_field(b, &tmp, 'I', e->client_ip) == -1)
      || (e->user && put_field(b, &tmp, 'U', e->user) == -1)
      || (e->helo && put_field(b, &tmp, 'H', e->helo) == -1))
    goto fail;
  if (e->accepted >= 0
      && (buf_addc(b, 'S') == -1 || buf_addu(b, (unsigned long long)e->accepted) == -1
          || buf_addc(b, 0) == -1))
    goto fail;
  if ((e->id && put_field(b, &tmp, 'Q', e->id) == -1)
      || (e->is_8bitmime && put_field(b, &tmp, 'O', "8bitmime") == -1)
      || (e->is_smtputf8 && put_field(b, &tmp, 'O', "smtputf8") == -1)
      || (e->is_bounce && put_field(b, &tmp, 'O', "bounce") == -1)
      || put_field(b, &tmp, 'F', e->sender) == -1)
    goto fail;
  for (i = 0; i < e->nrcpt; i++)
    if (!e->rcpt[i] || put_field(b, &tmp, 'R', e->rcpt[i]) == -1) {
      if (!e->rcpt[i]) errno = EINVAL;
      goto fail;
    }
  if (buf_addc(b, 0) == -1) goto fail;
  if (b->len - start > ENVELOPE_MAX) {
    errno = EINVAL;
    goto fail;
  }
  buf_free(&tmp);
  return 0;
fail:
  err = errno;
  buf_free(&tmp);
  buf_trunc(b, start);
  errno = err;
  return -1;
}
