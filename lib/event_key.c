/* event_key.c: the keys of the event tables (event_key.h, doc/tables.md):
   time stamps, partitions, index keys and values, counter rows and their
   keys, the address table's suffix keys, and the head of a record read
   without decoding it.  Pure functions on buffers: no table is opened
   here, so the writer (event.c), the scans, the purge and the check
   build every key the same way. */
#include <string.h>
#include "event.h"
#include "event_key.h"

#define STAT_USER_MAX 128        /* API user names (tenant.h) are at most this */

/* ---------- keys ---------- */

void evk_ts(unsigned char *ts, long long us, unsigned long long seq)
{
  unsigned long long u = us < 0 ? 0 : (unsigned long long)us;
  int i;
  for (i = 7; i >= 0; i--, u >>= 8) ts[i] = (unsigned char)(u & 0xff);
  for (i = 15; i >= 8; i--, seq >>= 8) ts[i] = (unsigned char)(seq & 0xff);
}

long long evk_ts_us(const unsigned char *ts)
{
  unsigned long long u = 0;
  int i;
  for (i = 0; i < 8; i++) u = u << 8 | ts[i];
  return (long long)(u & 0x7fffffffffffffffULL);
}

int evk_name_ok(const char *s)
{
  size_t i;
  if (!s || !*s) return 0;
  for (i = 0; s[i]; i++)
    if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || i == 64) return 0;
  return 1;
}

int evk_part(struct buf *k, const char *tenant, const char *comp)
{
  buf_trunc(k, 0);
  if (buf_addz(k, tenant) == -1 || buf_addz(k, comp) == -1) return -1;
  return 0;
}

int evk_lower(struct buf *b, const char *s)
{
  size_t n = strlen(s), i;
  if (buf_ready(b, n) == -1) return -1;
  for (i = 0; i < n; i++) {
    char c = s[i];
    b->s[b->len + i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
  }
  b->len += n;
  b->s[b->len] = 0;
  return 0;
}

const char *evk_domain(const char *addr)
{
  const char *at = strrchr(addr, '@');
  return at ? at + 1 : "";
}

int evk_ixval(struct buf *v, int status, int error)
{
  buf_trunc(v, 0);
  if (buf_addc(v, (char)('0' + status)) == -1) return -1;
  return error ? buf_printf(v, "%d", error) : 0;
}

int evk_ixval_parse(const void *vp, size_t vn, int *status, int *error)
{
  const char *v = vp;
  size_t i;
  int e = 0;
  if (vn < 1 || vn > 4 || v[0] < '1' || v[0] > '4') return -1;
  for (i = 1; i < vn; i++) {
    if (v[i] < '0' || v[i] > '9') return -1;
    e = e * 10 + (v[i] - '0');
  }
  *status = v[0] - '0';
  *error = e;
  return 0;
}

int evk_counts_encode(struct buf *v, const struct event_counts *c)
{
  int i;
  buf_trunc(v, 0);
  if (buf_addz(v, "1") == -1) return -1;
  for (i = 0; i < EVC_N; i++)
    if (buf_addu(v, c->n[i]) == -1 || buf_addc(v, 0) == -1) return -1;
  return 0;
}

int evk_counts_decode(struct event_counts *c, const void *vp, size_t vn)
{
  const char *p = vp, *end = p + vn;
  int i;
  memset(c, 0, sizeof *c);
  if (vn < 2 || memcmp(p, "1", 2)) return -1;
  p += 2;
  /* Counters a later format adds are ignored; missing ones stay 0. */
  for (i = 0; i < EVC_N && p < end; i++) {
    unsigned long long u = 0;
    while (p < end && *p >= '0' && *p <= '9') u = u * 10 + (unsigned long long)(*p++ - '0');
    if (p == end || *p) return -1;
    c->n[i] = u;
    p++;
  }
  return 0;
}

/* TENANT \0 KIND SLOT \0 [DOMAIN \0] COMP \0 USER */
int evk_statkey(struct buf *k, const char *tenant, int kind, long long slot,
                const char *domain, const char *comp, const char *user)
{
  size_t un = strlen(user);
  buf_trunc(k, 0);
  if (buf_addz(k, tenant) == -1 || buf_printf(k, "%c%012lld", kind, slot) == -1
      || buf_addc(k, 0) == -1)
    return -1;
  if (kind == EVENT_SLOT_DOMAIN && buf_addz(k, domain) == -1) return -1;
  if (un > STAT_USER_MAX) un = STAT_USER_MAX;
  if (buf_addz(k, comp) == -1 || buf_add(k, user, un) == -1) return -1;
  return 0;
}

long long evk_clamp(long long t)
{
  return t < 0 ? 0 : t > EVENT_TIME_MAX ? EVENT_TIME_MAX : t;
}

int evk_head(const void *v, size_t vn, long long *time, int *status, int *error)
{
  const char *p = v, *end = p + vn;
  long long n[5];
  int i;
  for (i = 0; i < 5; i++) {
    long long x = 0;
    int any = 0, neg = 0;
    if (p < end && *p == '-') neg = 1, p++;
    while (p < end && *p >= '0' && *p <= '9' && x < 1000000000000000LL)
      x = x * 10 + (*p++ - '0'), any = 1;
    if (p == end || *p || !any) return -1;
    n[i] = neg ? -x : x;
    p++;
  }
  if (n[0] != 1 || n[3] < EV_QUEUED || n[3] > EV_DEFERRED) return -1;
  *time = n[1];
  *status = (int)n[3];
  *error = (int)n[4];
  return 0;
}

/* ---------- index entries ---------- */

/* k = P TYPE VALUE \0 TS, or P TYPE TS when value is 0. */
static int ixkey(struct buf *k, const char *tenant, const char *comp, int type,
                 const char *value, const unsigned char *ts)
{
  if (evk_part(k, tenant, comp) == -1 || buf_addc(k, (char)type) == -1) return -1;
  if (value && buf_addz(k, value) == -1) return -1;
  return buf_add(k, ts, EVENT_TS);
}

/* ---------- the write path ---------- */

/* The index entries of a record, computed from the record as stored (so
   that the writer, the purge and the check agree on every key). */
int evk_ents_build(struct evk_ents *x, const struct event *e, const unsigned char *ts)
{
  const char *tenant = e->tenant, *comp = e->composition;
  struct evk_ent *n;
  x->n = 0;
  buf_trunc(&x->rcpt, 0);
  buf_trunc(&x->sender, 0);
  if (evk_lower(&x->rcpt, e->rcpt) == -1 || evk_lower(&x->sender, e->sender) == -1) return -1;
  x->domain = evk_domain(x->rcpt.s);
  /* By our message id (tenant-wide): the composition and status ride along. */
  n = &x->e[x->n++];
  n->table = EVT_ID;
  buf_trunc(&n->k, 0);
  buf_trunc(&n->v, 0);
  if (buf_addz(&n->k, tenant) == -1 || buf_addz(&n->k, e->id) == -1
      || buf_add(&n->k, ts, EVENT_TS) == -1 || buf_addz(&n->v, comp) == -1
      || buf_addc(&n->v, (char)('0' + e->status)) == -1)
    return -1;
  if (x->rcpt.len) {
    n = &x->e[x->n++];
    n->table = EVT_IX;
    if (ixkey(&n->k, tenant, comp, IX_RCPT, x->rcpt.s, ts) == -1
        || evk_ixval(&n->v, (int)e->status, e->error) == -1)
      return -1;
  }
  if (*x->domain) {
    n = &x->e[x->n++];
    n->table = EVT_IX;
    if (ixkey(&n->k, tenant, comp, IX_DOMAIN, x->domain, ts) == -1
        || evk_ixval(&n->v, (int)e->status, e->error) == -1)
      return -1;
  }
  n = &x->e[x->n++];
  n->table = EVT_IX;
  if (ixkey(&n->k, tenant, comp, IX_SENDER, x->sender.s, ts) == -1
      || evk_ixval(&n->v, (int)e->status, e->error) == -1)
    return -1;
  if (e->status == EV_FAILED || e->status == EV_DEFERRED) {
    n = &x->e[x->n++];
    n->table = EVT_IX;
    buf_trunc(&n->v, 0);
    if (ixkey(&n->k, tenant, comp, e->status == EV_FAILED ? IX_FAILED : IX_DEFERRED, 0, ts) == -1
        || (e->error && buf_printf(&n->v, "%d", e->error) == -1))
      return -1;
  }
  return 0;
}

void evk_ents_free(struct evk_ents *x)
{
  size_t i;
  for (i = 0; i < sizeof x->e / sizeof x->e[0]; i++) {
    buf_free(&x->e[i].k);
    buf_free(&x->e[i].v);
  }
  buf_free(&x->rcpt);
  buf_free(&x->sender);
}

int evk_midkey(struct buf *k, const struct event *e)
{
  buf_trunc(k, 0);
  if (!*e->message_id) return 1;
  if (buf_addz(k, e->tenant) == -1 || buf_addz(k, e->message_id) == -1
      || buf_adds(k, e->id) == -1)
    return -1;
  return 0;
}

/* The address table: the suffixes of a recipient that start at every
   EVENT_ADDR_STEP-th position of its local part (and just past it), so
   that a substring search is a few prefix walks (event_addr_find); a
   substring inside "@DOMAIN" is found through the partition's domains. */
size_t evk_addr_positions(const char *rcpt)
{
  size_t n = strlen(rcpt), end;
  const char *at = strrchr(rcpt, '@');
  if (n > EVENT_ADDR_SUFFIX_MAX || n == 0) return 1;
  end = (at ? (size_t)(at - rcpt) : n) + EVENT_ADDR_STEP;
  if (end > n) end = n;
  return (end + EVENT_ADDR_STEP - 1) / EVENT_ADDR_STEP;
}

int evk_addr_key(struct buf *k, const char *tenant, const char *comp, const char *rcpt, size_t j)
{
  size_t i = j * EVENT_ADDR_STEP;
  if (evk_part(k, tenant, comp) == -1 || buf_addc(k, ADDR_SUFFIX) == -1
      || buf_addz(k, rcpt + i) == -1 || buf_add(k, rcpt, i) == -1)
    return -1;
  return 0;
}

int evk_addr_other(struct buf *k, const char *tenant, const char *comp, int type, const char *s)
{
  if (evk_part(k, tenant, comp) == -1 || buf_addc(k, (char)type) == -1 || buf_adds(k, s) == -1)
    return -1;
  return 0;
}

void evk_count(struct event_counts *c, int status, int error, int late)
{
  switch (status) {
  case EV_QUEUED: c->n[EVC_QUEUED]++; break;
  case EV_SUCCEEDED: c->n[EVC_SUCCEEDED]++; break;
  case EV_DEFERRED: c->n[EVC_DEFERRED]++; break;
  case EV_FAILED:
    c->n[EVC_ERR + event_err_index(error)]++;
    if (evk_is_blocked(status, error)) c->n[EVC_BLOCKED]++;
    else if (late) c->n[EVC_LATE]++;
    else c->n[EVC_FAILED]++;
    break;
  }
}

int evk_is_blocked(int status, int error)
{
  return status == EV_FAILED && (error == ERR_SUPPRESSED || error == ERR_UNSUBSCRIBED);
}

struct any {
  const void *prefix;
  size_t prefixn;
  int found;
};

static int any_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct any *a = ctx;
  (void)v; (void)vn;
  a->found = kn >= a->prefixn && !memcmp(k, a->prefix, a->prefixn);
  return 1;
}

int evk_any(struct tbl *t, struct tbl_txn *x, const char *table, const void *prefix, size_t n)
{
  struct any a;
  a.prefix = prefix;
  a.prefixn = n;
  a.found = 0;
  if (tbl_walk(t, x, table, prefix, n, 0, any_one, &a) < 0) return -1;
  return a.found;
}
