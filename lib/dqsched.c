/* dqsched.c: deliver's scheduler: due recipients grouped into worker
   jobs by destination (routes, settings and signing keys looked up once
   per plan), and jobs taken from the plan (see dqsched.h).  Results and
   the end of a job: dqsched_result.c; the disk side: lib/dqdb.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "dqdb.h"
#include "dqprep.h"
#include "dqsched.h"
#include "dqsched_result.h"
#include "dsetrun.h"
#include "event.h"
#include "tenant.h"

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
            || dqsched_apply(q, &bad, m, i, DQ_FAILED, ERR_BAD_ADDRESS, why.s, "", "") == -1)
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
          if (dqsched_apply(q, &bad, m, i, k, k == DQ_FAILED ? ERR_OTHER : 0, swhy, "", "") == -1)
            goto out;
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
