/* event.c: delivery events in tables "event" and "event_id" (see event.h,
   doc/tables.md).
     event     key  TENANT \0 TIMESEQ            value  the record below
     event_id  key  TENANT \0 ID \0 TIMESEQ      value  empty
   TIMESEQ is "%012lld.%06u.%020llu" (seconds, microseconds, sequence), so
   byte order is time order and a tenant's time range is one cursor walk.
   The record: "1" (format version) \0 time \0 usec \0 status \0 error \0
   then the 14 strings of struct event in declaration order, each \0-ended. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "event.h"

#define EVENT_FIELDS 19
#define EVENT_TEXT_MAX 2048      /* subject, reply and the like are cut here */
#define TIMESEQ_LEN 40           /* 12 + 1 + 6 + 1 + 20 */
#define TIME_MAX 999999999999LL  /* 12 digits keep byte order = time order */

static const char *const names[] = { 0, "queued", "succeeded", "failed", "deferred" };

const char *event_status_name(enum event_status s)
{
  if (s >= EV_QUEUED && s <= EV_DEFERRED) return names[s];
  return "unknown";
}

int event_status_parse(const char *s)
{
  int i;
  for (i = EV_QUEUED; i <= EV_DEFERRED; i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

/* Add s (0 = "") with its NUL, cut at EVENT_TEXT_MAX on a UTF-8
   character boundary: an event is never lost to a long text. */
static int addfield(struct buf *b, const char *s)
{
  size_t n;
  if (!s) s = "";
  n = strlen(s);
  if (n > EVENT_TEXT_MAX) {
    n = EVENT_TEXT_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
  }
  if (buf_add(b, s, n) == -1) return -1;
  return buf_addc(b, 0);
}

static long long clamp(long long t)
{
  return t < 0 ? 0 : t > TIME_MAX ? TIME_MAX : t;
}

static int tenant_ok(const char *s)
{
  return s && *s && strlen(s) <= 64 && !strchr(s, '\n');
}

int event_add(struct tbl *t, struct tbl_txn *x, const struct event *e)
{
  struct buf rec = BUF_ZERO, key = BUF_ZERO, idx = BUF_ZERO;
  char ts[64];
  long long tm = clamp(e->time);
  int r = -1, tries;
  if (!tenant_ok(e->tenant) || !e->id || !*e->id
      || e->status < EV_QUEUED || e->status > EV_DEFERRED)
    return errno = EINVAL, -1;
  if (buf_printf(&rec, "1%c%lld%c%u%c%d%c%d%c", 0, tm, 0, e->usec % 1000000, 0,
                 (int)e->status, 0, e->error, 0) == -1
      || addfield(&rec, e->tenant) == -1 || addfield(&rec, e->composition) == -1
      || addfield(&rec, e->id) == -1 || addfield(&rec, e->message_id) == -1
      || addfield(&rec, e->sender) == -1 || addfield(&rec, e->from) == -1
      || addfield(&rec, e->rcpt) == -1 || addfield(&rec, e->subject) == -1
      || addfield(&rec, e->api_data) == -1 || addfield(&rec, e->reply) == -1
      || addfield(&rec, e->remote) == -1 || addfield(&rec, e->sender_ip) == -1
      || addfield(&rec, e->source_ip) == -1 || addfield(&rec, e->user) == -1)
    goto out;
  /* The sequence is unique among live processes (tbl_uniq); the add
     refuses a duplicate anyway, and then the next number is taken. */
  for (tries = 0; tries < 8; tries++) {
    snprintf(ts, sizeof ts, "%012lld.%06u.%020llu", tm, e->usec % 1000000, tbl_uniq(t));
    buf_trunc(&key, 0);
    if (buf_addz(&key, e->tenant) == -1 || buf_adds(&key, ts) == -1) goto out;
    r = tbl_add(t, x, "event", key.s, key.len, rec.s, rec.len);
    if (r != 1) break;
  }
  if (r != 0) {
    if (r == 1) errno = EEXIST, r = -1;
    goto out;
  }
  if (buf_addz(&idx, e->tenant) == -1 || buf_addz(&idx, e->id) == -1
      || buf_adds(&idx, ts) == -1) {
    r = -1;
    goto out;
  }
  r = tbl_put(t, x, "event_id", idx.s, idx.len, "", 0);
out:
  buf_free(&rec);
  buf_free(&key);
  buf_free(&idx);
  return r;
}

static int num(const char *s, long long *v)
{
  char *end;
  if (!*s) return -1;
  errno = 0;
  *v = strtoll(s, &end, 10);
  return errno || *end ? -1 : 0;
}

int event_decode(struct event *e, const void *v, size_t vn, struct buf *scratch)
{
  const char *f[EVENT_FIELDS];
  const char *p, *end;
  long long n[4];
  int i;
  if (buf_set(scratch, v, vn) == -1) return -1;
  p = scratch->s;
  end = p + scratch->len;
  for (i = 0; i < EVENT_FIELDS; i++) {
    const char *z = memchr(p, 0, (size_t)(end - p));
    if (!z) return errno = EINVAL, -1;
    f[i] = p;
    p = z + 1;
  }
  /* Fields beyond ours belong to a later format: ignored. */
  if (strcmp(f[0], "1")) return errno = EINVAL, -1;
  for (i = 0; i < 4; i++)
    if (num(f[i + 1], &n[i]) == -1) return errno = EINVAL, -1;
  if (n[1] < 0 || n[1] > 999999 || n[2] < EV_QUEUED || n[2] > EV_DEFERRED
      || n[3] < 0 || n[3] > 999)
    return errno = EINVAL, -1;
  e->time = n[0];
  e->usec = (unsigned)n[1];
  e->status = (enum event_status)n[2];
  e->error = (int)n[3];
  e->tenant = f[5];
  e->composition = f[6];
  e->id = f[7];
  e->message_id = f[8];
  e->sender = f[9];
  e->from = f[10];
  e->rcpt = f[11];
  e->subject = f[12];
  e->api_data = f[13];
  e->reply = f[14];
  e->remote = f[15];
  e->sender_ip = f[16];
  e->source_ip = f[17];
  e->user = f[18];
  return 0;
}

struct byid {
  struct tbl *t;
  struct tbl_txn *x;
  const char *prefix;
  size_t prefixn, tenantn;
  struct buf key, val, scratch;
  event_fn *fn;
  void *ctx;
};

/* One index entry: fetch the record its key names, hand it on. */
static int byid_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct byid *b = ctx;
  struct event e;
  int r;
  (void)v; (void)vn;
  if (kn < b->prefixn || memcmp(k, b->prefix, b->prefixn)) return 1;  /* past it */
  buf_trunc(&b->key, 0);
  if (buf_add(&b->key, b->prefix, b->tenantn) == -1
      || buf_add(&b->key, (const char *)k + b->prefixn, kn - b->prefixn) == -1)
    return -1;
  r = tbl_get(b->t, b->x, "event", b->key.s, b->key.len, &b->val);
  if (r == 1) return 0;           /* purged between index and record */
  if (r == -1) return -1;
  if (event_decode(&e, b->val.s, b->val.len, &b->scratch) == -1) return 0;
  r = b->fn(b->ctx, &e);
  return r < 0 ? -1 : r > 0 ? 2 + r : 0;
}

int event_by_id(struct tbl *t, const char *tenant, const char *id, event_fn *fn, void *ctx)
{
  struct byid b;
  struct buf prefix = BUF_ZERO;
  int r;
  memset(&b, 0, sizeof b);
  if (buf_addz(&prefix, tenant) == -1 || buf_addz(&prefix, id) == -1) return -1;
  b.t = t;
  b.prefix = prefix.s;
  b.prefixn = prefix.len;
  b.tenantn = strlen(tenant) + 1;
  b.fn = fn;
  b.ctx = ctx;
  /* Index and records read in one transaction: one locker, one view. */
  r = tbl_begin(t, &b.x);
  if (r == 0) {
    r = tbl_walk(t, b.x, "event_id", prefix.s, prefix.len, 0, byid_one, &b);
    if (r < 0) tbl_abort(b.x);
    else if (tbl_commit(b.x) == -1) r = -1;
  }
  buf_free(&prefix);
  buf_free(&b.key);
  buf_free(&b.val);
  buf_free(&b.scratch);
  if (r == 1) return 0;           /* the walk left the prefix */
  return r > 2 ? r - 2 : r;
}

struct range {
  const char *prefix;
  size_t prefixn;
  char to[64];
  int reverse;
  struct buf scratch;
  event_fn *fn;
  void *ctx;
};

static int range_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct range *g = ctx;
  struct event e;
  size_t tn;
  int c, r;
  if (kn < g->prefixn || memcmp(k, g->prefix, g->prefixn)) return 1;
  tn = kn - g->prefixn;
  c = memcmp((const char *)k + g->prefixn, g->to, tn < TIMESEQ_LEN ? tn : TIMESEQ_LEN);
  if (g->reverse ? c < 0 : c > 0) return 1;
  if (event_decode(&e, v, vn, &g->scratch) == -1) return 0;
  r = g->fn(g->ctx, &e);
  return r < 0 ? -1 : r > 0 ? 2 + r : 0;
}

int event_range(struct tbl *t, const char *tenant, long long from, long long to,
                int reverse, event_fn *fn, void *ctx)
{
  struct range g;
  struct buf start = BUF_ZERO;
  char ts[64];
  long long a = clamp(from), z = clamp(to);
  int r;
  memset(&g, 0, sizeof g);
  if (!tenant_ok(tenant)) return errno = EINVAL, -1;
  if (reverse) {
    long long s = a; a = z; z = s;
  }
  /* Walking up: start at FROM.000000.0 and stop after TO.999999.max;
     down: the other way round. */
  snprintf(ts, sizeof ts, reverse ? "%012lld.999999.99999999999999999999"
                                  : "%012lld.000000.00000000000000000000", a);
  snprintf(g.to, sizeof g.to, reverse ? "%012lld.000000.00000000000000000000"
                                      : "%012lld.999999.99999999999999999999", z);
  if (buf_addz(&start, tenant) == -1 || buf_adds(&start, ts) == -1) return -1;
  g.prefix = start.s;
  g.prefixn = strlen(tenant) + 1;
  g.reverse = reverse;
  g.fn = fn;
  g.ctx = ctx;
  r = tbl_walk(t, 0, "event", start.s, start.len, reverse, range_one, &g);
  buf_free(&start);
  buf_free(&g.scratch);
  if (r == 1) return 0;
  return r > 2 ? r - 2 : r;
}
