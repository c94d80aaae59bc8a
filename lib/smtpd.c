/* smtpd.c: the SMTP server's protocol pieces (see smtpd.h).  No I/O but
   the slot files; everything here is a pure function of its arguments or
   of the state the caller passes in, so the fuzz target can drive it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "addr.h"
#include "io.h"
#include "smtpd.h"

static int is_space(char c) { return c == ' ' || c == '\t'; }

struct verb_name {
  const char *name;
  enum smtpd_verb verb;
};
static const struct verb_name verbs[] = {
  { "HELO", SMTPD_HELO }, { "EHLO", SMTPD_EHLO }, { "MAIL", SMTPD_MAIL },
  { "RCPT", SMTPD_RCPT }, { "DATA", SMTPD_DATA }, { "RSET", SMTPD_RSET },
  { "NOOP", SMTPD_NOOP }, { "QUIT", SMTPD_QUIT }, { "VRFY", SMTPD_VRFY },
  { "EXPN", SMTPD_EXPN }, { "HELP", SMTPD_HELP }, { "STARTTLS", SMTPD_STARTTLS },
  { "AUTH", SMTPD_AUTH },
  /* A web browser or proxy client talking to the SMTP port (cross-protocol
     requests): nothing good can follow. */
  { "GET", SMTPD_FORBIDDEN }, { "POST", SMTPD_FORBIDDEN }, { "HEAD", SMTPD_FORBIDDEN },
  { "PUT", SMTPD_FORBIDDEN }, { "CONNECT", SMTPD_FORBIDDEN },
};

int smtpd_cmd_parse(struct smtpd_cmd *c, const char *p, size_t n)
{
  size_t i, vlen;
  c->verb = SMTPD_UNKNOWN;
  c->arg = p;
  c->len = 0;
  if (n && p[n - 1] == '\n') n--;
  if (n && p[n - 1] == '\r') n--;
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return errno = EINVAL, -1;
  }
  for (vlen = 0; vlen < n && !is_space(p[vlen]); vlen++)
    ;
  for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (strlen(verbs[i].name) == vlen && strncasecmp(verbs[i].name, p, vlen) == 0) {
      c->verb = verbs[i].verb;
      break;
    }
  /* "Host: x", "User-Agent: y": the header lines of an HTTP request. */
  if (c->verb == SMTPD_UNKNOWN && vlen > 1 && p[vlen - 1] == ':') c->verb = SMTPD_FORBIDDEN;
  i = vlen;
  while (i < n && is_space(p[i])) i++;
  while (n > i && is_space(p[n - 1])) n--;
  c->arg = p + i;
  c->len = n - i;
  return 0;
}

size_t smtpd_line_max(enum smtpd_verb v)
{
  switch (v) {
  case SMTPD_MAIL: case SMTPD_RCPT: return SMTPD_PATH_LINE_MAX;
  case SMTPD_AUTH: return SMTPD_AUTH_LINE_MAX;
  default: return SMTPD_LINE_MAX;
  }
}

void smtpd_path_free(struct smtpd_path *pa) { buf_free(&pa->addr); }

/* Length of the "<...>" at p[0..n) including both brackets, honouring
   quoted strings (<"a>b"@x>); 0 if there is no closing bracket. */
static size_t bracketed(const char *p, size_t n)
{
  size_t i;
  int in_quote = 0;
  for (i = 1; i < n; i++) {
    if (in_quote) {
      if (p[i] == '\\' && i + 1 < n) i++;
      else if (p[i] == '"') in_quote = 0;
    } else if (p[i] == '"')
      in_quote = 1;
    else if (p[i] == '>')
      return i + 1;
  }
  return 0;
}

static int param_is(const char *k, size_t kn, const char *name)
{
  return strlen(name) == kn && strncasecmp(k, name, kn) == 0;
}

/* One ESMTP parameter k[0..kn) = v[0..vn) (has_v: "=" present) of MAIL. */
static int mail_param(struct smtpd_path *pa, const char *k, size_t kn,
                      const char *v, size_t vn, int has_v, unsigned *seen)
{
  size_t i;
  if (param_is(k, kn, "SIZE")) {
    unsigned long long s = 0;
    if ((*seen & 1) || !has_v || vn == 0 || vn > 20) return SMTPD_EVALUE;
    for (i = 0; i < vn; i++) {
      if (v[i] < '0' || v[i] > '9') return SMTPD_EVALUE;
      if (__builtin_mul_overflow(s, 10, &s) || __builtin_add_overflow(s, (unsigned)(v[i] - '0'), &s))
        return SMTPD_EVALUE;
    }
    *seen |= 1;
    pa->size = s;
    pa->has_size = 1;
    return SMTPD_OK;
  }
  if (param_is(k, kn, "BODY")) {
    if ((*seen & 2) || !has_v) return SMTPD_EVALUE;
    *seen |= 2;
    if (param_is(v, vn, "8BITMIME")) pa->is_8bitmime = 1;
    else if (!param_is(v, vn, "7BIT")) return SMTPD_EVALUE;
    return SMTPD_OK;
  }
  if (param_is(k, kn, "SMTPUTF8")) {
    if ((*seen & 4) || has_v) return SMTPD_EVALUE;
    *seen |= 4;
    pa->is_smtputf8 = 1;
    return SMTPD_OK;
  }
  /* RFC 4954 5: a client that authenticated may name the original
     submitter; we trust only our own AUTH, so the value is not used. */
  if (param_is(k, kn, "AUTH")) {
    if ((*seen & 8) || !has_v || vn == 0) return SMTPD_EVALUE;
    *seen |= 8;
    return SMTPD_OK;
  }
  return SMTPD_EPARAM;
}

int smtpd_path_parse(struct smtpd_path *pa, const char *arg, size_t n,
                     int is_mail, int is_esmtp, int utf8_ok)
{
  const char *key = is_mail ? "FROM:" : "TO:";
  size_t klen = strlen(key), i, plen, pos;
  const char *path;
  unsigned seen = 0;
  int r;
  buf_trunc(&pa->addr, 0);
  pa->size = 0;
  pa->has_size = pa->is_8bitmime = pa->is_smtputf8 = 0;
  if (n < klen || strncasecmp(arg, key, klen) != 0) return SMTPD_ESYNTAX;
  i = klen;
  while (i < n && is_space(arg[i])) i++;       /* "MAIL FROM: <a@b>" is common */
  if (i < n && arg[i] == '<') {
    size_t b = bracketed(arg + i, n - i);
    if (!b) return SMTPD_ESYNTAX;
    path = arg + i + 1;
    plen = b - 2;
    pos = i + b;
    /* A source route (<@a,@b:user@c>) is obsolete; RFC 5321 4.1.1.3 says
       to ignore it. */
    if (plen && path[0] == '@') {
      const char *colon = memchr(path, ':', plen);
      if (!colon) return SMTPD_ESYNTAX;
      plen -= (size_t)(colon + 1 - path);
      path = colon + 1;
    }
  } else {
    /* Without brackets (old clients): the address runs to the first space. */
    path = arg + i;
    for (plen = 0; i + plen < n && !is_space(arg[i + plen]); plen++)
      ;
    if (!plen) return SMTPD_ESYNTAX;
    pos = i + plen;
  }
  if (pos < n && !is_space(arg[pos])) return SMTPD_ESYNTAX;
  while (pos < n) {
    const char *k, *v = 0;
    size_t kn = 0, vn = 0;
    int has_v = 0;
    while (pos < n && is_space(arg[pos])) pos++;
    if (pos == n) break;
    k = arg + pos;
    while (pos < n && !is_space(arg[pos]) && arg[pos] != '=') { pos++; kn++; }
    if (pos < n && arg[pos] == '=') {
      has_v = 1;
      v = arg + ++pos;
      while (pos < n && !is_space(arg[pos])) { pos++; vn++; }
    }
    if (!kn) return SMTPD_ESYNTAX;
    if (!is_esmtp || !is_mail) return SMTPD_EPARAM;
    if ((r = mail_param(pa, k, kn, v, vn, has_v, &seen)) != SMTPD_OK) return r;
  }
  if (is_mail) utf8_ok = pa->is_smtputf8;
  if (!utf8_ok)
    for (i = 0; i < plen; i++)
      if ((unsigned char)path[i] >= 0x80) return SMTPD_EUTF8;
  if (addr_parse(&pa->addr, path, plen, is_mail) == -1)
    return errno == ENOMEM ? SMTPD_ENOMEM : SMTPD_EADDR;
  if (buf_add(&pa->addr, "", 0) == -1) return SMTPD_ENOMEM;   /* NUL-terminated even if empty */
  return SMTPD_OK;
}

const char *smtpd_path_reply(int err, int is_mail)
{
  switch (err) {
  case SMTPD_ESYNTAX:
    return is_mail ? "501 5.5.4 Syntax: MAIL FROM:<address>" : "501 5.5.4 Syntax: RCPT TO:<address>";
  case SMTPD_EADDR:
    return is_mail ? "553 5.1.7 Bad sender address syntax" : "553 5.1.3 Bad recipient address syntax";
  case SMTPD_EUTF8: return "553 5.6.7 SMTPUTF8 required";
  case SMTPD_EPARAM: return "555 5.5.4 Unsupported parameter";
  case SMTPD_EVALUE: return "501 5.5.4 Bad parameter value";
  default: return "451 4.3.0 Temporary failure, try again";
  }
}

/* Where the DATA stream is relative to the lines that matter. */
enum { D_BOL, D_DOT, D_DOTCR, D_TEXT, D_CR };

void smtpd_data_init(struct smtpd_data *d)
{
  d->state = D_BOL;                  /* the DATA command's CRLF precedes */
  d->linelen = 0;
  d->size = 0;
  d->is_long = 0;
  d->is_done = 0;
}

size_t smtpd_data_feed(struct smtpd_data *d, const char *p, size_t n, struct buf *out)
{
  char *o = 0;
  size_t olen = 0, i;
  /* At most n + 2 bytes come out: each byte in gives at most one, plus
     the ".\r" held back from an earlier call. */
  if (out) {
    if (n > (size_t)-1 - 4 || buf_ready(out, n + 2) == -1) return errno = ENOMEM, (size_t)-1;
    o = out->s + out->len;
  }
#define EMIT(ch) do { if (o) o[olen] = (ch); olen++; } while (0)
  for (i = 0; i < n && !d->is_done; i++) {
    char c = p[i];
    switch (d->state) {
    case D_BOL:                      /* just after CR LF: only here is a dot special */
      if (c == '.') { d->state = D_DOT; continue; }
      break;
    case D_DOT:
      if (c == '\r') { d->state = D_DOTCR; continue; }
      if (c == '\n') {               /* "." + bare LF: not an end, the dot is text */
        EMIT('.');
        d->linelen = 1;
      }
      break;                         /* otherwise the stuffed dot goes */
    case D_DOTCR:
      if (c == '\n') { d->is_done = 1; continue; }
      EMIT('.');                     /* "." + bare CR: text, then a line break */
      EMIT('\r');
      d->linelen = 0;
      d->state = D_CR;
      /* fall through */
    case D_CR:
      if (c == '\n') {
        EMIT(c);
        d->state = D_BOL;
        d->linelen = 0;
        continue;
      }
      break;                         /* the CR was bare: already a line break */
    default:
      break;
    }
    /* Text.  A bare CR or LF ends the line for the length limit (queue-inject
       makes it CRLF) but never leads to D_BOL. */
    EMIT(c);
    if (c == '\r') { d->state = D_CR; d->linelen = 0; }
    else if (c == '\n') { d->state = D_TEXT; d->linelen = 0; }
    else {
      d->state = D_TEXT;
      if (++d->linelen > SMTPD_TEXT_LINE_MAX - 2) d->is_long = 1;
    }
  }
#undef EMIT
  d->size += olen;
  if (out) {
    out->len += olen;
    out->s[out->len] = 0;
  }
  return i;
}

int smtpd_b64_decode(struct buf *out, const char *p, size_t n)
{
  size_t i, pad = 0;
  int r;
  buf_trunc(out, 0);
  if (n == 1 && p[0] == '=') return buf_add(out, "", 0);
  if (n % 4) return errno = EINVAL, -1;
  for (i = 0; i < n; i++) {
    char c = p[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '+' || c == '/') {
      if (pad) return errno = EINVAL, -1;    /* data after padding */
    } else if (c == '=' && i + 2 >= n)
      pad++;
    else
      return errno = EINVAL, -1;
  }
  if (n > 0x7ffffff0 || buf_ready(out, n) == -1) return errno = ENOMEM, -1;
  if (n == 0) return buf_add(out, "", 0);
  r = EVP_DecodeBlock((unsigned char *)out->s, (const unsigned char *)p, (int)n);
  if (r < 0 || (size_t)r < pad) return errno = EINVAL, -1;
  out->len = (size_t)r - pad;
  out->s[out->len] = 0;
  return 0;
}

int smtpd_plain_split(const struct buf *b, const char **user, const char **pass)
{
  const char *s = b->s, *z1, *z2;
  size_t n = b->len;
  if (!s) return errno = EINVAL, -1;
  if (!(z1 = memchr(s, 0, n))) return errno = EINVAL, -1;
  if (!(z2 = memchr(z1 + 1, 0, n - (size_t)(z1 + 1 - s)))) return errno = EINVAL, -1;
  if (memchr(z2 + 1, 0, n - (size_t)(z2 + 1 - s))) return errno = EINVAL, -1;
  if (!smtpd_user_ok(z1 + 1, (size_t)(z2 - z1 - 1))) return errno = EINVAL, -1;
  /* No proxy authorisation: an authzid, if any, must name the user. */
  if (z1 != s && ((size_t)(z1 - s) != (size_t)(z2 - z1 - 1) || memcmp(s, z1 + 1, (size_t)(z1 - s))))
    return errno = EINVAL, -1;
  *user = z1 + 1;
  *pass = z2 + 1;                    /* b keeps a NUL after len */
  return 0;
}

int smtpd_user_ok(const char *u, size_t n)
{
  size_t i;
  if (n == 0 || n > SMTPD_USER_MAX) return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)u[i];
    if (c <= 0x20 || c == 0x7f) return 0;
  }
  return 1;
}

int smtpd_helo_ok(const char *h, size_t n)
{
  size_t i;
  if (n == 0 || n > SMTPD_HELO_MAX) return 0;
  for (i = 0; i < n; i++)
    if ((unsigned char)h[i] <= 0x20 || (unsigned char)h[i] >= 0x7f) return 0;
  return 1;
}

const char *smtpd_proto(int is_esmtp, int is_tls, int is_auth, int is_utf8)
{
  static const char *const esmtp[] = { "ESMTP", "ESMTPA", "ESMTPS", "ESMTPSA" };
  static const char *const utf8[] = { "UTF8SMTP", "UTF8SMTPA", "UTF8SMTPS", "UTF8SMTPSA" };
  int k = (is_tls ? 2 : 0) + (is_auth ? 1 : 0);
  if (!is_esmtp) return "SMTP";
  return is_utf8 ? utf8[k] : esmtp[k];
}

int smtpd_received(struct buf *b, enum smtpd_received style, const char *helo,
                   const char *rdns, const char *ip, const char *host,
                   const char *proto, time_t now)
{
  char date[64];
  struct tm tm;
  if (style == SMTPD_RCVD_NONE) return 0;
  if (!localtime_r(&now, &tm) || !strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm))
    return errno = EINVAL, -1;
  if (style == SMTPD_RCVD_SHORT)
    return buf_printf(b, "Received: from %s by %s; %s\r\n", helo, host, date);
  if (!ip || !*ip) ip = "unknown";
  if (!rdns || !*rdns) rdns = ip;
  return buf_printf(b, "Received: from %s (%s [%s%s])\r\n\tby %s with %s;\r\n\t%s\r\n",
                    helo, rdns, strchr(ip, ':') ? "IPv6:" : "", ip, host, proto, date);
}

int smtpd_slot_take(const char *dir, unsigned long n, unsigned long start)
{
  char path[4096];
  unsigned long k;
  for (k = 0; k < n; k++) {
    int fd, e;
    int r = snprintf(path, sizeof path, "%s/%lu", dir, (start + k) % n);
    if (r < 0 || (size_t)r >= sizeof path) return errno = ENAMETOOLONG, -1;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd == -1 && errno == ENOENT) {
      if (mkdir_p(dir, 0700) == -1) return -1;
      fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
    if (fd == -1) return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    e = errno;
    close(fd);
    if (e != EWOULDBLOCK) return errno = e, -1;
  }
  return errno = EBUSY, -1;
}
