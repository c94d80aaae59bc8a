/* dqdb.c: deliver's queue on disk: spool moves, the "queue" table and
   the transaction discipline (see dqdb.h for the commit points). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "dqbounce.h"
#include "dqdb.h"
#include "dqhdr.h"
#include "dsetrun.h"
#include "envelope.h"
#include "io.h"
#include "spool.h"
#include "suppress.h"

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

/* Run fn in a transaction until it commits: EDEADLK retries, EAGAIN
   reopens the environment first. */
int dqdb_txn(struct dqsched *q, dqdb_fn *fn, void *ctx)
{
  int tries, e = EIO;
  for (tries = 0; tries < DQDB_TXN_TRIES; tries++) {
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
int dqdb_ready(struct dqsched *q)
{
  return q->db || reopen(q) == 0 ? 0 : -1;
}

void dqdb_read_failed(struct dqsched *q)
{
  if (errno == EAGAIN) reopen(q);
}

int dqdb_path(char *out, size_t n, const struct dqsched *q, const char *sub, const char *id)
{
  int r = id ? snprintf(out, n, "%s/%s/%s", q->spooldir, sub, id)
             : snprintf(out, n, "%s/%s", q->spooldir, sub);
  if (r < 0 || (size_t)r >= n) return errno = ENAMETOOLONG, -1;
  return 0;
}

int dqdb_sync(const struct dqsched *q, const char *sub)
{
  char p[4200];
  if (dqdb_path(p, sizeof p, q, sub, 0) == -1) return -1;
  return fsync_dir(p);
}

void dqdb_list_add(struct dqsched *q, struct dq_msg *m)
{
  m->next = 0;
  m->prev = q->tail;
  if (q->tail) q->tail->next = m;
  else q->head = m;
  q->tail = m;
  q->nmsg++;
}

void dqdb_list_del(struct dqsched *q, struct dq_msg *m)
{
  if (m->prev) m->prev->next = m->next;
  else q->head = m->next;
  if (m->next) m->next->prev = m->prev;
  else q->tail = m->prev;
  m->prev = m->next = 0;
  q->nmsg--;
}

void dqdb_event(struct event *e, const struct dq_msg *m, size_t idx)
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

int dqdb_put(struct dqsched *q, struct tbl_txn *x, const struct dq_msg *m)
{
  struct buf v = BUF_ZERO;
  int r = dq_encode(&v, m);
  if (r == 0) r = tbl_put(q->db, x, DQDB_TABLE, m->id, strlen(m->id), v.s, v.len);
  buf_free(&v);
  return r;
}

int dqdb_open(struct dqsched *q, const char *spooldir, const char *dbdir)
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

void dqdb_close(struct dqsched *q)
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
  struct buf blocked;                /* log lines of blocked recipients */
};

/* Recipients on the suppression or unsubscribe list of m's tenant and
   composition fail at once (status 10, 11), in the pickup's transaction:
   they are never sent.  Decided afresh on every run of the transaction. */
static int block_tx(struct dqsched *q, struct tbl_txn *x, struct dq_msg *m, struct buf *log)
{
  struct timeval tv;
  size_t j;
  gettimeofday(&tv, 0);
  for (j = 0; j < m->nrcpt; j++) {
    const char *f = q->unsub_filter ? q->unsub_filter(q, m, j) : 0;
    struct event e;
    int r, err = 0;
    if (m->r[j].state == DQ_FAILED && m->r[j].attempts == 0) m->r[j].state = DQ_PENDING;
    if (m->r[j].state != DQ_PENDING) continue;
    r = suppress_check(q->db, x, m->tenant, m->comp, m->r[j].addr);
    if (r == 1) err = ERR_SUPPRESSED;
    else if (r == 0 && (r = suppress_unsub_check(q->db, x, m->tenant, m->comp, m->r[j].addr, f)) == 1)
      err = ERR_UNSUBSCRIBED;
    if (r == -1) {
      if (errno == EINVAL) continue;     /* a name the lists cannot hold is on none */
      return -1;
    }
    if (!err) continue;
    m->r[j].state = DQ_FAILED;
    dqdb_event(&e, m, j);
    e.time = (long long)tv.tv_sec;
    e.usec = (unsigned)tv.tv_usec;
    e.status = EV_FAILED;
    e.error = err;
    e.reply = err == ERR_SUPPRESSED ? DQDB_SUPPRESSED_TEXT : DQDB_UNSUBSCRIBED_TEXT;
    if (event_add(q->db, x, &e) == -1) return -1;
    if (buf_printf(log, "delivery id=%s rcpt=%s result=D status=%d relay=\"\" reply=\"%s\"\n",
                   m->id, m->r[j].addr, err, e.reply) == -1)
      return -1;
  }
  return 0;
}

static int pick_tx(struct dqsched *q, struct tbl_txn *x, void *ctx)
{
  struct pick *p = ctx;
  struct buf v = BUF_ZERO;
  size_t i, j;
  int r = 0;
  buf_trunc(&p->blocked, 0);
  for (i = 0; i < p->n && r == 0; i++) {
    struct dq_msg *m = p->m[i];
    dq_msg_free(p->old[i]);
    p->old[i] = 0;
    r = tbl_get(q->db, x, DQDB_TABLE, m->id, strlen(m->id), &v);
    if (r == -1) break;
    if (r == 0 && (p->old[i] = dq_decode(v.s, v.len)) != 0) continue;
    if (r == 0 && errno == ENOMEM) { r = -1; break; }
    r = 0;
    for (j = 0; j < m->nrcpt && r == 0; j++) {
      struct event e;
      dqdb_event(&e, m, j);
      e.time = m->accepted;
      e.status = EV_QUEUED;
      r = event_add(q->db, x, &e);
    }
    if (r == 0) r = block_tx(q, x, m, &p->blocked);
    if (r == 0) r = dqdb_put(q, x, m);
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
  struct pick p = { 0, 0, 0, BUF_ZERO };
  struct buf file = BUF_ZERO, line = BUF_ZERO;
  struct dqhdr h = DQHDR_ZERO;
  struct dqdb_keys fin = { 0, 0, 0 };
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
    if (dqdb_path(fp, sizeof fp, q, sub, names[i]) == -1) continue;
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
    if (e.is_bounce) {
      /* Mail the receiving server took: read as a bounce (dqbounce.h), never sent. */
      envelope_free(&e);
      if (!do_rename || dqbounce_take(q, names[i]) == -1) {
        if (q->warn) q->warn("unable to move to bounce/: ", names[i], do_rename ? errno : EINVAL);
        mark_bad(q, names[i]);
      }
      continue;
    }
    m = dq_msg_new(names[i], e.tenant, e.composition, e.sender, e.client_ip, e.user,
                   e.accepted, e.is_8bitmime, e.is_smtputf8, e.rcpt, e.nrcpt);
    envelope_free(&e);
    if (!m && errno == ENOMEM) goto nomem;
    if (!m) {
      if (q->warn) q->warn("unusable envelope in ", fp, 0);
      mark_bad(q, names[i]);
      continue;
    }
    p.m[k++] = m;
    if (dqhdr_parse(&h, file.s + off, file.len - off) == -1
        || dq_msg_sethdr(m, h.from.s, h.subject.s, h.message_id.s, h.api_data.s) == -1)
      goto nomem;
    /* Delivery settings (lib/dsetrun.h): forwarding, once and here, so
       that forwarded copies get their own queued events; then what the
       unsubscribe check and the planner need to know of each recipient. */
    if (q->dset && (dsetrun_forward(q->dset, m, file.s + off, file.len - off) == -1
                    || dsetrun_classify(q->dset, m, file.s + off, file.len - off) == -1))
      goto nomem;
  }
  p.n = k;
  if (k && dqdb_txn(q, pick_tx, &p) == -1) {
    taken = -1;
    goto out;
  }
  if (q->log && p.blocked.len) {
    char *l = p.blocked.s, *nl;
    while ((nl = memchr(l, '\n', p.blocked.len - (size_t)(l - p.blocked.s)))) {
      *nl = 0;
      q->log(l);
      l = nl + 1;
    }
  }
  for (i = 0; i < k; i++) {
    struct dq_msg *m = p.m[i];
    if (p.old[i]) {                  /* recorded before a crash: keep that record */
      dq_msg_free(m);
      m = p.m[i] = p.old[i];
      p.old[i] = 0;
    }
    if (dq_msg_final(m)) {
      /* Every recipient blocked: nothing to send, the file goes now and
         its row once that is durable (resume finishes either step). */
      char fp[4200];
      if (dqdb_path(fp, sizeof fp, q, sub, m->id) == -1 || (unlink(fp) == -1 && errno != ENOENT)) {
        if (q->warn) q->warn("unable to remove ", fp, errno);
        continue;
      }
      if (dqdb_keys_add(&fin, m->id, strlen(m->id)) == -1) goto nomem;
      buf_trunc(&line, 0);
      if (q->log && buf_printf(&line, "done id=%s", m->id) == 0) q->log(line.s);
      continue;
    }
    if (do_rename) {
      char from[4200], to[4200];
      if (dqdb_path(from, sizeof from, q, "new", m->id) == -1 || dqdb_path(to, sizeof to, q, "queue", m->id) == -1
          || rename(from, to) == -1) {
        /* Stays in new/ with its row: the next scan only renames it. */
        if (q->warn) q->warn("unable to move to queue/: ", m->id, errno);
        continue;
      }
      renamed = 1;
    }
    p.m[i] = 0;
    dqdb_list_add(q, m);
    taken++;
    buf_trunc(&line, 0);
    if (q->log && buf_printf(&line, "queued id=%s tenant=%s from=<%s> nrcpt=%zu",
                             m->id, m->tenant, m->sender, m->nrcpt) == 0)
      q->log(line.s);
  }
  if (renamed && (dqdb_sync(q, "queue") == -1 || dqdb_sync(q, "new") == -1) && q->warn)
    q->warn("unable to sync ", q->spooldir, errno);
  if (fin.n && (dqdb_sync(q, sub) == -1 || dqdb_del(q, &fin) == -1)) taken = -1;
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
  dqdb_keys_free(&fin);
  buf_free(&p.blocked);
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
  if (dqdb_path(dp, sizeof dp, q, sub, 0) == -1 || !(d = opendir(dp))) return -1;
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

long dqdb_pickup(struct dqsched *q)
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

/* --- row keys --- */
int dqdb_keys_add(struct dqdb_keys *l, const char *k, size_t n)
{
  char *c;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    char **nk = realloc(l->k, nc * sizeof *nk);
    if (!nk) return errno = ENOMEM, -1;
    l->k = nk;
    l->cap = nc;
  }
  if (!(c = strndup(k, n))) return errno = ENOMEM, -1;
  l->k[l->n++] = c;
  return 0;
}

void dqdb_keys_free(struct dqdb_keys *l)
{
  size_t i;
  for (i = 0; i < l->n; i++) free(l->k[i]);
  free(l->k);
  memset(l, 0, sizeof *l);
}

static int del_tx(struct dqsched *q, struct tbl_txn *x, void *ctx)
{
  struct dqdb_keys *l = ctx;
  size_t i;
  for (i = 0; i < l->n; i++)
    if (tbl_del(q->db, x, DQDB_TABLE, l->k[i], strlen(l->k[i])) == -1) return -1;
  return 0;
}

int dqdb_del(struct dqsched *q, struct dqdb_keys *l)
{
  return l->n ? dqdb_txn(q, del_tx, l) : 0;
}

/* --- resume --- */
struct rows {
  struct dq_msg **m;                 /* decoded rows, in key (id) order */
  size_t n, cap;
  struct dqdb_keys del;              /* rows to delete */
};

static int rows_fn(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct rows *rs = ctx;
  struct dq_msg *m = dq_decode(v, vn);
  if (m && kn == strlen(m->id) && !memcmp(k, m->id, kn)) {
    if (rs->n == rs->cap) {
      size_t nc = rs->cap ? rs->cap * 2 : 64;
      struct dq_msg **nm = realloc(rs->m, nc * sizeof *nm);
      if (!nm) { dq_msg_free(m); return -1; }
      rs->m = nm;
      rs->cap = nc;
    }
    rs->m[rs->n++] = m;
    return 0;
  }
  if (!m && errno == ENOMEM) return -1;
  dq_msg_free(m);
  /* A row that does not decode is dropped; its file is taken anew. */
  return dqdb_keys_add(&rs->del, k, kn) == -1 ? -1 : 0;
}

static int exists(const struct dqsched *q, const char *sub, const char *id)
{
  char p[4200];
  struct stat st;
  return dqdb_path(p, sizeof p, q, sub, id) == 0 && stat(p, &st) == 0;
}

int dqdb_resume(struct dqsched *q)
{
  struct rows rs;
  const char **ids = 0;
  char *names[DQSCHED_PICKUP_BATCH], dp[4200];
  size_t i, nid = 0;
  int r = -1, unlinked = 0;
  DIR *d = 0;
  struct dirent *de;
  memset(&rs, 0, sizeof rs);
  if (tbl_walk(q->db, 0, DQDB_TABLE, 0, 0, 0, rows_fn, &rs) == -1) goto out;
  if (!(ids = calloc(rs.n + 1, sizeof *ids))) goto out;
  for (i = 0; i < rs.n; i++) {
    struct dq_msg *m = rs.m[i];
    char p[4200];
    ids[nid++] = m->id;
    if (exists(q, "queue", m->id)) {
      if (!dq_msg_final(m)) {
        dqdb_list_add(q, m);
        rs.m[i] = 0;
        continue;
      }
      /* Final before the stop, not yet unlinked: finish that now. */
      if (dqdb_path(p, sizeof p, q, "queue", m->id) == -1 || (unlink(p) == -1 && errno != ENOENT)) {
        if (q->warn) q->warn("unable to remove ", p, errno);
        continue;
      }
      unlinked = 1;
    } else if (exists(q, "new", m->id)) {
      continue;                      /* committed, not renamed: pickup renames */
    } else if (!dq_msg_final(m) && q->warn) {
      q->warn("recipients pending but no spool file, dropping the state of ", m->id, 0);
    }
    if (dqdb_keys_add(&rs.del, m->id, strlen(m->id)) == -1) goto out;
  }
  if (unlinked && dqdb_sync(q, "queue") == -1) goto out;
  if (dqdb_del(q, &rs.del) == -1) goto out;
  /* Files in queue/ without a row (the table rebuilt or lost): taken as
     new, so that nothing in the spool is forgotten.  ids is sorted: the
     walk went in key order. */
  if (dqdb_path(dp, sizeof dp, q, "queue", 0) == -1 || !(d = opendir(dp))) goto out;
  for (;;) {
    size_t n = 0;
    long t;
    while (n < DQSCHED_PICKUP_BATCH && (de = readdir(d))) {
      const char *key = de->d_name;
      if (!spool_id_ok(key) || bsearch(&key, ids, nid, sizeof *ids, cmp_str)) continue;
      if (!(names[n] = strdup(key))) break;
      n++;
    }
    if (n == 0) break;
    if (q->warn) q->warn("spool file without state, taking it anew: ", names[0], 0);
    t = pick(q, "queue", names, n);
    for (i = 0; i < n; i++) free(names[i]);
    if (t == -1) goto out;
  }
  r = 0;
out:
  if (d) closedir(d);
  for (i = 0; i < rs.n; i++) dq_msg_free(rs.m[i]);
  free(rs.m);
  dqdb_keys_free(&rs.del);
  free(ids);
  return r;
}
