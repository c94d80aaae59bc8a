/* dsetrun.c: deliver's compiled copy of the delivery settings (see
   dsetrun.h): loading from db/, forwarding at pickup, classification of
   recipients, time windows, speed, sending IPs, and the header changes of
   step 1 of lib/dqprep.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "addr.h"
#include "dsetrun.h"
#include "envelope.h"
#include "io.h"
#include "dsetunsub.h"
#include "tenant.h"

#define DAY 86400LL

void dsetrun_init(struct dsetrun *r)
{
  memset(r, 0, sizeof *r);
}

static void part_free(struct dsetrun_part *p)
{
  size_t k, i;
  free(p->tenant);
  free(p->comp);
  for (k = 0; k < DSET_NKIND; k++) {
    for (i = 0; i < p->nfl[k]; i++) {
      dset_filter_free(&p->fl[k][i].def);
      filter_free(p->fl[k][i].f);
      filter_free(p->fl[k][i].x);
    }
    free(p->fl[k]);
  }
  for (i = 0; i < p->nip; i++) free(p->ip[i]);
  free(p->ip);
  free(p->tz);
  free(p->unsub_url);
  free(p->unsub_mailto);
}

static void parts_free(struct dsetrun_part *p, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++) part_free(&p[i]);
  free(p);
}

void dsetrun_free(struct dsetrun *r)
{
  parts_free(r->p, r->np);
  r->p = 0;
  r->np = 0;
}

int dsetrun_received(const char *s)
{
  if (!strcmp(s, "abbreviated")) return DSETRUN_RCVD_ABBREVIATED;
  if (!strcmp(s, "normal")) return DSETRUN_RCVD_NORMAL;
  if (!strcmp(s, "none")) return DSETRUN_RCVD_NONE;
  if (!strcmp(s, "delete-all")) return DSETRUN_RCVD_DELETE_ALL;
  return -1;
}

/* --- loading --- */

struct load {
  struct dsetrun_part *p;
  size_t np, cap;
  const char *tenant;                /* settings walk */
};

static struct dsetrun_part *part_of(struct load *l, const char *t, size_t tn, const char *c, size_t cn)
{
  struct dsetrun_part *p;
  size_t i;
  for (i = 0; i < l->np; i++)
    if (strlen(l->p[i].tenant) == tn && !memcmp(l->p[i].tenant, t, tn)
        && strlen(l->p[i].comp) == cn && !memcmp(l->p[i].comp, c, cn))
      return &l->p[i];
  if (l->np == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 8;
    struct dsetrun_part *np = realloc(l->p, nc * sizeof *np);
    if (!np) return errno = ENOMEM, (struct dsetrun_part *)0;
    l->p = np;
    l->cap = nc;
  }
  p = &l->p[l->np];
  memset(p, 0, sizeof *p);
  if (!(p->tenant = strndup(t, tn)) || !(p->comp = strndup(c, cn))) {
    free(p->tenant);
    free(p->comp);
    return errno = ENOMEM, (struct dsetrun_part *)0;
  }
  l->np++;
  return p;
}

/* Windows of f as sorted, merged intervals of one day. */
static void merge(struct dsetrun_filter *x)
{
  unsigned char day[24 * 60];
  size_t i;
  unsigned m;
  memset(day, 0, sizeof day);
  for (i = 0; i < x->def.nwin; i++) {
    unsigned a = x->def.win[i].from, b = x->def.win[i].to;
    if (a >= 24 * 60 || b >= 24 * 60 || a == b) continue;
    if (a < b) memset(day + a, 1, b - a);
    else {
      memset(day + a, 1, 24 * 60 - a);
      memset(day, 1, b);
    }
  }
  x->nmerged = 0;
  for (m = 0; m < 24 * 60;) {
    unsigned e;
    if (!day[m]) { m++; continue; }
    for (e = m; e < 24 * 60 && day[e]; e++) ;
    x->merged[x->nmerged].from = m;
    x->merged[x->nmerged].to = e;            /* exclusive; 1440 = midnight */
    x->nmerged++;
    m = e;
  }
}

static int add_filter(struct dsetrun_part *p, int k, const void *v, size_t vn)
{
  struct dsetrun_filter *x, *nf;
  struct buf err = BUF_ZERO;
  nf = realloc(p->fl[k], (p->nfl[k] + 1) * sizeof *nf);
  if (!nf) return errno = ENOMEM, -1;
  p->fl[k] = nf;
  x = &nf[p->nfl[k]];
  memset(x, 0, sizeof *x);
  if (dset_filter_decode(&x->def, v, vn) == -1) {
    if (errno == ENOMEM) return -1;
    dset_filter_init(&x->def);       /* a record we cannot read: a filter that never matches */
  } else {
    /* Checked when saved; one that fails now (say, another PCRE2) never matches. */
    if (filter_new(&x->f, (const char *const *)x->def.header, (const char *const *)x->def.pattern,
                   x->def.ncond, &err) == -1 && errno == ENOMEM)
      goto nomem;
    if (x->def.nxcond
        && filter_new(&x->x, (const char *const *)x->def.xheader,
                      (const char *const *)x->def.xpattern, x->def.nxcond, &err) == -1) {
      if (errno == ENOMEM) goto nomem;
      filter_free(x->f);             /* half a window filter would hold too much */
      x->f = 0;
    }
    merge(x);
  }
  buf_free(&err);
  p->nfl[k]++;
  return 0;
nomem:
  buf_free(&err);
  filter_free(x->f);
  dset_filter_free(&x->def);
  return errno = ENOMEM, -1;
}

static int load_dset(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct load *l = ctx;
  const char *k = kp, *end = k + kn, *z1, *z2, *w;
  struct dsetrun_part *p;
  if (kn == 0 || k[0] == 0) return 0;              /* the generation */
  if (!(z1 = memchr(k, 0, kn)) || !(z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1)))) return 0;
  w = z2 + 1;
  if (w >= end) return 0;
  if (!(p = part_of(l, k, (size_t)(z1 - k), z1 + 1, (size_t)(z2 - z1 - 1)))) return -1;
  if (*w == 'f' && end - w >= 4 && !w[1]) {
    static const char kc[DSET_NKIND] = { 's', 'p', 'w', 'f', 'u' };
    const char *c = memchr(kc, w[2], DSET_NKIND);
    if (!c) return 0;
    return add_filter(p, (int)(c - kc), v, vn);
  }
  if (*w == 'd' && end - w == 1) {
    struct dset_filter f;
    struct buf rec = BUF_ZERO;
    int r = buf_add(&rec, "n=default", 10) == -1 || buf_add(&rec, v, vn) == -1 ? -1 : 0;
    if (r == 0 && dset_filter_decode(&f, rec.s, rec.len) == 0) {
      p->dflt.maxconn = f.maxconn;
      p->dflt.interval = f.interval;
      p->dflt.nips = f.nips;
      dset_filter_free(&f);
    } else if (r == -1 || errno == ENOMEM) {
      r = -1;
    }
    buf_free(&rec);
    return r;
  }
  if (*w == 'i' && end - w > 2 && !w[1]) {
    char **ni;
    if (p->nip >= DSET_IPS_MAX) return 0;
    if (!(ni = realloc(p->ip, (p->nip + 1) * sizeof *ni))) return errno = ENOMEM, -1;
    p->ip = ni;
    if (!(p->ip[p->nip] = strndup(w + 2, (size_t)(end - w - 2)))) return errno = ENOMEM, -1;
    p->nip++;
  }
  return 0;
}

static int load_setting(void *ctx, const char *comp, const char *key, const char *value)
{
  struct load *l = ctx;
  struct dsetrun_part *p;
  char **dst = 0;
  if (!strcmp(key, "received")) {
    int m = dsetrun_received(value);
    if (m < 0) return 0;
    if (!(p = part_of(l, l->tenant, strlen(l->tenant), comp, strlen(comp)))) return -1;
    p->received = m;
    return 0;
  }
  if (strcmp(key, "timezone") && strcmp(key, "unsubscribe_url") && strcmp(key, "unsubscribe_mailto"))
    return 0;
  if (!(p = part_of(l, l->tenant, strlen(l->tenant), comp, strlen(comp)))) return -1;
  dst = !strcmp(key, "timezone") ? &p->tz : !strcmp(key, "unsubscribe_url") ? &p->unsub_url
                                                                           : &p->unsub_mailto;
  free(*dst);
  if (!(*dst = strdup(value))) return errno = ENOMEM, -1;
  return 0;
}

struct names {
  char **v;
  size_t n, cap;
};

static int load_tenant(void *ctx, const char *name)
{
  struct names *l = ctx;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    char **nv = realloc(l->v, nc * sizeof *nv);
    if (!nv) return errno = ENOMEM, -1;
    l->v = nv;
    l->cap = nc;
  }
  if (!(l->v[l->n] = strdup(name))) return errno = ENOMEM, -1;
  l->n++;
  return 0;
}

/* Read everything into l; the caller compares generations. */
static int load(struct load *l, struct tbl *t)
{
  struct names names = { 0, 0, 0 };
  size_t i;
  int r = -1;
  if (tbl_walk(t, 0, DSET_TABLE, 0, 0, 0, load_dset, l) == -1) goto out;
  if (tenant_list(t, load_tenant, &names) == -1) goto out;
  for (i = 0; i < names.n; i++) {
    l->tenant = names.v[i];
    if (tenant_set_list(t, names.v[i], 0, load_setting, l) == -1) goto out;
  }
  r = 0;
out:
  for (i = 0; i < names.n; i++) free(names.v[i]);
  free(names.v);
  return r;
}

int dsetrun_refresh(struct dsetrun *r, struct tbl *t)
{
  struct load l;
  unsigned long long gen;
  if (dset_generation(t, &gen) == -1) return -1;
  if (r->serial && gen == r->gen) return 0;
  memset(&l, 0, sizeof l);
  if (load(&l, t) == -1) {
    int e = errno;
    parts_free(l.p, l.np);
    return errno = e, -1;
  }
  parts_free(r->p, r->np);
  r->p = l.p;
  r->np = l.np;
  r->gen = gen;
  r->serial++;
  if (!r->serial) r->serial = 1;
  r->tick_minute = -1;               /* offsets of the new zones at the next tick */
  return 1;
}

const struct dsetrun_part *dsetrun_part(const struct dsetrun *r, const char *tenant,
                                        const char *comp)
{
  size_t i;
  for (i = 0; i < r->np; i++)
    if (!strcmp(r->p[i].tenant, tenant) && !strcmp(r->p[i].comp, comp)) return &r->p[i];
  return 0;
}

/* --- matching --- */

static int fmatch(const struct dsetrun_filter *x, struct filter_msg *fm)
{
  int k;
  if (!x->f) return 0;
  k = filter_match(x->f, fm);
  if (k != 1) return k;
  if (!x->x) return 1;
  k = filter_match(x->x, fm);
  return k == -1 ? -1 : !k;
}

/* The first filter of list k that takes the recipient of fm: index + 1,
   0 none, -1 ENOMEM. */
static long first(const struct dsetrun_part *p, int k, struct filter_msg *fm)
{
  size_t i;
  if (!p) return 0;
  for (i = 0; i < p->nfl[k] && i < 65535; i++) {
    int r = fmatch(&p->fl[k][i], fm);
    if (r == -1) return -1;
    if (r == 1) return (long)i + 1;
  }
  return 0;
}

int dsetrun_forward(const struct dsetrun *r, struct dq_msg *m, const char *msg, size_t len)
{
  const struct dsetrun_part *p = dsetrun_part(r, m->tenant, m->comp);
  struct filter_msg fm;
  struct buf line = BUF_ZERO;
  size_t n0 = m->nrcpt, i, j;
  int changed = 0, ret = -1;
  if (!p || !p->nfl[DSET_FORWARD]) return 0;
  filter_msg_init(&fm, msg, len, 0);
  for (i = 0; i < n0; i++) {
    const struct dsetrun_filter *x;
    long w;
    int dup = 0;
    filter_msg_rcpt(&fm, m->r[i].addr);
    if ((w = first(p, DSET_FORWARD, &fm)) == -1) goto out;
    if (w == 0) continue;
    x = &p->fl[DSET_FORWARD][w - 1];
    for (j = 0; j < m->nrcpt; j++)
      if (j != i && !addr_cmp(m->r[j].addr, x->def.addr)) dup = 1;
    if (x->def.rewrite) {
      char *a;
      if (dup) {
        /* The forwarding address is a recipient already: this one goes. */
        if (m->nrcpt == 1) continue;
        free(m->r[i].addr);
        memmove(m->r + i, m->r + i + 1, (m->nrcpt - i - 1) * sizeof *m->r);
        m->nrcpt--;
        n0--;
        i--;
      } else {
        if (!(a = strdup(x->def.addr))) goto out;
        buf_trunc(&line, 0);
        if (r->log && buf_printf(&line, "forward id=%s rcpt=%s to=%s mode=rewrite filter=%s",
                                 m->id, m->r[i].addr, a, x->def.name) == 0)
          r->log(line.s);
        free(m->r[i].addr);
        m->r[i].addr = a;
      }
      changed = 1;
    } else if (!dup && !addr_cmp(m->r[i].addr, x->def.addr)) {
      continue;                      /* a copy to itself */
    } else if (!dup && m->nrcpt < ENVELOPE_MAXRCPT) {
      struct dq_rcpt *nr = realloc(m->r, (m->nrcpt + 1) * sizeof *nr);
      if (!nr) goto out;
      m->r = nr;
      memset(&m->r[m->nrcpt], 0, sizeof m->r[m->nrcpt]);
      if (!(m->r[m->nrcpt].addr = strdup(x->def.addr))) goto out;
      m->r[m->nrcpt].state = DQ_PENDING;
      m->nrcpt++;
      buf_trunc(&line, 0);
      if (r->log && buf_printf(&line, "forward id=%s rcpt=%s to=%s mode=copy filter=%s",
                               m->id, m->r[i].addr, x->def.addr, x->def.name) == 0)
        r->log(line.s);
      changed = 1;
    }
  }
  ret = changed;
out:
  filter_msg_free(&fm);
  buf_free(&line);
  if (ret == -1) errno = ENOMEM;
  return ret;
}

int dsetrun_classify(const struct dsetrun *r, struct dq_msg *m, const char *msg, size_t len)
{
  const struct dsetrun_part *p = dsetrun_part(r, m->tenant, m->comp);
  struct filter_msg fm;
  size_t i;
  int ret = -1;
  filter_msg_init(&fm, msg, msg ? len : 0, 0);
  for (i = 0; i < m->nrcpt; i++) {
    struct dq_rcpt *rc = &m->r[i];
    long w;
    rc->prio = DSET_PRIO_DEFAULT;
    rc->speed = rc->hold = rc->unsub = 0;
    if (!p) continue;
    filter_msg_rcpt(&fm, rc->addr);
    if ((w = first(p, DSET_PRIO, &fm)) == -1) goto out;
    if (w) rc->prio = (unsigned char)p->fl[DSET_PRIO][w - 1].def.prio;
    if ((w = first(p, DSET_SPEED, &fm)) == -1) goto out;
    rc->speed = (unsigned short)w;
    if ((w = first(p, DSET_WINDOW, &fm)) == -1) goto out;
    rc->hold = (unsigned short)w;
    if ((w = first(p, DSET_UNSUB, &fm)) == -1) goto out;
    rc->unsub = (unsigned short)w;
  }
  m->dsgen = r->serial;
  ret = 0;
out:
  filter_msg_free(&fm);
  if (ret == -1) errno = ENOMEM;
  return ret;
}

/* Where the message starts in b (after the envelope's "\0\0": every
   field has its tag, so two NULs in a row only end it), scanning from
   from; its offset, or 0. */
static size_t msg_start(const struct buf *b, size_t from)
{
  size_t i;
  for (i = from ? from - 1 : 0; i + 1 < b->len; i++)
    if (!b->s[i] && !b->s[i + 1]) return i + 2;
  return 0;
}

/* 1 if s[from..n) holds an empty line (the end of a header). */
static int has_blank(const char *s, size_t from, size_t n)
{
  size_t i;
  for (i = from ? from - 1 : 0; i + 1 < n; i++)
    if (s[i] == '\n' && (s[i + 1] == '\n' || (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n')))
      return 1;
  return 0;
}

int dsetrun_classify_file(const struct dsetrun *r, struct dq_msg *m, const char *path)
{
  struct buf b = BUF_ZERO;
  size_t off = 0, scanned = 0;
  int fd, ret;
  if (!dsetrun_part(r, m->tenant, m->comp)) return dsetrun_classify(r, m, 0, 0);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  /* Read to the end of the header (or DSETRUN_HEADER_MAX of it), not the
     whole message. */
  while (fd != -1) {
    ssize_t k;
    size_t before = b.len;
    if (buf_ready(&b, 65536) == -1) {
      close(fd);
      buf_free(&b);
      return errno = ENOMEM, -1;
    }
    k = read_retry(fd, b.s + b.len, 65536);
    if (k <= 0) break;
    b.len += (size_t)k;
    if (!off) {
      off = msg_start(&b, scanned);
      scanned = b.len;
      if (!off) {
        if (b.len > ENVELOPE_MAX) break;
        continue;
      }
      before = off;
    }
    if (b.len - off >= DSETRUN_HEADER_MAX || has_blank(b.s, before, b.len)) break;
  }
  if (fd != -1) close(fd);
  if (off) {
    size_t n = b.len - off;
    ret = dsetrun_classify(r, m, b.s + off, n > DSETRUN_HEADER_MAX ? DSETRUN_HEADER_MAX : n);
  } else {
    ret = dsetrun_classify(r, m, 0, 0);
  }
  buf_free(&b);
  return ret;
}

const char *dsetrun_unsub_name(const struct dsetrun *r, const struct dq_msg *m, size_t idx)
{
  const struct dsetrun_part *p;
  unsigned u;
  if (!r || idx >= m->nrcpt || !(u = m->r[idx].unsub) || m->dsgen != r->serial) return 0;
  if (!(p = dsetrun_part(r, m->tenant, m->comp)) || u > p->nfl[DSET_UNSUB]) return 0;
  return p->fl[DSET_UNSUB][u - 1].def.name;
}

/* --- time --- */

void dsetrun_tick(struct dsetrun *r, long long now)
{
  long long minute = (now + r->clock_offset) / 60;
  size_t i;
  if (minute == r->tick_minute) return;
  r->tick_minute = minute;
  for (i = 0; i < r->np; i++) {
    struct dsetrun_part *p = &r->p[i];
    long off = 0;
    if (!p->nfl[DSET_WINDOW]) continue;
    if (!r->tz || r->tz(p->tz ? p->tz : DSET_TIMEZONE_DEFAULT, now + r->clock_offset, &off) == -1)
      off = 0;
    p->gmtoff = off;
  }
}

static const struct dsetrun_filter *window_of(const struct dsetrun *r, const struct dq_msg *m,
                                              size_t idx, const struct dsetrun_part **pp)
{
  const struct dsetrun_part *p;
  unsigned h = m->r[idx].hold;
  if (!h || m->dsgen != r->serial || !(p = dsetrun_part(r, m->tenant, m->comp))
      || h > p->nfl[DSET_WINDOW])
    return 0;
  *pp = p;
  return &p->fl[DSET_WINDOW][h - 1];
}

static long long mod(long long a, long long b)
{
  long long x = a % b;
  return x < 0 ? x + b : x;
}

long long dsetrun_hold(const struct dsetrun *r, const struct dq_msg *m, size_t idx, long long now)
{
  const struct dsetrun_part *p;
  const struct dsetrun_filter *w = window_of(r, m, idx, &p);
  long long local, wait = 0;
  size_t round, i;
  if (!w || !w->nmerged) return 0;
  local = now + r->clock_offset + p->gmtoff;
  /* Follow windows that touch (23:00-24:00 then 00:00-06:00) to the end. */
  for (round = 0; round <= w->nmerged; round++) {
    long long s = mod(local + wait, DAY);
    int in = 0;
    for (i = 0; i < w->nmerged; i++)
      if (s >= w->merged[i].from * 60LL && s < w->merged[i].to * 60LL) {
        wait += w->merged[i].to * 60LL - s;
        in = 1;
        break;
      }
    if (!in) break;
  }
  if (round > w->nmerged) wait = DAY;  /* every minute of the day: look again tomorrow */
  return wait ? now + wait : 0;
}

long long dsetrun_held(const struct dsetrun *r, const struct dq_msg *m, size_t idx,
                       long long from, long long to)
{
  const struct dsetrun_part *p;
  const struct dsetrun_filter *w = window_of(r, m, idx, &p);
  long long lf, lt, d, sum = 0;
  size_t i;
  if (!w || !w->nmerged || to <= from) return 0;
  lf = from + r->clock_offset + p->gmtoff;
  lt = to + r->clock_offset + p->gmtoff;
  for (d = lf - mod(lf, DAY); d < lt; d += DAY)
    for (i = 0; i < w->nmerged; i++) {
      long long a = d + w->merged[i].from * 60LL, b = d + w->merged[i].to * 60LL;
      if (a < lf) a = lf;
      if (b > lt) b = lt;
      if (b > a) sum += b - a;
    }
  return sum;
}

/* --- speed and sending IPs --- */

void dsetrun_speed(const struct dsetrun *r, const struct dq_msg *m, size_t idx,
                   unsigned defconn, struct dset_speed *out)
{
  const struct dsetrun_part *p = dsetrun_part(r, m->tenant, m->comp);
  unsigned s = m->r[idx].speed;
  out->maxconn = defconn;
  out->interval = 0;
  out->nips = 0;
  if (!p) return;
  if (s && m->dsgen == r->serial && s <= p->nfl[DSET_SPEED] && p->fl[DSET_SPEED][s - 1].f) {
    const struct dset_filter *f = &p->fl[DSET_SPEED][s - 1].def;
    out->maxconn = f->maxconn ? f->maxconn : defconn;
    out->interval = f->interval;
    out->nips = f->nips;
    return;
  }
  if (p->dflt.maxconn) out->maxconn = p->dflt.maxconn;
  out->interval = p->dflt.interval;
  out->nips = p->dflt.nips;
}

size_t dsetrun_ips(const struct dsetrun *r, const struct dq_msg *m, unsigned nips,
                   const char *dest, const char **ips, size_t max)
{
  const struct dsetrun_part *p = dsetrun_part(r, m->tenant, m->comp);
  unsigned long long h = 1469598103934665603ULL;   /* FNV-1a of the destination */
  size_t n, i, start;
  if (!p || !p->nip) return 0;
  n = nips && nips < p->nip ? nips : p->nip;
  if (n > max) n = max;
  for (; *dest; dest++) h = (h ^ (unsigned char)*dest) * 1099511628211ULL;
  start = n == p->nip ? 0 : (size_t)(h % p->nip);
  for (i = 0; i < n; i++) ips[i] = p->ip[(start + i) % p->nip];
  return n;
}

/* --- step 1: header changes --- */

static int drop(const char *l, size_t n, int rcvd, int unsub)
{
  static const char *const un[] = { "list-unsubscribe", "list-unsubscribe-post" };
  const char *colon = memchr(l, ':', n);
  size_t k, i;
  if (!colon) return 0;
  k = (size_t)(colon - l);
  while (k && (l[k - 1] == ' ' || l[k - 1] == '\t')) k--;
  if (rcvd && k == 8 && !strncasecmp(l, "received", 8)) return 1;
  if (unsub)
    for (i = 0; i < 2; i++)
      if (k == strlen(un[i]) && !strncasecmp(l, un[i], k)) return 1;
  return 0;
}

int dsetrun_rewrite(const struct dsetrun *r, const struct dq_msg *m, size_t idx,
                    const char *bounce_domain, const char *msg, size_t len, struct buf *out)
{
  const struct dsetrun_part *p = dsetrun_part(r, m->tenant, m->comp);
  const struct dsetrun_filter *uf = 0;
  struct buf tok = BUF_ZERO, url = BUF_ZERO, mailto = BUF_ZERO;
  int rcvd, ret = -1, skipping = 0;
  size_t i = 0;
  if (!p || idx >= m->nrcpt) return 0;
  rcvd = p->received == DSETRUN_RCVD_DELETE_ALL;
  if (m->dsgen == r->serial && m->r[idx].unsub && m->r[idx].unsub <= p->nfl[DSET_UNSUB] && r->key.n)
    uf = &p->fl[DSET_UNSUB][m->r[idx].unsub - 1];
  if (!rcvd && !uf) return 0;
  buf_trunc(out, 0);
  if (uf) {
    if (p->unsub_url) {
      if (buf_adds(&url, p->unsub_url) == -1) goto out;
    } else if (buf_printf(&url, "https://%s/cgi-bin/unsubscribe", r->hostname ? r->hostname : "localhost") == -1) {
      goto out;
    }
    if (p->unsub_mailto) {
      if (buf_adds(&mailto, p->unsub_mailto) == -1) goto out;
    } else if (buf_printf(&mailto, "unsubscribe@%s", bounce_domain && *bounce_domain ? bounce_domain
                                  : r->hostname ? r->hostname : "localhost") == -1) {
      goto out;
    }
    if (dsetunsub_token(&tok, &r->key, m->tenant, m->comp, uf->def.name, m->r[idx].addr) == -1
        || dsetunsub_headers(out, url.s, mailto.s, tok.s) == -1) {
      if (errno == ENOMEM) goto out;
      buf_trunc(out, 0);             /* an address too long for a header line: no header */
      uf = 0;
      if (!rcvd) { ret = 0; goto out; }
    }
  }
  /* The header, without the fields that go. */
  while (i < len) {
    const char *l = msg + i, *e = memchr(l, '\n', len - i);
    size_t n = e ? (size_t)(e - l) + 1 : len - i, t = n;
    while (t && (l[t - 1] == '\n' || l[t - 1] == '\r')) t--;
    if (t == 0) break;               /* the empty line: the body follows */
    if (l[0] == ' ' || l[0] == '\t') {
      if (!skipping && buf_add(out, l, n) == -1) goto out;
    } else {
      skipping = drop(l, t, rcvd, uf != 0);
      if (!skipping && buf_add(out, l, n) == -1) goto out;
    }
    i += n;
  }
  if (buf_add(out, msg + i, len - i) == -1) goto out;
  ret = 1;
out:
  buf_free(&tok);
  buf_free(&url);
  buf_free(&mailto);
  return ret;
}
