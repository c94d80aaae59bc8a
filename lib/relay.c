/* relay.c: smtp-recv's relay decision (relay.h): the tenant by IP or by
   SMTP AUTH, the receiving server's recipients, the Received mode.  Reads
   the access snapshot only; writes nothing but the SASL challenges. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "relay.h"
#include "verp.h"

void relay_init(struct relay *r, const struct access *acc, const char *host, int is_mx)
{
  memset(r, 0, sizeof *r);
  r->acc = acc;
  r->host = host;
  r->is_mx = is_mx;
}

int relay_client(struct relay *r, const char *ip)
{
  const char *t, *c;
  if (r->is_mx || !*ip || access_by_ip(r->acc, ip, &t, &c) != 1) return 0;
  r->ip_tenant = r->tenant = t;
  r->ip_comp = r->comp = c;
  return 1;
}

void relay_restart(struct relay *r)
{
  r->is_auth = 0;
  r->tenant = r->ip_tenant;
  r->comp = r->ip_comp;
}

void relay_tx_reset(struct relay *r)
{
  r->mx_tenant = r->mx_comp = 0;
}

/* -m: whose bounce domain is domain?  A composition's setting
   bounce_domain (the snapshot's bounce lines), else the default
   return.TENANT.HOSTNAME (the name goes to name).  1 with *tenant, *comp
   set, or 0. */
static int bounce_domain(const struct relay *r, const char *domain, const char **tenant,
                         const char **comp, char name[TENANT_NAME_MAX + 1])
{
  size_t hl = strlen(r->host), dl = strlen(domain), tl;
  if (access_bounce(r->acc, domain, tenant, comp) > 0) return 1;
  if (dl < 7 + 2 + hl || strncasecmp(domain, "return.", 7) || domain[dl - hl - 1] != '.'
      || strcasecmp(domain + dl - hl, r->host))
    return 0;
  tl = dl - hl - 1 - 7;
  if (tl > TENANT_NAME_MAX) return 0;
  memcpy(name, domain + 7, tl);
  name[tl] = 0;
  for (dl = 0; dl < tl; dl++)
    if (name[dl] >= 'A' && name[dl] <= 'Z') name[dl] = (char)(name[dl] - 'A' + 'a');
  if (!tenant_name_ok(name)) return 0;
  *tenant = name;
  *comp = "default";
  return 1;
}

static const char *mx_rcpt(struct relay *r, const char *addr)
{
  char id[VERP_ID_MAX + 1], mac[VERP_MAC_LEN + 1], name[TENANT_NAME_MAX + 1];
  const char *dom, *at = strrchr(addr, '@'), *t, *c;
  size_t ll;
  if (!at || !bounce_domain(r, at + 1, &t, &c, name)) {
    snprintf(r->no, sizeof r->no, "554 5.7.1 <%.400s>: Relay access denied", addr);
    return r->no;
  }
  ll = (size_t)(at - addr);
  if (verp_parse(addr, id, mac, &dom) == -1
      && !(ll == 10 && !strncasecmp(addr, "postmaster", 10))
      && !(ll == 5 && !strncasecmp(addr, "abuse", 5))
      && !(ll == 11 && !strncasecmp(addr, "unsubscribe", 11))) {
    snprintf(r->no, sizeof r->no, "550 5.1.1 <%.400s>: Recipient address rejected: User unknown", addr);
    return r->no;
  }
  if (!r->mx_tenant) {
    if (t == name) {
      memcpy(r->mx_name, name, sizeof r->mx_name);
      t = r->mx_name;
    }
    r->mx_tenant = t;
    r->mx_comp = c;
  }
  return 0;
}

/* The one place where the mode decides: relaying needs a tenant, -m a
   bounce domain, per recipient. */
const char *relay_rcpt(struct relay *r, const char *addr)
{
  if (r->is_mx) return mx_rcpt(r, addr);
  if (r->tenant) return 0;
  snprintf(r->no, sizeof r->no, "554 5.7.1 <%.400s>: Relay access denied", addr);
  return r->no;
}

static enum relay_auth no(struct relay *r, const char *reply)
{
  snprintf(r->no, sizeof r->no, "%s", reply);
  return RELAY_AUTH_NO;
}

/* One SASL response line, decoded into b.  RELAY_AUTH_OK, or the
   exchange is over (cancelled, undecodable, or the client gone). */
static enum relay_auth sasl_read(struct relay *r, struct tls *io, struct buf *line, struct buf *b)
{
  size_t n;
  int k = tls_getline(io, line, SMTPD_AUTH_LINE_MAX);
  if (k == -1 && errno == E2BIG) return no(r, "500 5.5.2 Line too long");
  if (k == -1) return RELAY_AUTH_READ;
  if (k == 0) return RELAY_AUTH_EOF;
  n = line->len;
  if (n && line->s[n - 1] == '\n') n--;
  if (n && line->s[n - 1] == '\r') n--;
  if (n == 1 && line->s[0] == '*') return no(r, "501 5.7.0 Authentication aborted");
  if (smtpd_b64_decode(b, line->s, n) == -1) return no(r, "501 5.5.2 Cannot decode response");
  return RELAY_AUTH_OK;
}

/* The initial response if the client gave one, else a challenge and the
   answer to it. */
static enum relay_auth sasl_first(struct relay *r, struct tls *io, const char *ir, size_t irlen,
                                  const char *challenge, struct buf *line, struct buf *b)
{
  if (ir) {
    if (smtpd_b64_decode(b, ir, irlen) == 0) return RELAY_AUTH_OK;
    return no(r, "501 5.5.2 Cannot decode response");
  }
  if (tls_puts(io, challenge) == -1 || tls_puts(io, "\r\n") == -1) return RELAY_AUTH_WRITE;
  return sasl_read(r, io, line, b);
}

enum relay_auth relay_auth(struct relay *r, struct tls *io, const char *arg, size_t len,
                           struct buf *line, struct buf *b1, struct buf *b2)
{
  const char *ir = 0, *user = 0, *pass = 0, *tenant, *comp;
  size_t mlen = 0, irlen = 0;
  enum relay_auth k;
  int is_plain;
  while (mlen < len && arg[mlen] != ' ' && arg[mlen] != '\t') mlen++;
  if (mlen < len) {
    ir = arg + mlen;
    irlen = len - mlen;
    while (irlen && (*ir == ' ' || *ir == '\t')) { ir++; irlen--; }
  }
  if (mlen == 5 && strncasecmp(arg, "PLAIN", 5) == 0) is_plain = 1;
  else if (mlen == 5 && strncasecmp(arg, "LOGIN", 5) == 0) is_plain = 0;
  else return no(r, "504 5.5.4 Unrecognized authentication type");
  if (is_plain) {
    if ((k = sasl_first(r, io, ir, irlen, "334 ", line, b1)) != RELAY_AUTH_OK) return k;
    if (smtpd_plain_split(b1, &user, &pass) == -1) user = 0;
  } else {
    if ((k = sasl_first(r, io, ir, irlen, "334 VXNlcm5hbWU6", line, b2)) != RELAY_AUTH_OK) return k;
    if (tls_puts(io, "334 UGFzc3dvcmQ6") == -1 || tls_puts(io, "\r\n") == -1) return RELAY_AUTH_WRITE;
    if ((k = sasl_read(r, io, line, b1)) != RELAY_AUTH_OK) return k;
    if (smtpd_user_ok(b2->s, b2->len) && !memchr(b1->s, 0, b1->len)) {
      user = b2->s;
      pass = b1->s;
    }
  }
  if (!user || access_by_user(r->acc, user, pass, &tenant, &comp) != 1)
    return no(r, "535 5.7.8 Authentication credentials invalid");
  r->is_auth = 1;
  snprintf(r->user, sizeof r->user, "%s", user);
  r->tenant = tenant;
  r->comp = comp;
  return RELAY_AUTH_OK;
}

enum smtpd_received relay_received(const struct relay *r, enum smtpd_received def)
{
  const char *m = access_received(r->acc, r->tenant, r->comp);
  if (!m) return def;
  if (!strcmp(m, "normal")) return SMTPD_RCVD_NORMAL;
  if (!strcmp(m, "abbreviated")) return SMTPD_RCVD_SHORT;
  return SMTPD_RCVD_NONE;
}

void relay_envelope(const struct relay *r, struct envelope *e)
{
  e->tenant = r->is_mx ? r->mx_tenant : r->tenant;
  e->composition = r->is_mx ? r->mx_comp : r->comp;
  e->is_bounce = r->is_mx;
  e->user = r->is_auth ? r->user : 0;
}
