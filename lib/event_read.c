/* event_read.c: reading the events of one message (event_by_id, through
   the event_id index, records read in the same transaction) and of a
   time range (event_range, a scan of every composition of the tenant
   merged in time order).  See event.h. */
#include <errno.h>
#include <string.h>
#include "event.h"
#include "event_key.h"

/* ---------- by message ---------- */

struct byid {
  struct tbl *t;
  struct tbl_txn *x;
  const char *tenant;
  const char *prefix;
  size_t prefixn;
  struct buf keys;                 /* COMP \0 TS ... */
};

static int byid_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct byid *b = ctx;
  size_t cn = strnlen(v, vn);
  if (kn != b->prefixn + EVENT_TS || memcmp(k, b->prefix, b->prefixn)) return 1;  /* past it */
  if (cn == vn) return 0;
  if (buf_add(&b->keys, v, cn + 1) == -1
      || buf_add(&b->keys, (const char *)k + b->prefixn, EVENT_TS) == -1)
    return -1;
  return 0;
}

int event_by_id(struct tbl *t, const char *tenant, const char *id, event_fn *fn, void *ctx)
{
  struct byid b;
  struct buf prefix = BUF_ZERO, key = BUF_ZERO, val = BUF_ZERO, scratch = BUF_ZERO;
  struct event e;
  size_t i;
  int r;
  memset(&b, 0, sizeof b);
  if (!evk_name_ok(tenant) || !id) return errno = EINVAL, -1;
  if (buf_addz(&prefix, tenant) == -1 || buf_addz(&prefix, id) == -1) return -1;
  b.t = t;
  b.tenant = tenant;
  b.prefix = prefix.s;
  b.prefixn = prefix.len;
  /* Index and records read in one transaction: one locker, one view. */
  r = tbl_begin(t, &b.x);
  if (r == 0) {
    r = tbl_walk(t, b.x, EVT_ID, prefix.s, prefix.len, 0, byid_one, &b);
    for (i = 0; r >= 0 && i < b.keys.len;) {
      const char *comp = b.keys.s + i;
      size_t cn = strlen(comp);
      if (evk_part(&key, tenant, comp) == -1
          || buf_add(&key, b.keys.s + i + cn + 1, EVENT_TS) == -1) {
        r = -1;
        break;
      }
      i += cn + 1 + EVENT_TS;
      r = tbl_get(t, b.x, EVT_EVENT, key.s, key.len, &val);
      if (r == 1) continue;        /* purged between index and record */
      if (r == -1) break;
      if (event_decode(&e, val.s, val.len, &scratch) == -1) continue;
      r = fn(ctx, &e);
      if (r) {
        r = r < 0 ? -1 : r + 2;
        break;
      }
    }
    if (r < 0) tbl_abort(b.x);
    else if (tbl_commit(b.x) == -1) r = -1;
  }
  buf_free(&prefix);
  buf_free(&b.keys);
  buf_free(&key);
  buf_free(&val);
  buf_free(&scratch);
  if (r == 1 || r == 0) return 0;
  return r > 2 ? r - 2 : r;
}

struct comps {
  struct buf list;
};

static int comp_one(void *ctx, const char *name)
{
  struct comps *c = ctx;
  return buf_addz(&c->list, name) == -1 ? -1 : 0;
}

int event_range(struct tbl *t, const char *tenant, long long from, long long to,
                int reverse, event_fn *fn, void *ctx)
{
  struct event_scan *s;
  struct comps c;
  struct event e;
  size_t i;
  int r;
  memset(&c, 0, sizeof c);
  if (!evk_name_ok(tenant)) return errno = EINVAL, -1;
  from = evk_clamp(from);
  to = evk_clamp(to);
  if (event_comps(t, tenant, comp_one, &c) == -1) return -1;
  if (event_scan_new(&s, t, tenant, from, to + 1, !reverse) == -1) {
    buf_free(&c.list);
    return -1;
  }
  r = 0;
  for (i = 0; i < c.list.len && r == 0; i += strlen(c.list.s + i) + 1)
    r = event_scan_add(s, EVENT_IX_TIME, c.list.s + i, 0);
  while (r == 0 && (r = event_scan_next(s, &e)) == 1) {
    r = fn(ctx, &e);
    if (r < 0) r = -1;
    else if (r > 0) r += 1;        /* > 1: fn stopped us */
  }
  event_scan_free(s);
  buf_free(&c.list);
  return r > 1 ? r - 1 : r;
}
