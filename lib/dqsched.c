/* dqsched.c: deliver's scheduler: due recipients grouped into worker
   jobs by destination, and worker results turned into new recipient
   states and events (see dqsched.h; the disk side is lib/dqdb.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include "addr.h"
#include "dqdb.h"
#include "dqprep.h"
#include "dqsched.h"
#include "dsetrun.h"
#include "event.h"
#include "suppress.h"
#include "tenant.h"

struct dqsched_upd {
  struct dq_msg *m;
  size_t idx;
  int status, err, cls;
  int sup;                           /* add the recipient to the suppression list */
  long long time;
  unsigned usec;
  char *reply, *remote, *local_ip;
};

/* --- a small string -> index hash (open addressing) --- */
struct hidx {
  char **k;
  size_t *v;
  size_t cap, n;
};

static size_t hash(const char *s)
{
  unsigned long long x = 1469598103934665603ULL;   /* FNV-1a */
  for (; *s; s++) x = (x ^ (unsigned char)*s) * 1099511628211ULL;
  return (size_t)x;
}

/* The slot of key, or the empty slot where it would go (cap > 0). */
static size_t hslot(char *const *k, size_t cap, const char *key)
{
  size_t i = hash(key) & (cap - 1);
  while (k[i] && strcmp(k[i], key) != 0) i = (i + 1) & (cap - 1);
  return i;
}

static int hget(const struct hidx *h, const char *key, size_t *v)
{
  size_t i;
  if (!h->cap) return 0;
  i = hslot(h->k, h->cap, key);
  if (!h->k[i]) return 0;
  *v = h->v[i];
  return 1;
}

static int hput(struct hidx *h, const char *key, size_t v)
{
  size_t i;
  if ((h->n + 1) * 2 > h->cap) {
    struct hidx g = { 0, 0, h->cap ? h->cap * 2 : 64, 0 };
    g.k = calloc(g.cap, sizeof *g.k);
    g.v = calloc(g.cap, sizeof *g.v);
    if (!g.k || !g.v) { free(g.k); free(g.v); return errno = ENOMEM, -1; }
    for (i = 0; i < h->cap; i++)
      if (h->k[i]) {
        size_t j = hslot(g.k, g.cap, h->k[i]);
        g.k[j] = h->k[i];
        g.v[j] = h->v[i];
      }
    g.n = h->n;
    free(h->k);
    free(h->v);
    *h = g;
  }
  i = hslot(h->k, h->cap, key);
  if (!h->k[i]) {
    if (!(h->k[i] = strdup(key))) return errno = ENOMEM, -1;
    h->n++;
  }
  h->v[i] = v;
  return 0;
}

static void hfree(struct hidx *h)
{
  size_t i;
  for (i = 0; i < h->cap; i++) free(h->k[i]);
  free(h->k);
  free(h->v);
  memset(h, 0, sizeof *h);
}

/* --- results --- */
void dqsched_batch_init(struct dqsched_batch *b)
{
  memset(b, 0, sizeof *b);
}

static void retry_settings(struct dqsched *q, const struct dq_msg *m,
                           long long *period, long long *interval)
{
  static const char *const keys[2] = { "retry_period", "retry_interval" };
  long long *out[2] = { period, interval };
  struct buf v = BUF_ZERO;
  int i;
  *period = q->period;
  *interval = q->interval;
  for (i = 0; i < 2; i++) {
    int r = dqdb_ready(q) == 0 ? tenant_get(q->db, m->tenant, m->comp, keys[i], &v) : 1;
    if (r == 0) {
      char *end;
      long long x;
      errno = 0;
      x = strtoll(v.s, &end, 10);
      if (!errno && end != v.s && !*end && x > 0) *out[i] = x;
    } else if (r == -1) {
      dqdb_read_failed(q);
    }
  }
  buf_free(&v);
}

/* Does a failure with status err put the address on the suppression
   list of m's tenant and composition (settings suppress_auto,
   suppress_statuses)?  On a database error: the default rule. */
static int suppress_setting(struct dqsched *q, const struct dq_msg *m, int err)
{
  struct buf a = BUF_ZERO, st = BUF_ZERO;
  int ra = 1, rs = 1, r;
  if (dqdb_ready(q) == 0) {
    ra = tenant_get(q->db, m->tenant, m->comp, "suppress_auto", &a);
    if (ra != -1) rs = tenant_get(q->db, m->tenant, m->comp, "suppress_statuses", &st);
    if (ra == -1 || rs == -1) dqdb_read_failed(q);
  }
  r = suppress_wanted(ra == 0 ? a.s : 0, rs == 0 ? st.s : 0, err);
  buf_free(&a);
  buf_free(&st);
  return r;
}

static char *dup_or_empty(const char *s)
{
  return strdup(s ? s : "");
}

/* The state change one result makes, in memory, and its event queued. */
static int apply(struct dqsched *q, struct dqsched_batch *b, struct dq_msg *m,
                 size_t idx, int kind, int err, const char *reply,
                 const char *remote, const char *local_ip)
{
  struct dq_rcpt *rc = &m->r[idx];
  struct dqsched_upd *u;
  struct timeval tv;
  if (b->n == b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 16;
    struct dqsched_upd *nu = realloc(b->u, nc * sizeof *nu);
    if (!nu) return errno = ENOMEM, -1;
    b->u = nu;
    b->cap = nc;
  }
  u = &b->u[b->n];
  memset(u, 0, sizeof *u);
  u->reply = dup_or_empty(reply);
  u->remote = dup_or_empty(remote);
  u->local_ip = dup_or_empty(local_ip);
  if (!u->reply || !u->remote || !u->local_ip) {
    free(u->reply);
    free(u->remote);
    free(u->local_ip);
    return errno = ENOMEM, -1;
  }
  gettimeofday(&tv, 0);
  u->m = m;
  u->idx = idx;
  u->time = (long long)tv.tv_sec;
  u->usec = (unsigned)tv.tv_usec;
  rc->busy = 0;
  rc->attempts++;
  if (!rc->first) rc->first = u->time;
  if (kind == DQ_SUCCEEDED) {
    rc->state = DQ_SUCCEEDED;
    u->status = EV_SUCCEEDED;
  } else if (kind == DQ_FAILED) {
    rc->state = DQ_FAILED;
    u->status = EV_FAILED;
    u->err = err ? err : ERR_OTHER;
    u->sup = suppress_setting(q, m, u->err);
  } else {
    long long period, interval, next;
    retry_settings(q, m, &period, &interval);
    /* Time held by a prohibited window does not count against the period. */
    next = dq_retry_next(period, interval,
                         m->accepted + (q->dset ? dsetrun_held(q->dset, m, idx, m->accepted, u->time) : 0),
                         u->time, rc->attempts);
    if (next < 0) {                  /* the retry period is over */
      rc->state = DQ_FAILED;
      u->status = EV_FAILED;
      u->err = ERR_RETRY_TIMEOUT;
      u->cls = err;                  /* the last reply's class: logged */
      u->sup = suppress_setting(q, m, u->err);
    } else {
      rc->next = next;
      u->status = EV_DEFERRED;
      u->cls = err;                  /* what the reply would mean were it final: logged */
    }
  }
  b->n++;
  return 0;
}

int dqsched_result(struct dqsched *q, struct dqsched_batch *b,
                   const struct dqwork_job *job, const struct dq_result *r)
{
  size_t i, j;
  for (i = 0; i < job->nitem; i++) {
    const struct dqwork_item *it = &job->item[i];
    if (strcmp(it->m->id, r->id)) continue;
    for (j = 0; j < it->n; j++)
      if (it->idx[j] == r->idx && it->m->r[r->idx].busy)
        return apply(q, b, (struct dq_msg *)it->m, r->idx, r->kind, r->err,
                     r->reply, r->remote, r->local_ip);
  }
  return errno = EINVAL, -1;
}

static int first_of(const struct dqsched_batch *b, size_t i)
{
  size_t j;
  for (j = 0; j < i; j++) if (b->u[j].m == b->u[i].m) return 0;
  return 1;
}

static int commit_tx(struct dqsched *q, struct tbl_txn *x, void *ctx)
{
  struct dqsched_batch *b = ctx;
  size_t i;
  for (i = 0; i < b->n; i++) {
    const struct dqsched_upd *u = &b->u[i];
    struct event e;
    dqdb_event(&e, u->m, u->idx);
    e.time = u->time;
    e.usec = u->usec;
    e.status = u->status;
    e.error = u->err;
    e.reply = u->reply;
    e.remote = u->remote;
    e.sender_ip = u->local_ip;
    if (event_add(q->db, x, &e) == -1) return -1;
    /* EINVAL: an address the list cannot hold (no '@'): not listed. */
    if (u->sup && suppress_add(q->db, x, u->m->tenant, u->m->comp, u->m->r[u->idx].addr,
                               u->err, u->time) == -1 && errno != EINVAL)
      return -1;
  }
  for (i = 0; i < b->n; i++)
    if (first_of(b, i) && dqdb_put(q, x, b->u[i].m) == -1) return -1;
  return 0;
}

static void log_upd(struct dqsched *q, const struct dqsched_upd *u)
{
  struct buf l = BUF_ZERO;
  const char *p;
  char kind = u->status == EV_SUCCEEDED ? 'K' : u->status == EV_FAILED ? 'D' : 'Z';
  if (buf_printf(&l, "delivery id=%s rcpt=%s result=%c", u->m->id, u->m->r[u->idx].addr, kind) == -1)
    goto out;
  if (u->err) buf_printf(&l, " status=%d", u->err);
  if (u->cls) buf_printf(&l, " class=%d", u->cls);
  buf_adds(&l, " relay=\"");
  for (p = u->remote; *p; p++) buf_addc(&l, *p == '"' ? '\'' : *p);
  buf_adds(&l, "\" reply=\"");
  for (p = u->reply; *p; p++) buf_addc(&l, *p == '"' ? '\'' : *p);
  if (buf_addc(&l, '"') == 0) q->log(l.s);
out:
  buf_free(&l);
}

static void msg_release(struct dq_msg *m)
{
  if (m->refs) m->refs--;
  if (m->gone && !m->refs) dq_msg_free(m);
}

int dqsched_batch_commit(struct dqsched *q, struct dqsched_batch *b)
{
  struct dqdb_keys fin = { 0, 0, 0 };
  struct dq_msg **gone = 0;
  size_t i, ngone = 0;
  int r = 0;
  if (b->n == 0) goto out;
  if (dqdb_txn(q, commit_tx, b) == -1) { r = -1; goto out; }
  for (i = 0; i < b->n; i++) if (q->log) log_upd(q, &b->u[i]);
  if (!(gone = calloc(b->n, sizeof *gone))) { r = -1; goto out; }
  /* After the commit: final messages leave the spool, then their rows. */
  for (i = 0; i < b->n; i++) {
    struct dq_msg *m = b->u[i].m;
    char p[4200];
    if (!first_of(b, i) || m->gone || !dq_msg_final(m)) continue;
    if (dqdb_path(p, sizeof p, q, "queue", m->id) == -1 || (unlink(p) == -1 && errno != ENOENT)) {
      if (q->warn) q->warn("unable to remove ", p, errno);
      continue;                      /* resume finishes it */
    }
    if (dqdb_keys_add(&fin, m->id, strlen(m->id)) == -1) { r = -1; break; }
    if (q->log) {
      struct buf l = BUF_ZERO;
      if (buf_printf(&l, "done id=%s", m->id) == 0) q->log(l.s);
      buf_free(&l);
    }
    dqdb_list_del(q, m);
    m->gone = 1;
    m->refs++;                       /* freed below, once the batch is done with it */
    gone[ngone++] = m;
  }
  /* The row goes only once the unlink is durable. */
  if (fin.n && (dqdb_sync(q, "queue") == -1 || dqdb_del(q, &fin) == -1)) r = -1;
out:
  for (i = 0; i < b->n; i++) {
    free(b->u[i].reply);
    free(b->u[i].remote);
    free(b->u[i].local_ip);
  }
  for (i = 0; i < ngone; i++) msg_release(gone[i]);
  free(gone);
  dqdb_keys_free(&fin);
  free(b->u);
  memset(b, 0, sizeof *b);
  return r;
}

/* --- planning --- */
struct routes {
  struct hidx h;                     /* "tenant TAB comp TAB domain" -> 0 none, i+1 route i */
  struct dqdb_keys v;
};

/* The route of (m's tenant, composition, domain), or 0: use MX.  -1 on a
   database error (the recipient waits for the next plan). */
static int route_of(struct dqsched *q, struct routes *rt, const struct dq_msg *m,
                    const char *domain, const char **route)
{
  struct buf k = BUF_ZERO, out = BUF_ZERO;
  size_t v;
  int r = -1, found;
  *route = 0;
  if (buf_printf(&k, "%s\t%s\t%s", m->tenant, m->comp, domain) == -1) goto out;
  if (hget(&rt->h, k.s, &v)) {
    *route = v ? rt->v.k[v - 1] : 0;
    r = 0;
    goto out;
  }
  if (dqdb_ready(q) == -1) goto out;
  found = tenant_route_get(q->db, m->tenant, m->comp, domain, &out);
  if (found == -1 && errno != EINVAL) {   /* EINVAL: no such name, no route */
    dqdb_read_failed(q);
    goto out;
  }
  if (found == 0) {
    if (dqdb_keys_add(&rt->v, out.s, out.len) == -1 || hput(&rt->h, k.s, rt->v.n) == -1) goto out;
    *route = rt->v.k[rt->v.n - 1];
  } else if (hput(&rt->h, k.s, 0) == -1) {
    goto out;
  }
  r = 0;
out:
  buf_free(&k);
  buf_free(&out);
  return r;
}

/* The worker settings (lib/dqprep.h) of m's tenant and composition, read
   once per plan: 0 and *c (a reference of the cache), or -1 on a database
   error (the recipient waits for the next plan). */
struct confs {
  struct hidx h;                     /* "tenant TAB comp" -> index into v */
  struct dqprep_conf **v;
  size_t n, cap;
};

static int conf_of(struct dqsched *q, struct confs *cc, const struct dq_msg *m,
                   struct dqprep_conf **c)
{
  struct buf k = BUF_ZERO;
  size_t v;
  int r = -1;
  if (buf_printf(&k, "%s\t%s", m->tenant, m->comp) == -1) goto out;
  if (hget(&cc->h, k.s, &v)) {
    *c = cc->v[v];
    r = 0;
    goto out;
  }
  if (cc->n == cc->cap) {
    size_t nc = cc->cap ? cc->cap * 2 : 8;
    struct dqprep_conf **nv = realloc(cc->v, nc * sizeof *nv);
    if (!nv) { errno = ENOMEM; goto out; }
    cc->v = nv;
    cc->cap = nc;
  }
  if (dqdb_ready(q) == -1) goto out;
  if (!(*c = dqprep_conf_load(q->db, m->tenant, m->comp, q->prep_env))) {
    if (errno != ENOMEM) dqdb_read_failed(q);
    goto out;
  }
  if (hput(&cc->h, k.s, cc->n) == -1) {
    dqprep_conf_put(*c);
    goto out;
  }
  cc->v[cc->n++] = *c;
  r = 0;
out:
  buf_free(&k);
  return r;
}

static void confs_free(struct confs *cc)
{
  size_t i;
  for (i = 0; i < cc->n; i++) dqprep_conf_put(cc->v[i]);
  free(cc->v);
  hfree(&cc->h);
}

static int add_item(struct dqsched_group *g, struct dq_msg *m, size_t idx)
{
  struct dqwork_item *it = g->nitem ? &g->item[g->nitem - 1] : 0;
  /* An item holds recipients of one priority, so that items sort by it. */
  if (!it || it->m != m || it->n == DQWORK_RCPT_MAX || m->r[it->idx[0]].prio != m->r[idx].prio) {
    if (g->nitem == g->cap) {
      size_t nc = g->cap ? g->cap * 2 : 8;
      struct dqwork_item *ni = realloc(g->item, nc * sizeof *ni);
      if (!ni) return errno = ENOMEM, -1;
      g->item = ni;
      g->cap = nc;
    }
    it = &g->item[g->nitem++];
    it->m = m;
    it->idx = 0;
    it->n = 0;
  }
  if ((it->n & (it->n - 1)) == 0) {  /* 0, 1, 2, 4, ...: grow by doubling */
    size_t *ni = realloc(it->idx, (it->n ? it->n * 2 : 1) * sizeof *ni);
    if (!ni) return errno = ENOMEM, -1;
    it->idx = ni;
  }
  it->idx[it->n++] = idx;
  return 0;
}

/* Items by priority, highest first, keeping the order (oldest first)
   within one priority: a counting sort over 0..255.  Sets g->prio. */
static int prio_sort(struct dqsched_group *g)
{
  size_t count[256], i, at = 0;
  struct dqwork_item *s;
  int k;
  memset(count, 0, sizeof count);
  for (i = 0; i < g->nitem; i++) count[g->item[i].m->r[g->item[i].idx[0]].prio]++;
  for (k = 255; k >= 0 && !count[k]; k--) ;
  g->prio = (unsigned char)(k < 0 ? 0 : k);
  if (g->nitem < 2 || count[g->prio] == g->nitem) return 0;
  if (!(s = malloc(g->nitem * sizeof *s))) return errno = ENOMEM, -1;
  for (k = 255; k >= 0; k--) {
    size_t n = count[k];
    count[k] = at;
    at += n;
  }
  for (i = 0; i < g->nitem; i++) s[count[g->item[i].m->r[g->item[i].idx[0]].prio]++] = g->item[i];
  memcpy(g->item, s, g->nitem * sizeof *s);
  free(s);
  return 0;
}

/* What signing the mail of a sender and recipient domain needs (lib/dqprep.h,
   steps 2 and 3), prepared once per plan: the keys are read here, in the
   parent, so that a worker signs from memory, and mail that cannot be
   signed now waits (or fails) without a worker. */
struct signs {
  struct hidx h;                     /* "tenant TAB from" -> index into v;
                                        "tenant TAB @domain" -> S/MIME skipped (1) or not */
  struct dqprep_sign *v;
  size_t n, cap;
};

/* DQ_PENDING (hand the recipient out), DQ_DEFERRED or DQ_FAILED (*why),
   for recipient domain rdom of m; -1 on a database error (the recipient
   waits for the next plan) or ENOMEM. */
static int sign_of(struct dqsched *q, struct signs *sg, const struct dq_msg *m, const char *rdom,
                   long long now, const char **why)
{
  struct buf k = BUF_ZERO;
  size_t v, skip = 0;
  int r = -1;
  if (buf_printf(&k, "%s\t%s", m->tenant, m->from ? m->from : "") == -1) goto out;
  if (!hget(&sg->h, k.s, &v)) {
    if (sg->n == sg->cap) {
      size_t nc = sg->cap ? sg->cap * 2 : 8;
      struct dqprep_sign *nv = realloc(sg->v, nc * sizeof *nv);
      if (!nv) { errno = ENOMEM; goto out; }
      sg->v = nv;
      sg->cap = nc;
    }
    if (dqdb_ready(q) == -1 || dqprep_sign_prepare(q->prep_env, q->db, m, now, &sg->v[sg->n]) == -1
        || hput(&sg->h, k.s, sg->n) == -1)
      goto out;
    v = sg->n++;
  }
  if (sg->v[v].need_rcpt) {
    buf_trunc(&k, 0);
    if (buf_printf(&k, "%s\t@%s", m->tenant, rdom) == -1) goto out;
    if (!hget(&sg->h, k.s, &skip)) {
      int s = dqprep_sign_rcpt(q->prep_env, q->db, m->tenant, rdom);
      if (s == -1) {
        dqdb_read_failed(q);
        goto out;
      }
      skip = (size_t)s;
      if (hput(&sg->h, k.s, skip) == -1) goto out;
    }
  }
  r = dqprep_sign_decide(&sg->v[v], skip != 0);
  *why = sg->v[v].why;
out:
  buf_free(&k);
  return r;
}

int dqsched_plan(struct dqsched *q, long long now, struct dqsched_plan *p, long long *next)
{
  struct hidx *gi;
  struct routes rt;
  struct confs cc;
  struct signs sg;
  struct buf ascii = BUF_ZERO, key = BUF_ZERO, why = BUF_ZERO;
  struct dqsched_batch bad;
  struct dq_msg *m;
  size_t i;
  int r = -1, dbwarned = 0;
  memset(p, 0, sizeof *p);
  memset(&rt, 0, sizeof rt);
  memset(&cc, 0, sizeof cc);
  memset(&sg, 0, sizeof sg);
  if (q->prep_env) dqprep_sign_reset(q->prep_env);   /* this plan's preparations only */
  dqsched_batch_init(&bad);
  *next = 0;
  if (!(gi = calloc(1, sizeof *gi))) return errno = ENOMEM, -1;
  p->index = gi;
  if (q->dset) dsetrun_tick(q->dset, now);
  for (m = q->head; m; m = m->next) {
    /* Settings changed since it was looked at: its recipients again. */
    if (q->dset && m->dsgen != q->dset->serial) {
      char fp[4200];
      if (dqdb_path(fp, sizeof fp, q, "queue", m->id) == 0 && dsetrun_classify_file(q->dset, m, fp) == -1)
        goto out;
    }
    for (i = 0; i < m->nrcpt; i++) {
      struct dq_rcpt *rc = &m->r[i];
      const char *route;
      size_t g;
      if (rc->state != DQ_PENDING || rc->busy) continue;
      if (rc->next > now) {
        if (!*next || rc->next < *next) *next = rc->next;
        continue;
      }
      if (q->dset) {                 /* a prohibited time window: wait for its end */
        long long until = dsetrun_hold(q->dset, m, i, now);
        if (until) {
          if (!*next || until < *next) *next = until;
          continue;
        }
      }
      buf_trunc(&ascii, 0);
      if (addr_domain_ascii(&ascii, addr_domain(rc->addr)) == -1) {
        if (errno == ENOMEM) goto out;
        buf_trunc(&why, 0);
        if (buf_printf(&why, "bad domain in %s: it has no A-label form", rc->addr) == -1
            || apply(q, &bad, m, i, DQ_FAILED, ERR_BAD_ADDRESS, why.s, "", "") == -1)
          goto out;
        continue;
      }
      if (route_of(q, &rt, m, ascii.s, &route) == -1) {
        if (errno == ENOMEM) goto out;
        if (!dbwarned && q->warn) q->warn("unable to look up the route of ", ascii.s, errno);
        dbwarned = 1;
        continue;
      }
      if (q->prep_env && (q->prep_env->smime || q->prep_env->dkim)) {
        const char *swhy = "";
        int k = sign_of(q, &sg, m, ascii.s, now, &swhy);
        if (k == -1) {
          if (errno == ENOMEM) goto out;
          if (!dbwarned && q->warn) q->warn("unable to read the signing keys of ", m->tenant, errno);
          dbwarned = 1;
          continue;
        }
        if (k != DQ_PENDING) {       /* not signable now: never sent unsigned */
          if (apply(q, &bad, m, i, k, k == DQ_FAILED ? ERR_OTHER : 0, swhy, "", "") == -1) goto out;
          if (rc->state == DQ_PENDING && (!*next || rc->next < *next)) *next = rc->next;
          continue;
        }
      }
      buf_trunc(&key, 0);
      if (buf_printf(&key, "%s/%s/%s%s", m->tenant, m->comp, route ? "route=" : "",
                     route ? route : ascii.s) == -1
          || (rc->speed && buf_printf(&key, "#%u", (unsigned)rc->speed) == -1))
        goto out;
      if (!hget(gi, key.s, &g)) {
        struct dqsched_group *ng;
        struct dqprep_conf *pc;
        if (conf_of(q, &cc, m, &pc) == -1) {
          if (errno == ENOMEM) goto out;
          if (!dbwarned && q->warn) q->warn("unable to read the settings of ", m->tenant, errno);
          dbwarned = 1;
          continue;
        }
        if (p->ngroup == p->cap) {
          size_t nc = p->cap ? p->cap * 2 : 16;
          if (!(ng = realloc(p->group, nc * sizeof *ng))) goto out;
          p->group = ng;
          p->cap = nc;
        }
        ng = &p->group[p->ngroup];
        memset(ng, 0, sizeof *ng);
        ng->key = strdup(key.s);
        ng->dest = strdup(route ? route : ascii.s);
        ng->is_route = route != 0;
        ng->prep = dqprep_conf_ref(pc);
        if (q->dset) {
          struct dset_speed sp;
          dsetrun_speed(q->dset, m, i, 0, &sp);
          ng->maxconn = sp.maxconn;
          ng->interval = sp.interval;
          ng->nips = sp.nips;
        }
        p->ngroup++;
        if (!ng->key || !ng->dest || hput(gi, key.s, p->ngroup - 1) == -1) goto out;
        g = p->ngroup - 1;
      }
      if (add_item(&p->group[g], m, i) == -1) goto out;
    }
  }
  for (i = 0; i < p->ngroup; i++)
    if (prio_sort(&p->group[i]) == -1) goto out;
  r = 0;
out:
  if (r == -1) {
    int e = errno;
    dqsched_plan_free(p);
    errno = e;
  }
  if (dqsched_batch_commit(q, &bad) == -1) r = -1;
  hfree(&rt.h);
  dqdb_keys_free(&rt.v);
  confs_free(&cc);
  hfree(&sg.h);
  free(sg.v);
  buf_free(&ascii);
  buf_free(&key);
  buf_free(&why);
  return r;
}

int dqsched_take(struct dqsched_plan *p, size_t g, struct dqsched_job *j)
{
  struct dqsched_group *gr = &p->group[g];
  size_t n = gr->nitem - gr->taken, i, k;
  memset(j, 0, sizeof *j);
  if (n == 0) return 0;
  if (n > DQSCHED_JOB_MAXMSG) n = DQSCHED_JOB_MAXMSG;
  if (gr->jobmax && n > gr->jobmax) n = gr->jobmax;
  j->key = strdup(gr->key);
  j->job.dest = strdup(gr->dest);
  j->job.item = malloc(n * sizeof *j->job.item);
  if (!j->key || !j->job.dest || !j->job.item) {
    free(j->key);
    free((char *)j->job.dest);
    free(j->job.item);
    memset(j, 0, sizeof *j);
    return errno = ENOMEM, -1;
  }
  memcpy(j->job.item, gr->item + gr->taken, n * sizeof *j->job.item);
  j->job.nitem = n;
  j->job.is_route = gr->is_route;
  j->job.prep = dqprep_conf_ref(gr->prep);
  j->job.interval = gr->interval;
  j->job.prio = j->job.item[0].m->r[j->job.item[0].idx[0]].prio;
  gr->taken += n;
  for (i = 0; i < n; i++) {
    struct dq_msg *m = (struct dq_msg *)j->job.item[i].m;
    m->refs++;
    for (k = 0; k < j->job.item[i].n; k++) m->r[j->job.item[i].idx[k]].busy = 1;
  }
  return 1;
}

void dqsched_plan_free(struct dqsched_plan *p)
{
  size_t g, i;
  for (g = 0; g < p->ngroup; g++) {
    struct dqsched_group *gr = &p->group[g];
    for (i = gr->taken; i < gr->nitem; i++) free(gr->item[i].idx);
    free(gr->item);
    free(gr->key);
    free(gr->dest);
    dqprep_conf_put(gr->prep);
  }
  free(p->group);
  if (p->index) hfree(p->index);
  free(p->index);
  memset(p, 0, sizeof *p);
}

static void items_free(struct dqwork_job *job)
{
  size_t i;
  for (i = 0; i < job->nitem; i++) {
    free(job->item[i].idx);
    msg_release((struct dq_msg *)job->item[i].m);
  }
  free(job->item);
  free((char *)job->dest);
  dqprep_conf_put(job->prep);
  job->prep = 0;
  job->item = 0;
  job->nitem = 0;
  job->dest = 0;
}

void dqsched_job_free(struct dqsched *q, struct dqsched_job *j)
{
  size_t i, k;
  (void)q;
  for (i = 0; i < j->job.nitem; i++)
    for (k = 0; k < j->job.item[i].n; k++)
      ((struct dq_msg *)j->job.item[i].m)->r[j->job.item[i].idx[k]].busy = 0;
  items_free(&j->job);
  free(j->key);
  j->key = 0;
}

int dqsched_job_done(struct dqsched *q, struct dqwork_job *job, const char *why)
{
  struct dqsched_batch b;
  size_t i, k;
  int r = 0;
  dqsched_batch_init(&b);
  for (i = 0; i < job->nitem; i++) {
    struct dq_msg *m = (struct dq_msg *)job->item[i].m;
    for (k = 0; k < job->item[i].n; k++) {
      size_t idx = job->item[i].idx[k];
      if (!m->r[idx].busy) continue;
      if (!why) m->r[idx].busy = 0;
      else if (apply(q, &b, m, idx, DQ_DEFERRED, 0, why, "", "") == -1) r = -1;
    }
  }
  if (dqsched_batch_commit(q, &b) == -1) r = -1;
  items_free(job);
  return r;
}
