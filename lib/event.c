/* event.c: delivery events: the record and the write path (record,
   index entries, address table, counters, all in one transaction), and
   the same entries for loaders in key order (see event.h).
   The record: "1" (format version) \0 time \0 usec \0 status \0 error \0
   then the 14 strings of struct event in declaration order, each \0-ended.
   Keys: event_key.c; reads by message and time: event_read.c; scans:
   event_scan.c; counters, listings and look-ups: event_list.c; purge:
   event_purge.c; checks: event_verify.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "event.h"
#include "event_key.h"

#define EVENT_FIELDS 19
#define EVENT_TEXT_MAX 2048      /* subject, reply and the like are cut here */

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

int event_err_index(int error)
{
  return error >= 1 && error <= 11 ? error - 1 : 11;
}

int event_err_code(int i)
{
  return i >= 0 && i <= 10 ? i + 1 : ERR_OTHER;
}

/* ---------- the record ---------- */

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

struct add {
  struct buf rec, key, k2, tmp, lc, scratch, other;
  struct evk_ents ents;
  struct evk_map *acc;             /* counters of event_add_many, or 0 */
  struct evk_map *done;            /* keys event_add_many saw to, or 0 */
};

static void add_free(struct add *a)
{
  buf_free(&a->rec);
  buf_free(&a->key);
  buf_free(&a->k2);
  buf_free(&a->tmp);
  buf_free(&a->lc);
  buf_free(&a->scratch);
  buf_free(&a->other);
  evk_ents_free(&a->ents);
}

/* 1 if key k of table was looked at (and made to exist) by an earlier
   event of this event_add_many call, so need not be again; 0 (noted now). */
static int seen(struct add *a, const char *table, const struct buf *k)
{
  int created;
  buf_trunc(&a->lc, 0);
  if (!a->done) return 0;
  if (buf_addz(&a->lc, table) == -1 || buf_add(&a->lc, k->s, k->len) == -1
      || !evk_map_get(a->done, a->lc.s, a->lc.len, &created))
    return -1;
  return !created;
}

static int add_address(struct tbl *t, struct tbl_txn *x, struct add *a, const char *tenant,
                       const char *comp, const char *rcpt, const char *domain)
{
  size_t i, last = evk_addr_positions(rcpt);
  int r;
  if (evk_addr_key(&a->k2, tenant, comp, rcpt, 0) == -1) return -1;
  if ((r = seen(a, EVT_ADDR, &a->k2)) != 0) return r == 1 ? 0 : -1;
  r = tbl_get(t, x, EVT_ADDR, a->k2.s, a->k2.len, &a->tmp);
  if (r != 1) return r;            /* known already (0), or -1 */
  for (i = 0; i < last; i++) {
    if (evk_addr_key(&a->k2, tenant, comp, rcpt, i) == -1
        || tbl_put(t, x, EVT_ADDR, a->k2.s, a->k2.len, "", 0) == -1)
      return -1;
  }
  if (strlen(rcpt) > EVENT_ADDR_SUFFIX_MAX
      && (evk_addr_other(&a->k2, tenant, comp, ADDR_LONG, rcpt) == -1
          || tbl_put(t, x, EVT_ADDR, a->k2.s, a->k2.len, "", 0) == -1))
    return -1;
  /* A new recipient may bring a new domain. */
  if (*domain) {
    if (evk_addr_other(&a->k2, tenant, comp, ADDR_DOMAIN, domain) == -1) return -1;
    r = tbl_get(t, x, EVT_ADDR, a->k2.s, a->k2.len, &a->tmp);
    if (r == -1 || (r == 1 && tbl_put(t, x, EVT_ADDR, a->k2.s, a->k2.len, "", 0) == -1))
      return -1;
  }
  return 0;
}

struct late {
  struct tbl *t;
  struct tbl_txn *x;
  const char *prefix;
  size_t prefixn;
  struct buf cand;                 /* COMP \0 TS ... of succeeded events */
};

static int late_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct late *l = ctx;
  const char *comp = v;
  size_t cn;
  if (kn != l->prefixn + EVENT_TS || memcmp(k, l->prefix, l->prefixn)) return 1;
  cn = strnlen(comp, vn);
  if (cn + 2 != vn || comp[cn + 1] != '0' + EV_SUCCEEDED) return 0;
  if (buf_add(&l->cand, comp, cn + 1) == -1
      || buf_add(&l->cand, (const char *)k + l->prefixn, EVENT_TS) == -1)
    return -1;
  return 0;
}

/* 1 if a success of this message and recipient is recorded: the failure
   is a late bounce (not counted as failed: console.md section 7.6). */
static int is_late(struct tbl *t, struct tbl_txn *x, struct add *a, const struct event *e)
{
  struct late l;
  struct event o;
  size_t i;
  int r;
  memset(&l, 0, sizeof l);
  buf_trunc(&a->k2, 0);
  if (buf_addz(&a->k2, e->tenant) == -1 || buf_addz(&a->k2, e->id) == -1) return -1;
  l.t = t;
  l.x = x;
  l.prefix = a->k2.s;
  l.prefixn = a->k2.len;
  r = tbl_walk(t, x, EVT_ID, a->k2.s, a->k2.len, 0, late_one, &l);
  if (r < 0) goto out;
  r = 0;
  for (i = 0; i < l.cand.len && r == 0;) {
    const char *comp = l.cand.s + i;
    size_t cn = strlen(comp);
    if (evk_part(&a->key, e->tenant, comp) == -1
        || buf_add(&a->key, l.cand.s + i + cn + 1, EVENT_TS) == -1) {
      r = -1;
      break;
    }
    i += cn + 1 + EVENT_TS;
    r = tbl_get(t, x, EVT_EVENT, a->key.s, a->key.len, &a->tmp);
    if (r == 1) { r = 0; continue; }
    if (r == -1) break;
    if (event_decode(&o, a->tmp.s, a->tmp.len, &a->other) == -1) { r = 0; continue; }
    buf_trunc(&a->lc, 0);
    if (evk_lower(&a->lc, o.rcpt) == -1) { r = -1; break; }
    r = !strcmp(a->lc.s, a->ents.rcpt.s);
  }
out:
  buf_free(&l.cand);
  return r;
}

/* Add delta to the counter row k. */
static int count_row(struct tbl *t, struct tbl_txn *x, struct add *a, const char *k, size_t kn,
                     const struct event_counts *delta)
{
  struct event_counts c;
  int r, i;
  /* Read for update: concurrent writers queue here instead of deadlocking. */
  r = tbl_get_rmw(t, x, EVT_STAT, k, kn, &a->tmp);
  if (r == -1) return -1;
  if (r == 1 || evk_counts_decode(&c, a->tmp.s, a->tmp.len) == -1) memset(&c, 0, sizeof c);
  for (i = 0; i < EVC_N; i++) c.n[i] += delta->n[i];
  if (evk_counts_encode(&a->tmp, &c) == -1) return -1;
  return tbl_put(t, x, EVT_STAT, k, kn, a->tmp.s, a->tmp.len);
}

static int count_one(struct tbl *t, struct tbl_txn *x, struct add *a, int kind, long long slot,
                     const char *domain, const struct event *e, int late)
{
  struct event_counts c;
  if (evk_statkey(&a->k2, e->tenant, kind, slot, domain, e->composition, e->user) == -1)
    return -1;
  if (a->acc) {
    /* Several events: summed here, written once per row at the end. */
    struct event_counts *d = evk_map_get(a->acc, a->k2.s, a->k2.len, 0);
    if (!d) return -1;
    evk_count(d, (int)e->status, e->error, late);
    return 0;
  }
  memset(&c, 0, sizeof c);
  evk_count(&c, (int)e->status, e->error, late);
  return count_row(t, x, a, a->k2.s, a->k2.len, &c);
}

/* The record of in into rec (its composition made "default" if empty),
   decoded into e (strings in scratch).  0, or -1 (EINVAL). */
static int record(const struct event *in, struct buf *rec, struct event *e, struct buf *scratch)
{
  const char *comp = in->composition && *in->composition ? in->composition : "default";
  long long tm = evk_clamp(in->time);
  if (!evk_name_ok(in->tenant) || !evk_name_ok(comp) || !in->id || !*in->id
      || in->status < EV_QUEUED || in->status > EV_DEFERRED || in->error < 0 || in->error > 999)
    return errno = EINVAL, -1;
  buf_trunc(rec, 0);
  if (buf_printf(rec, "1%c%lld%c%u%c%d%c%d%c", 0, tm, 0, in->usec % 1000000, 0,
                 (int)in->status, 0, in->error, 0) == -1
      || addfield(rec, in->tenant) == -1 || addfield(rec, comp) == -1
      || addfield(rec, in->id) == -1 || addfield(rec, in->message_id) == -1
      || addfield(rec, in->sender) == -1 || addfield(rec, in->from) == -1
      || addfield(rec, in->rcpt) == -1 || addfield(rec, in->subject) == -1
      || addfield(rec, in->api_data) == -1 || addfield(rec, in->reply) == -1
      || addfield(rec, in->remote) == -1 || addfield(rec, in->sender_ip) == -1
      || addfield(rec, in->source_ip) == -1 || addfield(rec, in->user) == -1)
    return -1;
  /* Every key comes from the record as stored (texts cut). */
  return event_decode(e, rec->s, rec->len, scratch);
}

static int add(struct tbl *t, struct tbl_txn *x, const struct event *in, struct add *a)
{
  unsigned char ts[EVENT_TS];
  const char *comp;
  struct event e;
  long long tm = evk_clamp(in->time), slot;
  unsigned usec = in->usec % 1000000;
  size_t i;
  int r = -1, tries, late = 0;
  if (record(in, &a->rec, &e, &a->scratch) == -1) return -1;
  comp = e.composition;
  /* The sequence is unique among live processes (tbl_uniq); the add
     refuses a duplicate anyway, and then the next number is taken. */
  for (tries = 0; tries < 8; tries++) {
    evk_ts(ts, tm * 1000000 + usec, tbl_uniq(t));
    if (evk_part(&a->key, e.tenant, comp) == -1 || buf_add(&a->key, ts, EVENT_TS) == -1)
      return -1;
    r = tbl_add(t, x, EVT_EVENT, a->key.s, a->key.len, a->rec.s, a->rec.len);
    if (r != 1) break;
  }
  if (r != 0) return r == 1 ? (errno = EEXIST, -1) : -1;
  if (evk_ents_build(&a->ents, &e, ts) == -1) return -1;
  for (i = 0; i < a->ents.n; i++)
    if (tbl_put(t, x, a->ents.e[i].table, a->ents.e[i].k.s, a->ents.e[i].k.len,
                a->ents.e[i].v.s, a->ents.e[i].v.len) == -1)
      return -1;
  /* Message-ID to our id: once per message. */
  r = evk_midkey(&a->k2, &e);
  if (r == -1) return -1;
  if (r == 0 && (r = seen(a, EVT_MID, &a->k2)) == -1) return -1;
  if (r == 0) {
    r = tbl_get(t, x, EVT_MID, a->k2.s, a->k2.len, &a->tmp);
    if (r == -1 || (r == 1 && tbl_put(t, x, EVT_MID, a->k2.s, a->k2.len, "", 0) == -1))
      return -1;
  }
  if (a->ents.rcpt.len
      && add_address(t, x, a, e.tenant, comp, a->ents.rcpt.s, a->ents.domain) == -1)
    return -1;

  if (e.status == EV_FAILED && !evk_is_blocked((int)e.status, e.error)
      && (late = is_late(t, x, a, &e)) == -1)
    return -1;
  /* Counters: minute, quarter hour, quarter hour by destination domain. */
  slot = tm - tm % EVENT_MINUTE;
  if (count_one(t, x, a, EVENT_SLOT_MINUTE, slot, "", &e, late) == -1) return -1;
  slot = tm - tm % EVENT_QUARTER;
  if (count_one(t, x, a, EVENT_SLOT_QUARTER, slot, "", &e, late) == -1
      || count_one(t, x, a, EVENT_SLOT_DOMAIN, slot, a->ents.domain, &e, late) == -1)
    return -1;
  return 0;
}

static int cmpkey(const void *pa, const void *pb)
{
  const struct evk_slot *a = *(const struct evk_slot *const *)pa;
  const struct evk_slot *b = *(const struct evk_slot *const *)pb;
  size_t n = a->kn < b->kn ? a->kn : b->kn;
  int c = memcmp(a->k, b->k, n);
  return c ? c : (a->kn > b->kn) - (a->kn < b->kn);
}

static int add_all(struct tbl *t, struct tbl_txn *x, const struct event *e, size_t n,
                   struct add *a)
{
  struct evk_map acc, done;
  struct evk_slot **rows = 0;
  size_t i, k = 0;
  int r = 0;
  if (n == 1) {
    a->acc = 0;
    return add(t, x, e, a);
  }
  evk_map_init(&acc, sizeof(struct event_counts));
  evk_map_init(&done, 1);
  a->acc = &acc;
  a->done = &done;
  for (i = 0; i < n && r == 0; i++) r = add(t, x, &e[i], a);
  a->acc = 0;
  a->done = 0;
  evk_map_free(&done);
  if (r == 0 && acc.n && !(rows = calloc(acc.n, sizeof *rows))) r = -1;
  if (r == 0) {
    /* In key order: writers that share rows take their locks in one order. */
    for (i = 0; i < acc.cap; i++)
      if (acc.slot[i].k) rows[k++] = &acc.slot[i];
    qsort(rows, k, sizeof *rows, cmpkey);
    for (i = 0; i < k && r == 0; i++) r = count_row(t, x, a, rows[i]->k, rows[i]->kn, rows[i]->v);
  }
  free(rows);
  evk_map_free(&acc);
  return r;
}

int event_add_many(struct tbl *t, struct tbl_txn *x, const struct event *e, size_t n)
{
  struct add a;
  struct tbl_txn *own;
  int r = -1, tries;
  memset(&a, 0, sizeof a);
  if (!n) return 0;
  if (x) {
    r = add_all(t, x, e, n, &a);
  } else {
    for (tries = 0; tries < EVENT_TXN_TRIES; tries++) {
      if (tbl_begin(t, &own) == -1) break;
      r = add_all(t, own, e, n, &a);
      if (r == 0) {
        r = tbl_commit(own);
        break;
      }
      tbl_abort(own);
      if (errno != EDEADLK) break;
    }
  }
  add_free(&a);
  return r;
}

int event_add(struct tbl *t, struct tbl_txn *x, const struct event *e)
{
  return event_add_many(t, x, e, 1);
}

/* ---------- the same entries, for loaders in key order ---------- */

static int stat_entry(struct add *a, int kind, long long slot, const char *domain,
                      const struct event *e, int late, event_entry_fn *fn, void *ctx)
{
  struct event_counts c;
  memset(&c, 0, sizeof c);
  evk_count(&c, (int)e->status, e->error, late);
  if (evk_statkey(&a->k2, e->tenant, kind, slot, domain, e->composition, e->user) == -1
      || evk_counts_encode(&a->tmp, &c) == -1)
    return -1;
  return fn(ctx, EVT_STAT, a->k2.s, a->k2.len, a->tmp.s, a->tmp.len, EVENT_ENTRY_COUNT);
}

int event_entries(const struct event *in, unsigned long long seq, int late,
                  event_entry_fn *fn, void *ctx)
{
  struct add a;
  struct event e;
  unsigned char ts[EVENT_TS];
  long long tm = evk_clamp(in->time), slot;
  size_t i, last;
  int r = -1;
  memset(&a, 0, sizeof a);
  if (record(in, &a.rec, &e, &a.scratch) == -1) goto out;
  evk_ts(ts, tm * 1000000 + in->usec % 1000000, seq);
  if (evk_part(&a.key, e.tenant, e.composition) == -1 || buf_add(&a.key, ts, EVENT_TS) == -1
      || fn(ctx, EVT_EVENT, a.key.s, a.key.len, a.rec.s, a.rec.len, EVENT_ENTRY_PUT) == -1
      || evk_ents_build(&a.ents, &e, ts) == -1)
    goto out;
  for (i = 0; i < a.ents.n; i++)
    if (fn(ctx, a.ents.e[i].table, a.ents.e[i].k.s, a.ents.e[i].k.len, a.ents.e[i].v.s,
           a.ents.e[i].v.len, EVENT_ENTRY_PUT) == -1)
      goto out;
  if ((r = evk_midkey(&a.k2, &e)) == -1) goto out;
  if (r == 0 && fn(ctx, EVT_MID, a.k2.s, a.k2.len, "", 0, EVENT_ENTRY_ONCE) == -1) goto out;
  r = -1;
  if (a.ents.rcpt.len) {
    const char *rc = a.ents.rcpt.s;
    last = evk_addr_positions(rc);
    for (i = 0; i < last; i++)
      if (evk_addr_key(&a.k2, e.tenant, e.composition, rc, i) == -1
          || fn(ctx, EVT_ADDR, a.k2.s, a.k2.len, "", 0, EVENT_ENTRY_ONCE) == -1)
        goto out;
    if (strlen(rc) > EVENT_ADDR_SUFFIX_MAX
        && (evk_addr_other(&a.k2, e.tenant, e.composition, ADDR_LONG, rc) == -1
            || fn(ctx, EVT_ADDR, a.k2.s, a.k2.len, "", 0, EVENT_ENTRY_ONCE) == -1))
      goto out;
    if (*a.ents.domain
        && (evk_addr_other(&a.k2, e.tenant, e.composition, ADDR_DOMAIN, a.ents.domain) == -1
            || fn(ctx, EVT_ADDR, a.k2.s, a.k2.len, "", 0, EVENT_ENTRY_ONCE) == -1))
      goto out;
  }
  if (evk_is_blocked((int)e.status, e.error) || e.status != EV_FAILED) late = 0;
  slot = tm - tm % EVENT_MINUTE;
  if (stat_entry(&a, EVENT_SLOT_MINUTE, slot, "", &e, late, fn, ctx) == -1) goto out;
  slot = tm - tm % EVENT_QUARTER;
  if (stat_entry(&a, EVENT_SLOT_QUARTER, slot, "", &e, late, fn, ctx) == -1
      || stat_entry(&a, EVENT_SLOT_DOMAIN, slot, a.ents.domain, &e, late, fn, ctx) == -1)
    goto out;
  r = 0;
out:
  add_free(&a);
  return r;
}
