/* unit-addr: lib/addr.c against tables of addresses: what is accepted and
   its internal form, what is refused, case-insensitive comparison and keys,
   domain extraction, A-labels, UTF-8 detection.  TAP on stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "buf.h"
#include "tap.h"

#define N(a) (sizeof (a) / sizeof (a)[0])
#define BIN(s) s, sizeof s - 1          /* a literal that may hold NUL */
#define STR(s) s, (size_t)-1

/* Input, its length (-1: strlen), allow_empty, internal form or 0 if refused. */
static const struct prow {
  const char *in;
  size_t n;
  int allow_empty;
  const char *want;
} parse_rows[] = {
  /* plain RFC local parts stay as they are, case kept */
  { STR("user@example.com"), 0, "user@example.com" },
  { STR("User.Name+tag@Example.COM"), 0, "User.Name+tag@Example.COM" },
  { STR("a@b"), 0, "a@b" },
  { STR("!#$%&'*+-/=?^_`{|}~@example.com"), 0, "!#$%&'*+-/=?^_`{|}~@example.com" },
  { STR("first.middle.last@example.com"), 0, "first.middle.last@example.com" },
  { STR("0123456789@example.com"), 0, "0123456789@example.com" },
  /* irregular forms in use: quoted internally */
  { STR("irregular..pattern@example.com"), 0, "\"irregular..pattern\"@example.com" },
  { STR("hello\\(^^)@example.com"), 0, "\"hello\\\\(^^)\"@example.com" },
  { STR(".leading@example.com"), 0, "\".leading\"@example.com" },
  { STR("trailing.@example.com"), 0, "\"trailing.\"@example.com" },
  { STR("docomo..@example.jp"), 0, "\"docomo..\"@example.jp" },
  { STR("a\\b@example.com"), 0, "\"a\\\\b\"@example.com" },
  { STR("a\"b@example.com"), 0, "\"a\\\"b\"@example.com" },
  { STR("a(comment)@example.com"), 0, "\"a(comment)\"@example.com" },
  { STR("x,y;z:w@example.com"), 0, "\"x,y;z:w\"@example.com" },
  { STR("[brackets]<>@example.com"), 0, "\"[brackets]<>\"@example.com" },
  { STR("a@b@example.com"), 0, "\"a@b\"@example.com" },
  { STR("user@@example.com"), 0, "\"user@\"@example.com" },
  { STR("."), 0, 0 },
  { STR(".@example.com"), 0, "\".\"@example.com" },
  /* already quoted: kept, checked */
  { STR("\"quoted\"@example.com"), 0, "\"quoted\"@example.com" },
  { STR("\"with space\"@example.com"), 0, "\"with space\"@example.com" },
  { STR("\"esc\\\"aped\"@example.com"), 0, "\"esc\\\"aped\"@example.com" },
  { STR("\"back\\\\slash\"@example.com"), 0, "\"back\\\\slash\"@example.com" },
  { STR("\"a@b\"@example.com"), 0, "\"a@b\"@example.com" },
  { STR("\"irregular..pattern\"@example.com"), 0, "\"irregular..pattern\"@example.com" },
  { STR("\"hello\\\\(^^)\"@example.com"), 0, "\"hello\\\\(^^)\"@example.com" },
  { STR("\"\\ \"@example.com"), 0, "\"\\ \"@example.com" },
  { STR("\"unterminated@example.com"), 0, 0 },
  { STR("\"a\"b\"@example.com"), 0, 0 },
  { STR("\"abc\\\"@example.com"), 0, 0 },
  { STR("\"\"@example.com"), 0, 0 },
  { STR("\"a\"x@example.com"), 0, 0 },
  { STR("\"a\tb\"@example.com"), 0, 0 },
  { STR("\"a\\\tb\"@example.com"), 0, 0 },
  { STR("\"\\\xc3\xa9\"@example.com"), 0, 0 },
  /* domains */
  { STR("user@sub_domain.example.com"), 0, "user@sub_domain.example.com" },
  { STR("user@a-b.example.com"), 0, "user@a-b.example.com" },
  { STR("user@123.example.com"), 0, "user@123.example.com" },
  { STR("user@localhost"), 0, "user@localhost" },
  { STR("user@example-.com"), 0, "user@example-.com" },
  { STR("user@.example.com"), 0, 0 },
  { STR("user@example.com."), 0, 0 },
  { STR("user@example..com"), 0, 0 },
  { STR("user@-example.com"), 0, 0 },
  { STR("user@_dmarc.example.com"), 0, 0 },
  { STR("user@a._b.com"), 0, 0 },
  { STR("user@exa mple.com"), 0, 0 },
  { STR("user@exa!mple.com"), 0, 0 },
  { STR("user@example.com>"), 0, 0 },
  { STR("user@."), 0, 0 },
  /* address literals */
  { STR("user@[127.0.0.1]"), 0, "user@[127.0.0.1]" },
  { STR("user@[IPv6:::1]"), 0, "user@[IPv6:::1]" },
  { STR("user@[IPv6:2001:db8::25]"), 0, "user@[IPv6:2001:db8::25]" },
  { STR("user@[ipv6:2001:DB8::25]"), 0, "user@[ipv6:2001:DB8::25]" },
  { STR("user@[127.0.0.256]"), 0, 0 },
  { STR("user@[1.2.3]"), 0, 0 },
  { STR("user@[IPv6:zz::1]"), 0, 0 },
  { STR("user@[::1]"), 0, 0 },
  { STR("user@[127.0.0.1"), 0, 0 },
  { STR("user@[]"), 0, 0 },
  { STR("user@[tag:content]"), 0, 0 },
  /* UTF-8 (SMTPUTF8) */
  { STR("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e@\xe4\xbe\x8b\xe3\x81\x88.jp"), 0,
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e@\xe4\xbe\x8b\xe3\x81\x88.jp" },
  { STR("user@\xe6\x97\xa5\xe6\x9c\xac.jp"), 0, "user@\xe6\x97\xa5\xe6\x9c\xac.jp" },
  { STR("J\xc3\xbcrgen.M\xc3\xbcller@example.de"), 0, "J\xc3\xbcrgen.M\xc3\xbcller@example.de" },
  { STR("\xc3\xbc..x@example.com"), 0, "\"\xc3\xbc..x\"@example.com" },
  { STR("\"\xc3\xbc y\"@example.com"), 0, "\"\xc3\xbc y\"@example.com" },
  { STR("\xf0\x9f\x93\xa7@example.com"), 0, "\xf0\x9f\x93\xa7@example.com" },
  { STR("\xff@example.com"), 0, 0 },
  { STR("\xc0\xaf@example.com"), 0, 0 },          /* overlong '/' */
  { STR("\xe0\x80\xaf@example.com"), 0, 0 },      /* overlong, 3 bytes */
  { STR("\xed\xa0\x80@example.com"), 0, 0 },      /* surrogate */
  { STR("\xf4\x90\x80\x80@example.com"), 0, 0 },  /* above U+10FFFF */
  { STR("a\xe6\x97@example.com"), 0, 0 },         /* truncated */
  { STR("\xc2\x85@example.com"), 0, 0 },          /* C1 control NEL */
  { STR("user@\xe6\x97.jp"), 0, 0 },
  { STR("user@\x80.jp"), 0, 0 },
  /* structure, controls, spaces */
  { STR(""), 0, 0 },
  { STR(""), 1, "" },
  { STR("example.com"), 0, 0 },
  { STR("@example.com"), 0, 0 },
  { STR("@example.com"), 1, 0 },
  { STR("user@"), 0, 0 },
  { STR("@"), 0, 0 },
  { STR("us er@example.com"), 0, 0 },
  { STR(" user@example.com"), 0, 0 },
  { STR("user@example.com "), 0, 0 },
  { STR("user\t@example.com"), 0, 0 },
  { STR("user@example.com\r\n"), 0, 0 },
  { STR("us\rer@example.com"), 0, 0 },
  { STR("us\x7f" "er@example.com"), 0, 0 },
  { BIN("us\0er@example.com"), 0, 0 },
  { BIN("user@example.com\0"), 0, 0 },
  { BIN("\"a\0b\"@example.com"), 0, 0 },
  { STR("<user@example.com>"), 0, 0 },
};

/* a, b, expected sign of addr_cmp */
static const struct crow { const char *a, *b; int sign; } cmp_rows[] = {
  { "User@Example.COM", "user@example.com", 0 },
  { "USER@EXAMPLE.COM", "user@example.com", 0 },
  { "\"A..B\"@x.jp", "\"a..b\"@X.JP", 0 },
  { "a@x", "b@x", -1 },
  { "B@x", "a@x", 1 },
  { "abc@x", "ab@x", 1 },
  { "ab@x", "abc@x", -1 },
  { "\xc3\x9c@x", "\xc3\xbc@x", -1 },             /* UTF-8 is not folded */
  { "\xe6\x97\xa5@X", "\xe6\x97\xa5@x", 0 },
  { "", "", 0 },
  { "", "a@x", -1 },
  { "z@x", "\xc3\xbc@x", -1 },                    /* bytes compare unsigned */
};

/* a, its key */
static const struct krow { const char *a, *key; } key_rows[] = {
  { "User@Example.COM", "user@example.com" },
  { "\"A..B\"@EX.com", "\"a..b\"@ex.com" },
  { "\xc3\x9c@Example.JP", "\xc3\x9c@example.jp" },
  { "", "" },
  { "x@[IPv6:2001:DB8::1]", "x@[ipv6:2001:db8::1]" },
};

/* internal form, addr_domain */
static const struct drow { const char *a, *dom; } dom_rows[] = {
  { "user@example.com", "example.com" },
  { "\"a@b\"@c.example", "c.example" },
  { "user@[127.0.0.1]", "[127.0.0.1]" },
  { "", "" },
  { "\xe6\x97\xa5@\xe6\x97\xa5\xe6\x9c\xac.jp", "\xe6\x97\xa5\xe6\x9c\xac.jp" },
};

/* domain, A-label form or 0 if EINVAL */
static const struct arow { const char *dom, *ace; } ace_rows[] = {
  { "\xe6\x97\xa5\xe6\x9c\xac.jp", "xn--wgv71a.jp" },
  { "\xe6\x97\xa5\xe6\x9c\xac.JP", "xn--wgv71a.jp" },
  { "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", "xn--r8jz45g.xn--zckzah" },
  { "m\xc3\xbcnchen.de", "xn--mnchen-3ya.de" },
  { "M\xc3\x9cNCHEN.DE", "xn--mnchen-3ya.de" },
  { "\xc3\x9f.de", "xn--zca.de" },                /* nontransitional: sharp s kept */
  { "a\xcc\x81.de", "xn--1ca.de" },               /* NFC input */
  { "Example.COM", "example.com" },
  { "sub_domain.Example.com", "sub_domain.example.com" },
  { "[127.0.0.1]", "[127.0.0.1]" },
  { "[IPv6:::1]", "[IPv6:::1]" },
  { "\xe2\x98\x83.com", 0 },                      /* snowman: disallowed */
  { "\xe6\x97\xa5\xe6\x9c\xac-.jp", 0 },          /* hyphen at label end */
  { "\xe2\x80\x8b.jp", 0 },                       /* maps to an empty label */
  { "\xef\xbc\xbb" "1.2.3.4\xef\xbc\xbd", 0 },    /* full-width brackets */
  { "", 0 },
  { "a..b", 0 },
  { "-a.b", 0 },
};

static const struct urow { const char *a; int is_utf8; } utf8_rows[] = {
  { "user@example.com", 0 },
  { "", 0 },
  { "\"a b\"@example.com", 0 },
  { "\xe6\x97\xa5\xe6\x9c\xac@example.com", 1 },
  { "user@\xe6\x97\xa5\xe6\x9c\xac.jp", 1 },
};

/* A test name safe for TAP: non-printables as \xHH, bounded. */
static const char *show(const char *prefix, const char *s, size_t n)
{
  static char name[300];
  size_t i, len;
  int r = snprintf(name, sizeof name, "%s ", prefix);
  len = r < 0 ? 0 : (size_t)r;
  for (i = 0; i < n && len + 8 < sizeof name; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '#') name[len++] = (char)c;
    else len += (size_t)snprintf(name + len, sizeof name - len, "\\x%02x", c);
  }
  name[len] = 0;
  return name;
}

static int sign(int x) { return (x > 0) - (x < 0); }

int main(void)
{
  struct buf b = BUF_ZERO, b2 = BUF_ZERO;
  size_t i, n;
  char *longaddr;
  int r;

  plan((int)(N(parse_rows) * 2 + N(cmp_rows) + N(key_rows) + N(dom_rows)
             + N(ace_rows) + N(utf8_rows) + 6));

  for (i = 0; i < N(parse_rows); i++) {
    const struct prow *t = &parse_rows[i];
    n = t->n == (size_t)-1 ? strlen(t->in) : t->n;
    buf_set(&b, "prefix", 6);
    errno = 0;
    r = addr_parse(&b, t->in, n, t->allow_empty);
    if (t->want) {
      ok(r == 0 && b.len == 6 + strlen(t->want) && memcmp(b.s, "prefix", 6) == 0
         && strcmp(b.s + 6, t->want) == 0, show("accepts", t->in, n));
      if (r != 0) printf("#   refused, errno %d\n", errno);
      else if (strcmp(b.s + 6, t->want)) printf("#   got %s\n", show("", b.s + 6, b.len - 6));
      /* the internal form is a fixed point: parsing it gives it back */
      b2.len = 0;
      r = addr_parse(&b2, t->want, strlen(t->want), t->allow_empty);
      ok(r == 0 && strcmp(b2.s, t->want) == 0, show("internal form stable:", t->want, strlen(t->want)));
    } else {
      ok(r == -1 && errno == EINVAL && b.len == 6, show("refuses", t->in, n));
      if (r == 0) printf("#   got %s\n", show("", b.s + 6, b.len - 6));
      ok(b.s[6] == 0, show("nothing appended for", t->in, n));
    }
  }

  for (i = 0; i < N(cmp_rows); i++) {
    const struct crow *t = &cmp_rows[i];
    r = sign(addr_cmp(t->a, t->b));
    ok(r == t->sign && sign(addr_cmp(t->b, t->a)) == -t->sign,
       show("addr_cmp sign", t->a, strlen(t->a)));
  }
  for (i = 0; i < N(key_rows); i++) {
    b.len = 0;
    r = addr_key(&b, key_rows[i].a);
    ok(r == 0 && b.s && strcmp(b.s, key_rows[i].key) == 0,
       show("addr_key", key_rows[i].a, strlen(key_rows[i].a)));
  }
  for (i = 0; i < N(dom_rows); i++)
    ok(strcmp(addr_domain(dom_rows[i].a), dom_rows[i].dom) == 0,
       show("addr_domain", dom_rows[i].a, strlen(dom_rows[i].a)));
  for (i = 0; i < N(ace_rows); i++) {
    const struct arow *t = &ace_rows[i];
    buf_set(&b, "x", 1);
    errno = 0;
    r = addr_domain_ascii(&b, t->dom);
    if (t->ace)
      ok(r == 0 && strcmp(b.s + 1, t->ace) == 0, show("A-label of", t->dom, strlen(t->dom)));
    else
      ok(r == -1 && errno == EINVAL && b.len == 1, show("no A-label for", t->dom, strlen(t->dom)));
    if (t->ace && r == 0 && strcmp(b.s + 1, t->ace)) printf("#   got %s\n", b.s + 1);
  }
  for (i = 0; i < N(utf8_rows); i++)
    ok(addr_is_utf8(utf8_rows[i].a) == utf8_rows[i].is_utf8,
       show("addr_is_utf8", utf8_rows[i].a, strlen(utf8_rows[i].a)));

  /* No length limit on the address itself. */
  n = 5000;
  longaddr = malloc(n + 20);
  if (!longaddr) return 1;
  memset(longaddr, 'x', n);
  memcpy(longaddr + n, "@example.com", 13);
  b.len = 0;
  ok(addr_parse(&b, longaddr, strlen(longaddr), 0) == 0 && strcmp(b.s, longaddr) == 0,
     "a 5000-byte local part is accepted");
  longaddr[100] = '.';
  longaddr[101] = '.';
  b.len = 0;
  ok(addr_parse(&b, longaddr, strlen(longaddr), 0) == 0 && b.len == strlen(longaddr) + 2
     && b.s[0] == '"', "a long irregular local part is quoted");
  free(longaddr);

  /* p[0..n) is all that is read: a longer C string is cut at n. */
  b.len = 0;
  ok(addr_parse(&b, "user@example.com.", 16, 0) == 0 && strcmp(b.s, "user@example.com") == 0,
     "reads no byte past n");
  b.len = 0;
  ok(addr_parse(&b, "user@example.com", 17, 0) == -1, "a NUL within n is refused");

  /* Keys of equal addresses are equal. */
  b.len = 0;
  b2.len = 0;
  ok(addr_key(&b, "\"A..b\"@Example.COM") == 0 && addr_key(&b2, "\"a..B\"@example.com") == 0
     && strcmp(b.s, b2.s) == 0, "keys of addresses equal but for case are equal");
  b.len = 0;
  ok(addr_parse(&b, "IRREGULAR..Pattern@Example.com", 30, 0) == 0
     && addr_cmp(b.s, "\"irregular..pattern\"@example.com") == 0,
     "a quoted irregular address compares equal to its lowercase");

  buf_free(&b);
  buf_free(&b2);
  return done();
}
