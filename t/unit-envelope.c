/* unit-envelope: lib/envelope.c.  Round trips through envelope_put and
   envelope_parse, the limits (ENVELOPE_MAXRCPT, ENVELOPE_FIELD_MAX,
   ENVELOPE_MAX), and malformed wire forms of every kind, each parsed from
   a buffer of exactly its size so that ASan sees any read past n. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "buf.h"
#include "envelope.h"
#include "tap.h"

#define N(a) (sizeof (a) / sizeof (a)[0])
#define W(s) s, sizeof s - 1             /* wire literal: may hold NUL */

/* Parse a copy of p[0..n) in a buffer of exactly n bytes. */
static long parse_exact(struct envelope *e, const char *p, size_t n)
{
  char *c = malloc(n ? n : 1);
  long r;
  int err;
  if (!c) return -2;
  if (n) memcpy(c, p, n);
  r = envelope_parse(e, c, n);
  err = errno;
  envelope_free(e);
  free(c);
  errno = err;
  return r;
}

static int streq(const char *a, const char *b)
{
  if (!a || !b) return a == b;
  return strcmp(a, b) == 0;
}

static int same(const struct envelope *a, const struct envelope *b)
{
  size_t i;
  if (!streq(a->tenant, b->tenant) || !streq(a->composition, b->composition)
      || !streq(a->client_ip, b->client_ip) || !streq(a->user, b->user)
      || !streq(a->helo, b->helo) || !streq(a->id, b->id) || !streq(a->sender, b->sender)
      || a->accepted != b->accepted || !a->is_8bitmime != !b->is_8bitmime
      || !a->is_smtputf8 != !b->is_smtputf8 || a->nrcpt != b->nrcpt)
    return 0;
  for (i = 0; i < a->nrcpt; i++)
    if (!streq(a->rcpt[i], b->rcpt[i])) return 0;
  return 1;
}

/* Malformed wire forms: each must be refused with EINVAL. */
static const struct bad { const char *name, *p; size_t n; } bad_rows[] = {
  { "empty input", W("") },
  { "only the end mark", W("\0") },
  { "no end mark", W("Tacme\0Cdefault\0F\0Rb@example.com\0") },
  { "field without NUL", W("Tacme\0Cdefault\0F\0Rb@example.com") },
  { "duplicate T", W("Tacme\0Tacme\0Cdefault\0F\0Rb@example.com\0\0") },
  { "duplicate C", W("Tacme\0Cdefault\0Cdefault\0F\0Rb@example.com\0\0") },
  { "duplicate F", W("Tacme\0Cdefault\0F\0Fa@example.com\0Rb@example.com\0\0") },
  { "duplicate I", W("Tacme\0Cdefault\0I127.0.0.1\0I127.0.0.1\0F\0Rb@example.com\0\0") },
  { "duplicate U", W("Tacme\0Cdefault\0Uu\0Uu\0F\0Rb@example.com\0\0") },
  { "duplicate H", W("Tacme\0Cdefault\0Hh\0Hh\0F\0Rb@example.com\0\0") },
  { "duplicate S", W("Tacme\0Cdefault\0S1\0S1\0F\0Rb@example.com\0\0") },
  { "duplicate Q", W("Tacme\0Cdefault\0QAB\0QAB\0F\0Rb@example.com\0\0") },
  { "duplicate O", W("Tacme\0Cdefault\0O8bitmime\0O8bitmime\0F\0Rb@example.com\0\0") },
  { "unknown tag X", W("Tacme\0Cdefault\0Xwhat\0F\0Rb@example.com\0\0") },
  { "lowercase tag", W("tacme\0Cdefault\0F\0Rb@example.com\0\0") },
  { "unknown option", W("Tacme\0Cdefault\0Obinarymime\0F\0Rb@example.com\0\0") },
  { "no R", W("Tacme\0Cdefault\0F\0\0") },
  { "no T", W("Cdefault\0F\0Rb@example.com\0\0") },
  { "no C", W("Tacme\0F\0Rb@example.com\0\0") },
  { "no F", W("Tacme\0Cdefault\0Rb@example.com\0\0") },
  { "empty T", W("T\0Cdefault\0F\0Rb@example.com\0\0") },
  { "uppercase tenant", W("TAcme\0Cdefault\0F\0Rb@example.com\0\0") },
  { "tenant starting with -", W("T-acme\0Cdefault\0F\0Rb@example.com\0\0") },
  { "empty C", W("Tacme\0C\0F\0Rb@example.com\0\0") },
  { "control char in C", W("Tacme\0Cdef\tault\0F\0Rb@example.com\0\0") },
  { "bad UTF-8 in C", W("Tacme\0Cdef\xff\0F\0Rb@example.com\0\0") },
  { "CR in H", W("Tacme\0Cdefault\0Hmx\r.example\0F\0Rb@example.com\0\0") },
  { "LF in U", W("Tacme\0Cdefault\0Ua\nb\0F\0Rb@example.com\0\0") },
  { "bad I", W("Tacme\0Cdefault\0I127.0.0.256\0F\0Rb@example.com\0\0") },
  { "I with port", W("Tacme\0Cdefault\0I127.0.0.1:25\0F\0Rb@example.com\0\0") },
  { "S not a number", W("Tacme\0Cdefault\0S12x\0F\0Rb@example.com\0\0") },
  { "S negative", W("Tacme\0Cdefault\0S-1\0F\0Rb@example.com\0\0") },
  { "S leading zero", W("Tacme\0Cdefault\0S0123\0F\0Rb@example.com\0\0") },
  { "S overflow", W("Tacme\0Cdefault\0S99999999999999999999\0F\0Rb@example.com\0\0") },
  { "Q with slash", W("Tacme\0Cdefault\0Q../x\0F\0Rb@example.com\0\0") },
  { "empty R", W("Tacme\0Cdefault\0F\0R\0\0") },
  { "R not an address", W("Tacme\0Cdefault\0F\0Rexample.com\0\0") },
  { "R not in internal form", W("Tacme\0Cdefault\0F\0Rirregular..pattern@example.com\0\0") },
  { "R with bad domain", W("Tacme\0Cdefault\0F\0Rb@example..com\0\0") },
  { "F not in internal form", W("Tacme\0Cdefault\0Fa.@example.com\0Rb@example.com\0\0") },
  { "F with a space", W("Tacme\0Cdefault\0Fa b@example.com\0Rb@example.com\0\0") },
};

int main(void)
{
  static const char *rcpts[] = {
    "b@example.com", "\"irregular..pattern\"@example.com",
    "\xe6\x97\xa5\xe6\x9c\xac@\xe6\x97\xa5\xe6\x9c\xac.jp", "c@[127.0.0.1]",
  };
  static const char *bad_values[] = { "a\rb", "a\nb", "a\r\nb" };
  struct envelope e, e2, in;
  struct buf b = BUF_ZERO, b2 = BUF_ZERO, big = BUF_ZERO;
  const char *many[ENVELOPE_MAXRCPT + 1];
  char longaddr[ENVELOPE_FIELD_MAX + 8];
  size_t i, cut, nbad_cuts = 0, ncuts = 0;
  long r;
  int okall;

  plan((int)N(bad_rows) + (int)N(bad_values) + 29);

  /* Round trip of an envelope with every field. */
  memset(&in, 0, sizeof in);
  in.tenant = "acme";
  in.composition = "default";
  in.client_ip = "2001:db8::1";
  in.user = "ops@example.com";
  in.helo = "client.example";
  in.accepted = 1714723200;
  in.id = "18F3A2B4C5D6E7F80001A2B0001";
  in.is_8bitmime = 1;
  in.is_smtputf8 = 1;
  in.sender = "bounce+x=y@return.example.jp";
  in.nrcpt = N(rcpts);
  in.rcpt = rcpts;
  ok(envelope_put(&b, &in) == 0, "envelope_put writes a full envelope");
  ok(b.len > 2 && b.s[b.len - 1] == 0 && b.s[b.len - 2] == 0, "wire form ends in two NULs");
  ok(memchr(b.s, '\r', b.len) == 0 && memchr(b.s, '\n', b.len) == 0, "wire form has no CR or LF");
  r = envelope_parse(&e, b.s, b.len);
  ok(r == (long)b.len, "envelope_parse consumes exactly the wire form");
  ok(r > 0 && same(&e, &in), "every field survives the round trip");
  ok(r > 0 && e.rcpt[0] >= b.s && e.rcpt[0] < b.s + b.len, "pointers point into the input");
  b2.len = 0;
  ok(r > 0 && envelope_put(&b2, &e) == 0 && b2.len == b.len && memcmp(b.s, b2.s, b.len) == 0,
     "writing the parsed envelope gives the same bytes");
  envelope_free(&e);
  ok(e.rcpt == 0 && e.nrcpt == 0, "envelope_free clears rcpt");

  /* The message follows the envelope in a spool file. */
  buf_add(&b, "Subject: x\r\n\r\nbody\r\n", 20);
  r = envelope_parse(&e, b.s, b.len);
  ok(r == (long)(b.len - 20) && memcmp(b.s + r, "Subject:", 8) == 0,
     "the return value is where the message starts");
  envelope_free(&e);

  /* Minimal envelope: null sender, no optional field. */
  r = envelope_parse(&e, W("Tacme\0Cdefault\0F\0Rb@example.com\0\0"));
  ok(r == 33 && e.sender && e.sender[0] == 0 && e.nrcpt == 1
     && strcmp(e.rcpt[0], "b@example.com") == 0, "minimal envelope with the null sender");
  ok(r > 0 && !e.client_ip && !e.user && !e.helo && !e.id && e.accepted == -1
     && !e.is_8bitmime && !e.is_smtputf8, "absent optional fields are null, accepted -1");
  envelope_free(&e);
  r = envelope_parse(&e, W("Rb@example.com\0F\0S0\0Cdefault\0Rc@example.com\0Tacme\0\0"));
  ok(r > 0 && e.nrcpt == 2 && strcmp(e.rcpt[1], "c@example.com") == 0 && e.accepted == 0
     && strcmp(e.tenant, "acme") == 0, "fields in any order; recipients keep their order");
  envelope_free(&e);

  /* Every proper prefix of a valid envelope is truncated, hence refused. */
  b.len = 0;
  envelope_put(&b, &in);
  for (cut = 0; cut < b.len; cut++) {
    ncuts++;
    if (parse_exact(&e, b.s, cut) == -1 && errno == EINVAL) nbad_cuts++;
  }
  ok(ncuts == nbad_cuts && ncuts == b.len, "every truncation of the envelope is refused");
  ok(parse_exact(&e, b.s, b.len) == (long)b.len, "the whole envelope parses from an exact buffer");

  for (i = 0; i < N(bad_rows); i++) {
    errno = 0;
    r = parse_exact(&e, bad_rows[i].p, bad_rows[i].n);
    ok(r == -1 && errno == EINVAL, bad_rows[i].name);
  }

  /* ENVELOPE_FIELD_MAX counts the tag: a value of FIELD_MAX-1 bytes fits. */
  memset(longaddr, 'x', sizeof longaddr);
  memcpy(longaddr + ENVELOPE_FIELD_MAX - 1 - 12, "@example.com", 13);
  big.len = 0;
  buf_add(&big, W("Tacme\0Cdefault\0F\0R"));
  buf_addz(&big, longaddr);
  buf_addc(&big, 0);
  ok(strlen(longaddr) == ENVELOPE_FIELD_MAX - 1
     && parse_exact(&e, big.s, big.len) == (long)big.len, "a field of ENVELOPE_FIELD_MAX bytes is accepted");
  memset(longaddr, 'x', sizeof longaddr);
  memcpy(longaddr + ENVELOPE_FIELD_MAX - 12, "@example.com", 13);
  big.len = 0;
  buf_add(&big, W("Tacme\0Cdefault\0F\0R"));
  buf_addz(&big, longaddr);
  buf_addc(&big, 0);
  errno = 0;
  ok(parse_exact(&e, big.s, big.len) == -1 && errno == EINVAL, "a field one byte longer is refused");
  in.rcpt = many;
  in.nrcpt = 1;
  many[0] = longaddr;
  b2.len = 0;
  ok(envelope_put(&b2, &in) == -1 && errno == EINVAL && b2.len == 0, "envelope_put refuses it too");

  /* ENVELOPE_MAXRCPT recipients are fine, one more is not. */
  big.len = 0;
  buf_add(&big, W("Tacme\0Cdefault\0F\0"));
  for (i = 0; i < ENVELOPE_MAXRCPT; i++) buf_add(&big, W("Rb@example.com\0"));
  buf_addc(&big, 0);
  r = envelope_parse(&e, big.s, big.len);
  ok(r == (long)big.len && e.nrcpt == ENVELOPE_MAXRCPT, "ENVELOPE_MAXRCPT recipients are accepted");
  envelope_free(&e);
  buf_trunc(&big, big.len - 1);
  buf_add(&big, W("Rb@example.com\0"));
  buf_addc(&big, 0);
  errno = 0;
  ok(parse_exact(&e, big.s, big.len) == -1 && errno == EINVAL, "one recipient more is refused");
  for (i = 0; i <= ENVELOPE_MAXRCPT; i++) many[i] = "b@example.com";
  in.nrcpt = ENVELOPE_MAXRCPT + 1;
  b2.len = 0;
  ok(envelope_put(&b2, &in) == -1 && errno == EINVAL, "envelope_put refuses too many recipients");

  /* ENVELOPE_MAX bounds the whole: MAXRCPT recipients of FIELD_MAX bytes
     plus the required fields is over. */
  memset(longaddr, 'y', sizeof longaddr);
  memcpy(longaddr + ENVELOPE_FIELD_MAX - 1 - 12, "@example.com", 13);
  big.len = 0;
  buf_add(&big, W("Tacme\0Cdefault\0F\0"));
  okall = 1;
  for (i = 0; i < ENVELOPE_MAXRCPT && okall; i++)
    okall = buf_addc(&big, 'R') == 0 && buf_addz(&big, longaddr) == 0;
  buf_addc(&big, 0);
  errno = 0;
  ok(okall && big.len > ENVELOPE_MAX && parse_exact(&e, big.s, big.len) == -1 && errno == EINVAL,
     "an envelope longer than ENVELOPE_MAX is refused");
  for (i = 0; i < ENVELOPE_MAXRCPT; i++) many[i] = longaddr;
  in.nrcpt = ENVELOPE_MAXRCPT;
  b2.len = 0;
  ok(envelope_put(&b2, &in) == -1 && errno == EINVAL && b2.len == 0,
     "envelope_put refuses an envelope longer than ENVELOPE_MAX");
  in.rcpt = rcpts;
  in.nrcpt = N(rcpts);

  /* envelope_put checks what it writes and leaves b as it was on error. */
  for (i = 0; i < N(bad_values); i++) {
    e2 = in;
    e2.helo = bad_values[i];
    buf_set(&b2, "keep", 4);
    errno = 0;
    ok(envelope_put(&b2, &e2) == -1 && errno == EINVAL && b2.len == 4
       && memcmp(b2.s, "keep", 5) == 0, "envelope_put refuses CR/LF in a value");
  }
  e2 = in;
  e2.tenant = 0;
  ok(envelope_put(&b2, &e2) == -1 && errno == EINVAL, "envelope_put refuses a missing tenant");
  e2 = in;
  e2.sender = 0;
  ok(envelope_put(&b2, &e2) == -1 && errno == EINVAL, "envelope_put refuses a missing sender");
  e2 = in;
  e2.nrcpt = 0;
  ok(envelope_put(&b2, &e2) == -1 && errno == EINVAL, "envelope_put refuses no recipient");
  e2 = in;
  e2.sender = "irregular..pattern@example.com";
  ok(envelope_put(&b2, &e2) == -1 && errno == EINVAL,
     "envelope_put refuses an address not in internal form");
  e2 = in;
  e2.client_ip = "not-an-ip";
  ok(envelope_put(&b2, &e2) == -1 && errno == EINVAL, "envelope_put refuses a bad client IP");
  e2 = in;
  e2.sender = "";
  e2.client_ip = 0;
  e2.user = 0;
  e2.helo = 0;
  e2.id = 0;
  e2.accepted = -1;
  e2.is_8bitmime = e2.is_smtputf8 = 0;
  b2.len = 0;
  r = envelope_put(&b2, &e2) == 0 ? envelope_parse(&e, b2.s, b2.len) : -1;
  ok(r == (long)b2.len && same(&e, &e2), "minimal envelope round trip (null sender)");
  envelope_free(&e);
  {
    static const char want[] = "Tacme\0Cdefault\0F\0Rb@example.com\0"
      "R\"irregular..pattern\"@example.com\0"
      "R\xe6\x97\xa5\xe6\x9c\xac@\xe6\x97\xa5\xe6\x9c\xac.jp\0Rc@[127.0.0.1]\0";
    ok(b2.len == sizeof want && memcmp(b2.s, want, sizeof want) == 0,
       "the wire form is exactly as envelope.h describes");
  }

  buf_free(&b);
  buf_free(&b2);
  buf_free(&big);
  return done();
}
