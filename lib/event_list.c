/* event_list.c: reading the event tables (event.h, event_key.h) other
   than by scans: chunked walks, a small hash map, counter rows, the
   compositions and tenants present, Message-ID and recipient look-ups.
   Every walk runs in short transactions (evk_walk). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "event.h"
#include "event_key.h"

/* ---------- chunked walks ---------- */

/* Each transaction copies up to EVK_CHUNK entries out; fn sees them after
   it has ended, so fn may call into tbl itself (no lock of ours is held). */
struct cw {
  struct buf items;                /* size_t kn, k, size_t vn, v ... */
  size_t n;
  int chunked;
  struct buf resume;
};

static int cw_one(void *c, const void *k, size_t kn, const void *v, size_t vn)
{
  struct cw *w = c;
  if (w->n++ == EVK_CHUNK) {
    /* This key is not taken yet: the next transaction starts at it. */
    if (buf_set(&w->resume, k, kn) == -1) return -1;
    w->chunked = 1;
    return 1;
  }
  if (buf_add(&w->items, &kn, sizeof kn) == -1 || buf_add(&w->items, k, kn) == -1
      || buf_add(&w->items, &vn, sizeof vn) == -1 || buf_add(&w->items, v, vn) == -1)
    return -1;
  return 0;
}

int evk_walk(struct tbl *t, const char *table, const void *from, size_t fromn, int reverse,
             tbl_fn *fn, void *ctx)
{
  struct cw w;
  struct buf start = BUF_ZERO;
  int r, tries = 0;
  memset(&w, 0, sizeof w);
  for (;;) {
    size_t i;
    w.n = 0;
    w.chunked = 0;
    buf_trunc(&w.items, 0);
    r = tbl_walk(t, 0, table, from, fromn, reverse, cw_one, &w);
    if (r < 0 && errno == EDEADLK && ++tries < EVENT_TXN_TRIES) continue;  /* a victim: again */
    if (r < 0) break;
    r = 0;
    for (i = 0; i < w.items.len && r == 0;) {
      size_t kn, vn;
      const char *k, *v;
      memcpy(&kn, w.items.s + i, sizeof kn);
      k = w.items.s + i + sizeof kn;
      i += sizeof kn + kn;
      memcpy(&vn, w.items.s + i, sizeof vn);
      v = w.items.s + i + sizeof vn;
      i += sizeof vn + vn;
      r = fn(ctx, k, kn, v, vn);
    }
    if (r < 0) { r = -1; break; }
    if (r > 0 || !w.chunked) break;
    if (buf_set(&start, w.resume.s, w.resume.len) == -1) { r = -1; break; }
    from = start.s;
    fromn = start.len;
  }
  buf_free(&start);
  buf_free(&w.resume);
  buf_free(&w.items);
  return r;
}

/* ---------- a small hash map ---------- */

static size_t hash(const void *k, size_t kn)
{
  const unsigned char *p = k;
  size_t h = 14695981039346656037ULL;
  while (kn--) h = (h ^ *p++) * 1099511628211ULL;
  return h;
}

void evk_map_init(struct evk_map *m, size_t vsize)
{
  memset(m, 0, sizeof *m);
  m->vsize = vsize;
}

static struct evk_slot *probe(const struct evk_map *m, const void *k, size_t kn)
{
  size_t i = hash(k, kn) & (m->cap - 1);
  for (;; i = (i + 1) & (m->cap - 1)) {
    struct evk_slot *s = &m->slot[i];
    if (!s->k || (s->kn == kn && !memcmp(s->k, k, kn))) return s;
  }
}

static int grow(struct evk_map *m)
{
  struct evk_map n = *m;
  size_t i;
  n.cap = m->cap ? m->cap * 2 : 64;
  n.slot = calloc(n.cap, sizeof *n.slot);
  if (!n.slot) return -1;
  for (i = 0; i < m->cap; i++)
    if (m->slot[i].k) *probe(&n, m->slot[i].k, m->slot[i].kn) = m->slot[i];
  free(m->slot);
  *m = n;
  return 0;
}

void *evk_map_get(struct evk_map *m, const void *k, size_t kn, int *created)
{
  struct evk_slot *s;
  if (created) *created = 0;
  if ((m->n + 1) * 4 > m->cap * 3 && grow(m) == -1) return 0;
  s = probe(m, k, kn);
  if (s->k) return s->v;
  s->k = malloc(kn + 1);
  s->v = calloc(1, m->vsize ? m->vsize : 1);
  if (!s->k || !s->v) {
    free(s->k);
    free(s->v);
    s->k = 0;
    s->v = 0;
    errno = ENOMEM;
    return 0;
  }
  memcpy(s->k, k, kn);
  s->k[kn] = 0;
  s->kn = kn;
  m->n++;
  if (created) *created = 1;
  return s->v;
}

void *evk_map_find(const struct evk_map *m, const void *k, size_t kn)
{
  struct evk_slot *s;
  if (!m->cap) return 0;
  s = probe(m, k, kn);
  return s->k ? s->v : 0;
}

void evk_map_free(struct evk_map *m)
{
  size_t i;
  for (i = 0; i < m->cap; i++) {
    free(m->slot[i].k);
    free(m->slot[i].v);
  }
  free(m->slot);
  evk_map_init(m, m->vsize);
}

/* ---------- counter rows ---------- */

struct sw {
  const char *prefix;
  size_t prefixn;
  int kind;
  long long to;
  struct buf k;
  event_stat_fn *fn;
  void *ctx;
};

static int stat_one(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct sw *w = ctx;
  struct event_counts c;
  const char *p, *domain = "", *comp, *user, *end;
  long long slot = 0;
  int i, r;
  if (kn < w->prefixn + 13 || memcmp(kp, w->prefix, w->prefixn)) return 1;
  if (buf_set(&w->k, kp, kn) == -1) return -1;
  p = w->k.s + w->prefixn;
  end = w->k.s + w->k.len;
  for (i = 0; i < 12; i++) {
    if (p[i] < '0' || p[i] > '9') return 0;
    slot = slot * 10 + (p[i] - '0');
  }
  if (slot >= w->to) return 1;
  p += 12;
  if (*p++) return 0;
  if (w->kind == EVENT_SLOT_DOMAIN) {
    domain = p;
    p = memchr(p, 0, (size_t)(end - p));
    if (!p) return 0;
    p++;
  }
  comp = p;
  p = memchr(p, 0, (size_t)(end - p));
  if (!p) return 0;
  user = p + 1;                    /* the rest; buf keeps a NUL after it */
  if (evk_counts_decode(&c, v, vn) == -1) return 0;
  r = w->fn(w->ctx, slot, domain, comp, user, &c);
  return r < 0 ? -1 : r > 0 ? r + 1 : 0;
}

int event_stat_walk(struct tbl *t, const char *tenant, int kind, long long from, long long to,
                    event_stat_fn *fn, void *ctx)
{
  struct sw w;
  struct buf start = BUF_ZERO;
  int r;
  memset(&w, 0, sizeof w);
  if (!evk_name_ok(tenant)) return errno = EINVAL, -1;
  if (from < 0) from = 0;
  if (to <= from) return 0;
  if (buf_addz(&start, tenant) == -1 || buf_addc(&start, (char)kind) == -1) return -1;
  w.prefixn = start.len;
  if (buf_printf(&start, "%012lld", from) == -1) return -1;
  w.prefix = start.s;
  w.kind = kind;
  w.to = to;
  w.fn = fn;
  w.ctx = ctx;
  r = evk_walk(t, EVT_STAT, start.s, start.len, 0, stat_one, &w);
  buf_free(&start);
  buf_free(&w.k);
  if (r == 1 || r == 0) return 0;
  return r > 1 ? r - 1 : r;
}

/* ---------- what is there ---------- */

struct first {
  struct buf k;
  int found;
};

static int first_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct first *f = ctx;
  (void)v; (void)vn;
  f->found = 1;
  return buf_set(&f->k, k, kn) == -1 ? -1 : 1;
}

/* Distinct first fields (up to their NUL) of the keys of table that
   start with prefix, by skipping: one short walk per name. */
static int names(struct tbl *t, const char *table, const char *prefix, size_t prefixn,
                 event_name_fn *fn, void *ctx)
{
  struct first f;
  struct buf from = BUF_ZERO, name = BUF_ZERO;
  int r = 0;
  memset(&f, 0, sizeof f);
  if (buf_set(&from, prefix, prefixn) == -1) return -1;
  for (;;) {
    const char *z;
    f.found = 0;
    r = tbl_walk(t, 0, table, from.s, from.len, 0, first_one, &f);
    if (r < 0) break;
    r = 0;
    if (!f.found || f.k.len < prefixn || memcmp(f.k.s, prefix, prefixn)) break;
    z = memchr(f.k.s + prefixn, 0, f.k.len - prefixn);
    if (!z) break;
    if (buf_set(&name, f.k.s + prefixn, (size_t)(z - f.k.s) - prefixn) == -1) { r = -1; break; }
    r = fn(ctx, name.s);
    if (r) break;
    /* Past every key of this name: NAME \1 sorts after NAME \0 ... */
    if (buf_set(&from, prefix, prefixn) == -1 || buf_add(&from, name.s, name.len) == -1
        || buf_addc(&from, 1) == -1) {
      r = -1;
      break;
    }
  }
  buf_free(&f.k);
  buf_free(&from);
  buf_free(&name);
  return r < 0 ? -1 : r;
}

int event_comps(struct tbl *t, const char *tenant, event_name_fn *fn, void *ctx)
{
  if (!evk_name_ok(tenant)) return errno = EINVAL, -1;
  return names(t, EVT_EVENT, tenant, strlen(tenant) + 1, fn, ctx);
}

struct tlist {
  struct buf all;
  size_t n;
};

static int tlist_one(void *ctx, const char *name)
{
  struct tlist *l = ctx;
  l->n++;
  return buf_addz(&l->all, name) == -1 ? -1 : 0;
}

static int cmpstr(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int event_tenants(struct tbl *t, event_name_fn *fn, void *ctx)
{
  struct tlist l;
  const char **v = 0;
  size_t i, j;
  int r;
  memset(&l, 0, sizeof l);
  r = names(t, EVT_EVENT, "", 0, tlist_one, &l);
  if (r == 0) r = names(t, EVT_STAT, "", 0, tlist_one, &l);
  if (r == 0 && l.n && !(v = calloc(l.n, sizeof *v))) r = -1;
  if (r == 0) {
    const char *p = l.all.s;
    for (i = 0; i < l.n; i++, p += strlen(p) + 1) v[i] = p;
    qsort(v, l.n, sizeof *v, cmpstr);
    for (i = 0; i < l.n && r == 0; i = j) {
      for (j = i + 1; j < l.n && !strcmp(v[i], v[j]); j++) {}
      r = fn(ctx, v[i]);
    }
  }
  free(v);
  buf_free(&l.all);
  return r < 0 ? -1 : r;
}

struct mids {
  const char *prefix;
  size_t prefixn;
  struct buf id;
  event_name_fn *fn;
  void *ctx;
};

static int mid_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct mids *m = ctx;
  int r;
  (void)v; (void)vn;
  if (kn <= m->prefixn || memcmp(k, m->prefix, m->prefixn)) return 1;
  if (buf_set(&m->id, (const char *)k + m->prefixn, kn - m->prefixn) == -1) return -1;
  r = m->fn(m->ctx, m->id.s);
  return r < 0 ? -1 : r > 0 ? r + 1 : 0;
}

int event_ids_of_message(struct tbl *t, const char *tenant, const char *message_id,
                         event_name_fn *fn, void *ctx)
{
  struct mids m;
  struct buf p = BUF_ZERO;
  int r;
  memset(&m, 0, sizeof m);
  if (!evk_name_ok(tenant) || !message_id || !*message_id) return errno = EINVAL, -1;
  if (buf_addz(&p, tenant) == -1 || buf_addz(&p, message_id) == -1) return -1;
  m.prefix = p.s;
  m.prefixn = p.len;
  m.fn = fn;
  m.ctx = ctx;
  r = evk_walk(t, EVT_MID, p.s, p.len, 0, mid_one, &m);
  buf_free(&p);
  buf_free(&m.id);
  if (r == 0 || r == 1) return 0;
  return r > 1 ? r - 1 : r;
}

/* ---------- recipients by substring ---------- */

struct af {
  const char *prefix;              /* P 's' S, P 'l' or P 'D' */
  size_t prefixn, partn;
  const char *s;                   /* lower case */
  size_t max, visited, naddr, off;
  int type, more;
  struct evk_map seen, doms;
  struct buf addr;
  event_name_fn *addr_fn, *domain_fn;
  void *ctx;
};

static int af_add(struct af *a)
{
  int created, r;
  if (evk_map_find(&a->doms, evk_domain(a->addr.s), strlen(evk_domain(a->addr.s))))
    return 0;                      /* its domain matches: found as such */
  if (!evk_map_get(&a->seen, a->addr.s, a->addr.len, &created)) return -1;
  if (!created) return 0;
  if (++a->naddr > a->max) {
    a->more = 1;
    return 1;
  }
  r = a->addr_fn(a->ctx, a->addr.s);
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

static int af_one(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct af *a = ctx;
  const char *k = kp, *z;
  size_t sn, pn;
  int r;
  (void)v; (void)vn;
  if (kn < a->prefixn || memcmp(k, a->prefix, a->prefixn)) return 1;
  buf_trunc(&a->addr, 0);
  if (a->type == ADDR_DOMAIN) {
    /* A substring of "@DOMAIN": every recipient of the domain has it. */
    if (buf_addc(&a->addr, '@') == -1 || buf_add(&a->addr, k + a->partn + 1, kn - a->partn - 1) == -1)
      return -1;
    if (!strstr(a->addr.s, a->s)) return 0;
    if (!evk_map_get(&a->doms, a->addr.s + 1, a->addr.len - 1, 0)) return -1;
    r = a->domain_fn(a->ctx, a->addr.s + 1);
    return r < 0 ? -1 : r > 0 ? 1 : 0;
  }
  if (a->type == ADDR_LONG) {
    /* Long recipients: the whole address, searched here. */
    if (buf_add(&a->addr, k + a->partn + 1, kn - a->partn - 1) == -1) return -1;
    if (!strstr(a->addr.s, a->s)) return 0;
    return af_add(a);
  }
  /* A common substring finds many suffixes of the same addresses: give up
     early, a scan in time order serves such a search better. */
  if (++a->visited > 3 * a->max + 64) {
    a->more = 1;
    return 1;
  }
  z = memchr(k + a->partn + 1, 0, kn - a->partn - 1);
  if (!z) return 0;
  sn = (size_t)(z - (k + a->partn + 1));
  pn = kn - (size_t)(z + 1 - k);
  /* The suffix starts with s[off:]; s itself must start off bytes before. */
  if (pn < a->off) return 0;
  if (buf_add(&a->addr, z + 1, pn) == -1 || buf_add(&a->addr, k + a->partn + 1, sn) == -1)
    return -1;
  if (memcmp(a->addr.s + pn - a->off, a->s, a->off)) return 0;
  return af_add(a);
}

int event_addr_find(struct tbl *t, const char *tenant, const char *comp, const char *s,
                    size_t max, event_name_fn *addr_fn, event_name_fn *domain_fn, void *ctx)
{
  struct af a;
  struct buf p = BUF_ZERO, lc = BUF_ZERO;
  size_t i, n;
  int r = 0;
  memset(&a, 0, sizeof a);
  if (!evk_name_ok(tenant) || !evk_name_ok(comp) || !s) return errno = EINVAL, -1;
  /* Suffixes are kept at every EVENT_ADDR_STEP-th byte: a shorter s
     could start after the last one of its address. */
  n = strlen(s);
  if (n <= EVENT_ADDR_STEP) return 1;
  evk_map_init(&a.seen, 1);
  evk_map_init(&a.doms, 1);
  a.max = max;
  a.addr_fn = addr_fn;
  a.domain_fn = domain_fn;
  a.ctx = ctx;
  if (evk_lower(&lc, s) == -1) r = -1;
  a.s = lc.s;
  /* Domains first: a recipient whose domain matches is not listed again.
     Then the suffixes that start with s, s[1:] ... s[STEP-1:]: an
     occurrence of s has a kept suffix within its first STEP bytes. */
  for (i = 0; r >= 0 && !a.more && i < EVENT_ADDR_STEP + 2; i++) {
    a.type = i == 0 ? ADDR_DOMAIN : i <= EVENT_ADDR_STEP ? ADDR_SUFFIX : ADDR_LONG;
    a.off = i - 1;
    a.visited = 0;
    if (evk_part(&p, tenant, comp) == -1) { r = -1; break; }
    a.partn = p.len;
    if (buf_addc(&p, (char)a.type) == -1
        || (a.type == ADDR_SUFFIX && buf_adds(&p, lc.s + a.off) == -1)) {
      r = -1;
      break;
    }
    a.prefix = p.s;
    a.prefixn = p.len;
    r = evk_walk(t, EVT_ADDR, p.s, p.len, 0, af_one, &a);
  }
  buf_free(&p);
  buf_free(&lc);
  buf_free(&a.addr);
  evk_map_free(&a.seen);
  evk_map_free(&a.doms);
  if (r < 0) return -1;
  return a.more;
}
