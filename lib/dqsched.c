/* dqsched.c: deliver's scheduler state, spool moves and db/ records (see
   dqsched.h).  Commit points: a pickup's events and rows commit before the
   rename to queue/ (a crash between leaves a row for a file still in new/:
   the next pickup finds the row and only renames); results commit before
   a final message's file is unlinked, and its row is deleted only after
   the unlink is durable (a crash between leaves a final row whose file is
   gone or still there: resume finishes the job either way). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "dqhdr.h"
#include "dqsched.h"
#include "envelope.h"
#include "event.h"
#include "io.h"
#include "spool.h"
#include "tenant.h"

#define TXN_TRIES 50
#define TABLE "queue"

struct dqsched_upd {
  struct dq_msg *m;
  size_t idx;
  int status, err;
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

/* --- db --- */
static void nap(int tries)
{
  struct timespec ts = { 0, 1000000L * (1 + (tries % 20)) };
  nanosleep(&ts, 0);
}

static int reopen(struct dqsched *q)
{
  if (q->db) tbl_close(q->db);
  q->db = 0;
  return tbl_open(&q->db, q->dbdir, 0);
}

typedef int txn_fn(struct dqsched *q, struct tbl_txn *x, void *ctx);

/* Run fn in a transaction until it commits: EDEADLK retries, EAGAIN
   reopens the environment first. */
static int txn_run(struct dqsched *q, txn_fn *fn, void *ctx)
{
  int tries, e = EIO;
  for (tries = 0; tries < TXN_TRIES; tries++) {
    struct tbl_txn *x;
    if (!q->db && reopen(q) == -1) {
      e = errno;
      nap(tries * 10);
      continue;
    }
    if (tbl_begin(q->db, &x) == 0) {
      if (fn(q, x, ctx) == 0) {
        if (tbl_commit(x) == 0) return 0;
      } else {
        tbl_abort(x);
      }
    }
    e = errno;
    if (e == EAGAIN) {
      if (q->warn) q->warn("database needs recovery: reopening ", q->dbdir, 0);
      reopen(q);
    } else if (e != EDEADLK) {
      break;
    }
    nap(tries);
  }
  return errno = e, -1;
}

/* A read outside a transaction failed: reopen when recovery is needed. */
static void read_failed(struct dqsched *q)
{
  if (errno == EAGAIN) reopen(q);
}

static int path(char *out, size_t n, const struct dqsched *q, const char *sub, const char *id)
{
  int r = id ? snprintf(out, n, "%s/%s/%s", q->spooldir, sub, id)
             : snprintf(out, n, "%s/%s", q->spooldir, sub);
  if (r < 0 || (size_t)r >= n) return errno = ENAMETOOLONG, -1;
  return 0;
}

static int fsync_sub(const struct dqsched *q, const char *sub)
{
  char p[4200];
  if (path(p, sizeof p, q, sub, 0) == -1) return -1;
  return fsync_dir(p);
}

static void list_add(struct dqsched *q, struct dq_msg *m)
{
  m->next = 0;
  m->prev = q->tail;
  if (q->tail) q->tail->next = m;
  else q->head = m;
  q->tail = m;
  q->nmsg++;
}

static void list_del(struct dqsched *q, struct dq_msg *m)
{
  if (m->prev) m->prev->next = m->next;
  else q->head = m->next;
  if (m->next) m->next->prev = m->prev;
  else q->tail = m->prev;
  m->prev = m->next = 0;
  q->nmsg--;
}

static void ev_fill(struct event *e, const struct dq_msg *m, size_t idx)
{
  memset(e, 0, sizeof *e);
  e->tenant = m->tenant;
  e->composition = m->comp;
  e->id = m->id;
  e->message_id = m->message_id;
  e->sender = m->sender;
  e->from = m->from;
  e->rcpt = m->r[idx].addr;
  e->subject = m->subject;
  e->api_data = m->api_data;
  e->source_ip = m->client_ip;
  e->user = m->user;
}

static int row_put(struct dqsched *q, struct tbl_txn *x, const struct dq_msg *m)
{
  struct buf v = BUF_ZERO;
  int r = dq_encode(&v, m);
  if (r == 0) r = tbl_put(q->db, x, TABLE, m->id, strlen(m->id), v.s, v.len);
  buf_free(&v);
  return r;
}

int dqsched_open(struct dqsched *q, const char *spooldir, const char *dbdir)
{
  memset(q, 0, sizeof *q);
  if (strlen(spooldir) >= sizeof q->spooldir || strlen(dbdir) >= sizeof q->dbdir)
    return errno = ENAMETOOLONG, -1;
  memcpy(q->spooldir, spooldir, strlen(spooldir) + 1);
  memcpy(q->dbdir, dbdir, strlen(dbdir) + 1);
  q->period = DQ_RETRY_PERIOD_DEFAULT;
  q->interval = DQ_RETRY_INTERVAL_DEFAULT;
  return tbl_open(&q->db, dbdir, 0);
}

void dqsched_close(struct dqsched *q)
{
  struct dq_msg *m, *n;
  size_t i;
  for (m = q->head; m; m = n) {
    n = m->next;
    dq_msg_free(m);
  }
  q->head = q->tail = 0;
  for (i = 0; i < q->nbad; i++) free(q->bad[i]);
  free(q->bad);
  if (q->db) tbl_close(q->db);
  q->db = 0;
}

/* --- pickup --- */
struct pick {
  struct dq_msg **m, **old;          /* old: the row a crash left behind */
  size_t n;
};

static int pick_tx(struct dqsched *q, struct tbl_txn *x, void *ctx)
{
  struct pick *p = ctx;
  struct buf v = BUF_ZERO;
  size_t i, j;
  int r = 0;
  for (i = 0; i < p->n && r == 0; i++) {
    struct dq_msg *m = p->m[i];
    dq_msg_free(p->old[i]);
    p->old[i] = 0;
    r = tbl_get(q->db, x, TABLE, m->id, strlen(m->id), &v);
    if (r == -1) break;
    if (r == 0 && (p->old[i] = dq_decode(v.s, v.len)) != 0) continue;
    if (r == 0 && errno == ENOMEM) { r = -1; break; }
    r = 0;
    for (j = 0; j < m->nrcpt && r == 0; j++) {
      struct event e;
      ev_fill(&e, m, j);
      e.time = m->accepted;
      e.status = EV_QUEUED;
      r = event_add(q->db, x, &e);
    }
    if (r == 0) r = row_put(q, x, m);
  }
  buf_free(&v);
  return r;
}

static int is_bad(const struct dqsched *q, const char *id)
{
  size_t i;
  for (i = 0; i < q->nbad; i++) if (!strcmp(q->bad[i], id)) return 1;
  return 0;
}

static void mark_bad(struct dqsched *q, const char *id)
{
  char **nb;
  if (q->nbad >= DQSCHED_BAD_MAX) return;
  nb = realloc(q->bad, (q->nbad + 1) * sizeof *nb);
  if (!nb) return;
  q->bad = nb;
  if ((q->bad[q->nbad] = strdup(id))) q->nbad++;
}

/* Read the files names[0..n) of sub into messages, record them, move them
   (from new/) or leave them (already in queue/).  Count taken, or -1. */
static long pick(struct dqsched *q, const char *sub, char **names, size_t n)
{
  struct pick p = { 0, 0, 0 };
  struct buf file = BUF_ZERO, line = BUF_ZERO;
  struct dqhdr h = DQHDR_ZERO;
  size_t i, k = 0;
  long taken = 0;
  int renamed = 0, do_rename = !strcmp(sub, "new");
  p.m = calloc(n + 1, sizeof *p.m);
  p.old = calloc(n + 1, sizeof *p.old);
  if (!p.m || !p.old) goto nomem;
  for (i = 0; i < n; i++) {
    char fp[4200];
    struct envelope e;
    size_t off;
    struct dq_msg *m;
    if (path(fp, sizeof fp, q, sub, names[i]) == -1) continue;
    if (spool_read(fp, &file, &e, &off) == -1) {
      if (errno == ENOENT) continue;
      if (errno == ENOMEM) goto nomem;
      if (q->warn) q->warn("unable to read spool file ", fp, errno);
      if (errno == EINVAL) mark_bad(q, names[i]);
      continue;
    }
    if (strcmp(e.id, names[i]) != 0) {
      if (q->warn) q->warn("spool file has another id inside: ", fp, 0);
      mark_bad(q, names[i]);
      envelope_free(&e);
      continue;
    }
    m = dq_msg_new(names[i], e.tenant, e.composition, e.sender, e.client_ip, e.user,
                   e.accepted, e.is_8bitmime, e.is_smtputf8, e.rcpt, e.nrcpt);
    envelope_free(&e);
    if (!m) goto nomem;
    p.m[k++] = m;
    if (dqhdr_parse(&h, file.s + off, file.len - off) == -1
        || dq_msg_sethdr(m, h.from.s, h.subject.s, h.message_id.s, h.api_data.s) == -1)
      goto nomem;
  }
  p.n = k;
  if (k && txn_run(q, pick_tx, &p) == -1) {
    taken = -1;
    goto out;
  }
  for (i = 0; i < k; i++) {
    struct dq_msg *m = p.m[i];
    if (p.old[i]) {                  /* recorded before a crash: keep that record */
      dq_msg_free(m);
      m = p.m[i] = p.old[i];
      p.old[i] = 0;
    }
    if (do_rename) {
      char from[4200], to[4200];
      if (path(from, sizeof from, q, "new", m->id) == -1 || path(to, sizeof to, q, "queue", m->id) == -1
          || rename(from, to) == -1) {
        /* Stays in new/ with its row: the next scan only renames it. */
        if (q->warn) q->warn("unable to move to queue/: ", m->id, errno);
        continue;
      }
      renamed = 1;
    }
    p.m[i] = 0;
    list_add(q, m);
    taken++;
    buf_trunc(&line, 0);
    if (q->log && buf_printf(&line, "queued id=%s tenant=%s from=<%s> nrcpt=%zu",
                             m->id, m->tenant, m->sender, m->nrcpt) == 0)
      q->log(line.s);
  }
  if (renamed && (fsync_sub(q, "queue") == -1 || fsync_sub(q, "new") == -1) && q->warn)
    q->warn("unable to sync ", q->spooldir, errno);
  goto out;
nomem:
  errno = ENOMEM;
  taken = -1;
out:
  for (i = 0; p.m && i < n; i++) {
    dq_msg_free(p.m[i]);
    dq_msg_free(p.old[i]);
  }
  free(p.m);
  free(p.old);
  buf_free(&file);
  buf_free(&line);
  dqhdr_free(&h);
  return taken;
}

/* Up to max valid ids in sub (skipping known bad ones) into names. */
static long scan(struct dqsched *q, const char *sub, char **names, size_t max)
{
  char dp[4200];
  DIR *d;
  struct dirent *de;
  size_t n = 0;
  if (path(dp, sizeof dp, q, sub, 0) == -1 || !(d = opendir(dp))) return -1;
  while (n < max && (de = readdir(d))) {
    if (!spool_id_ok(de->d_name) || is_bad(q, de->d_name)) continue;
    if (!(names[n] = strdup(de->d_name))) break;
    n++;
  }
  closedir(d);
  return (long)n;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

long dqsched_pickup(struct dqsched *q)
{
  char *names[DQSCHED_PICKUP_BATCH];
  long total = 0;
  for (;;) {
    long n = scan(q, "new", names, DQSCHED_PICKUP_BATCH), t, i;
    if (n <= 0) return n < 0 ? -1 : total;
    /* Oldest first: ids begin with their time. */
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    t = pick(q, "new", names, (size_t)n);
    for (i = 0; i < n; i++) free(names[i]);
    if (t == -1) return -1;
    total += t;
    if (n < DQSCHED_PICKUP_BATCH || t == 0) return total;
  }
}

/* --- resume --- */
struct rows {
  struct dq_msg **m;
  size_t n, cap;
  char **del;                        /* rows to delete */
  size_t ndel, capdel;
};

static int push(void ***a, size_t *n, size_t *cap, void *p)
{
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    void **na = realloc(*a, nc * sizeof *na);
    if (!na) return errno = ENOMEM, -1;
    *a = na;
    *cap = nc;
  }
  (*a)[(*n)++] = p;
  return 0;
}

static int rows_fn(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct rows *rs = ctx;
  struct dq_msg *m = dq_decode(v, vn);
  if (m && kn == strlen(m->id) && !memcmp(k, m->id, kn))
    return push((void ***)&rs->m, &rs->n, &rs->cap, m) == -1 ? -1 : 0;
  if (!m && errno == ENOMEM) return -1;
  dq_msg_free(m);
  {
    char *key = strndup(k, kn);      /* a bad row: dropped, the file picks up anew */
    if (!key || push((void ***)&rs->del, &rs->ndel, &rs->capdel, key) == -1) return -1;
  }
  return 0;
}

static int del_tx(struct dqsched *q, struct tbl_txn *x, void *ctx)
{
  struct rows *rs = ctx;
  size_t i;
  for (i = 0; i < rs->ndel; i++)
    if (tbl_del(q->db, x, TABLE, rs->del[i], strlen(rs->del[i])) == -1) return -1;
  return 0;
}

static int exists(const struct dqsched *q, const char *sub, const char *id)
{
  char p[4200];
  struct stat st;
  return path(p, sizeof p, q, sub, id) == 0 && stat(p, &st) == 0;
}

int dqsched_resume(struct dqsched *q)
{
  struct rows rs = { 0, 0, 0, 0, 0, 0 };
  char **ids = 0, *names[DQSCHED_PICKUP_BATCH];
  size_t i, nid = 0;
  int r = -1, unlinked = 0;
  DIR *d = 0;
  char dp[4200];
  struct dirent *de;
  if (tbl_walk(q->db, 0, TABLE, 0, 0, 0, rows_fn, &rs) == -1) goto out;
  if (!(ids = calloc(rs.n + 1, sizeof *ids))) goto out;
  for (i = 0; i < rs.n; i++) {
    struct dq_msg *m = rs.m[i];
    ids[nid++] = m->id;
    if (exists(q, "queue", m->id)) {
      if (!dq_msg_final(m)) {
        list_add(q, m);
        rs.m[i] = 0;
        continue;
      }
      char p[4200];
      /* Final before the stop, not yet unlinked: finish that now. */
      if (path(p, sizeof p, q, "queue", m->id) == -1 || (unlink(p) == -1 && errno != ENOENT)) {
        if (q->warn) q->warn("unable to remove ", p, errno);
        continue;
      }
      unlinked = 1;
    } else if (exists(q, "new", m->id)) {
      continue;                      /* committed, not renamed: pickup renames */
    } else if (!dq_msg_final(m) && q->warn) {
      q->warn("recipients pending but no spool file, dropping the state of ", m->id, 0);
    }
    {
      char *key = strdup(m->id);
      if (!key || push((void ***)&rs.del, &rs.ndel, &rs.capdel, key) == -1) goto out;
    }
  }
  if (unlinked && fsync_sub(q, "queue") == -1) goto out;
  if (rs.ndel && txn_run(q, del_tx, &rs) == -1) goto out;
  /* Files in queue/ without a row (a state table rebuilt or lost): take
     them as new, so that nothing in the spool is forgotten. */
  if (path(dp, sizeof dp, q, "queue", 0) == -1 || !(d = opendir(dp))) goto out;
  for (;;) {
    size_t n = 0;
    while (n < DQSCHED_PICKUP_BATCH && (de = readdir(d))) {
      const char *key = de->d_name;
      if (!spool_id_ok(de->d_name) || bsearch(&key, ids, nid, sizeof *ids, cmp_str)) continue;
      if (!(names[n] = strdup(de->d_name))) goto out;
      n++;
    }
    if (n == 0) break;
    if (q->warn) q->warn("spool file without state, taking it anew: ", names[0], 0);
    if (pick(q, "queue", names, n) == -1) {
      for (i = 0; i < n; i++) free(names[i]);
      goto out;
    }
    for (i = 0; i < n; i++) free(names[i]);
  }
  r = 0;
out:
  if (d) closedir(d);
  for (i = 0; i < rs.n; i++) dq_msg_free(rs.m[i]);
  free(rs.m);
  for (i = 0; i < rs.ndel; i++) free(rs.del[i]);
  free(rs.del);
  free(ids);
  return r;
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
    int r = q->db ? tenant_get(q->db, m->tenant, m->comp, keys[i], &v) : -1;
    if (r == 0) {
      char *end;
      long long x;
      errno = 0;
      x = strtoll(v.s, &end, 10);
      if (!errno && end != v.s && !*end && x > 0) *out[i] = x;
    } else if (r == -1) {
      read_failed(q);
    }
  }
  buf_free(&v);
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
  } else {
    long long period, interval, next;
    retry_settings(q, m, &period, &interval);
    next = dq_retry_next(period, interval, m->accepted, u->time, rc->attempts);
    if (next < 0) {                  /* the retry period is over */
      rc->state = DQ_FAILED;
      u->status = EV_FAILED;
      u->err = ERR_RETRY_TIMEOUT;
    } else {
      rc->next = next;
      u->status = EV_DEFERRED;
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
    ev_fill(&e, u->m, u->idx);
    e.time = u->time;
    e.usec = u->usec;
    e.status = u->status;
    e.error = u->err;
    e.reply = u->reply;
    e.remote = u->remote;
    e.sender_ip = u->local_ip;
    if (event_add(q->db, x, &e) == -1) return -1;
  }
  for (i = 0; i < b->n; i++)
    if (first_of(b, i) && row_put(q, x, b->u[i].m) == -1) return -1;
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
  struct rows fin = { 0, 0, 0, 0, 0, 0 };
  size_t i;
  int r = 0;
  if (b->n == 0) goto out;
  if (txn_run(q, commit_tx, b) == -1) { r = -1; goto out; }
  for (i = 0; i < b->n; i++) if (q->log) log_upd(q, &b->u[i]);
  /* After the commit: final messages leave the spool, then their rows. */
  for (i = 0; i < b->n; i++) {
    struct dq_msg *m = b->u[i].m;
    char p[4200];
    char *key;
    if (!first_of(b, i) || m->gone || !dq_msg_final(m)) continue;
    if (path(p, sizeof p, q, "queue", m->id) == -1 || (unlink(p) == -1 && errno != ENOENT)) {
      if (q->warn) q->warn("unable to remove ", p, errno);
      continue;                      /* resume finishes it */
    }
    if (!(key = strdup(m->id)) || push((void ***)&fin.del, &fin.ndel, &fin.capdel, key) == -1) {
      free(key);
      r = -1;
      break;
    }
    if (q->log) {
      struct buf l = BUF_ZERO;
      if (buf_printf(&l, "done id=%s", m->id) == 0) q->log(l.s);
      buf_free(&l);
    }
    if (push((void ***)&fin.m, &fin.n, &fin.cap, m) == -1) {
      r = -1;
      break;
    }
    list_del(q, m);
    m->gone = 1;
    m->refs++;                       /* freed below, once the batch is done with it */
  }
  if (fin.ndel) {
    if (fsync_sub(q, "queue") == -1 || txn_run(q, del_tx, &fin) == -1) r = -1;
  }
out:
  for (i = 0; i < b->n; i++) {
    free(b->u[i].reply);
    free(b->u[i].remote);
    free(b->u[i].local_ip);
  }
  /* Release the messages removed above. */
  for (i = 0; i < fin.n; i++) msg_release(fin.m[i]);
  for (i = 0; i < fin.ndel; i++) free(fin.del[i]);
  free(fin.m);
  free(fin.del);
  free(b->u);
  memset(b, 0, sizeof *b);
  return r;
}

/* --- planning --- */
struct routes {
  struct hidx h;
  char **v;                          /* route, or 0 for none */
  size_t n, cap;
};

/* The route of (m's tenant, composition, domain), or 0: use MX.  -1 on a
   database error (the recipient waits for the next plan). */
static int route_of(struct dqsched *q, struct routes *rt, const struct dq_msg *m,
                    const char *domain, const char **route)
{
  struct buf k = BUF_ZERO, out = BUF_ZERO;
  size_t v;
  int r;
  *route = 0;
  if (buf_printf(&k, "%s\t%s\t%s", m->tenant, m->comp, domain) == -1) return -1;
  if (hget(&rt->h, k.s, &v)) {
    *route = rt->v[v];
    buf_free(&k);
    return 0;
  }
  r = tenant_route_get(q->db, m->tenant, m->comp, domain, &out);
  if (r == -1 && errno != EINVAL) {
    read_failed(q);
    buf_free(&k);
    buf_free(&out);
    return -1;
  }
  if (push((void ***)&rt->v, &rt->n, &rt->cap, r == 0 ? out.s : 0) == -1
      || hput(&rt->h, k.s, rt->n - 1) == -1) {
    buf_free(&k);
    buf_free(&out);
    return -1;
  }
  if (r == 0) {
    *route = out.s;
    out.s = 0;                       /* owned by rt now */
  }
  buf_free(&k);
  buf_free(&out);
  return 0;
}

static int add_item(struct dqsched_group *g, struct dq_msg *m, size_t idx)
{
  struct dqwork_item *it = g->nitem ? &g->item[g->nitem - 1] : 0;
  if (!it || it->m != m || it->n == DQWORK_RCPT_MAX) {
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

int dqsched_plan(struct dqsched *q, long long now, struct dqsched_plan *p, long long *next)
{
  struct hidx *gi;
  struct routes rt;
  struct buf ascii = BUF_ZERO, key = BUF_ZERO, why = BUF_ZERO;
  struct dqsched_batch bad;
  struct dq_msg *m;
  size_t i;
  int r = -1, dbwarned = 0;
  memset(p, 0, sizeof *p);
  memset(&rt, 0, sizeof rt);
  dqsched_batch_init(&bad);
  *next = 0;
  if (!(gi = calloc(1, sizeof *gi))) return errno = ENOMEM, -1;
  p->index = gi;
  for (m = q->head; m; m = m->next) {
    for (i = 0; i < m->nrcpt; i++) {
      struct dq_rcpt *rc = &m->r[i];
      const char *route;
      size_t g;
      if (rc->state != DQ_PENDING || rc->busy) continue;
      if (rc->next > now) {
        if (!*next || rc->next < *next) *next = rc->next;
        continue;
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
      buf_trunc(&key, 0);
      if (buf_printf(&key, "%s/%s/%s%s", m->tenant, m->comp, route ? "route=" : "",
                     route ? route : ascii.s) == -1)
        goto out;
      if (!hget(gi, key.s, &g)) {
        struct dqsched_group *ng;
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
        p->ngroup++;
        if (!ng->key || !ng->dest || hput(gi, key.s, p->ngroup - 1) == -1) goto out;
        g = p->ngroup - 1;
      }
      if (add_item(&p->group[g], m, i) == -1) goto out;
    }
  }
  r = 0;
out:
  if (r == -1) {
    int e = errno;
    dqsched_plan_free(p);
    errno = e;
  }
  if (dqsched_batch_commit(q, &bad) == -1) r = -1;
  hfree(&rt.h);
  for (i = 0; i < rt.n; i++) free(rt.v[i]);
  free(rt.v);
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
