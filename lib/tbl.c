/* tbl.c: the Berkeley DB environment under $CMC_HOME/db (see tbl.h and
   doc/tables.md).  The only file that includes <db.h>.
   Every open joins the environment with DB_REGISTER | DB_RECOVER: Berkeley
   DB keeps a registry of the processes inside the environment and runs
   recovery when one of them went away without closing it; the others then
   see DB_RUNRECOVERY (EAGAIN here) and reopen.  A watchdog thread ends a
   process stuck inside Berkeley DB (111), since a dead process can leave
   the others blocked for ever.  Handles still open at exit() are closed
   then, so that an ordinary exit never costs the others a recovery. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <db.h>
#include "die.h"
#include "tbl.h"

#define TBL_TABLES_MAX 32         /* distinct tables one process opens */
#define TBL_NAME_MAX 32
#define TBL_LOCK_TIMEOUT 5000000  /* microseconds a lock request may wait */
#define TBL_CACHE (16u << 20)     /* bytes of the shared buffer pool */
#define TBL_ERRMAX 256
#define TBL_STUCK 60             /* seconds in one call before the watchdog ends us */
#define TBL_STUCK_GONE 1         /* the same when our regions were recovered away */

struct tbl_db {
  char name[TBL_NAME_MAX + 1];
  DB *db;
};

struct tbl {
  DB_ENV *env;
  /* The watchdog: see watch(). */
  atomic_llong busy_since;        /* CLOCK_MONOTONIC ms, 0 outside Berkeley DB */
  atomic_uint stuck;
  int regfd;                      /* our __db.001, to see it unlinked by recovery */
  char regpath[4096];             /* __db.register: who else is inside */
  pid_t pid;                      /* the opener: a forked child never closes it */
  struct tbl_txn *txns;           /* open transactions, aborted at exit() */
  struct tbl *next;               /* open handles of this process */
  int dog_running, dog_stop;
  pthread_t dog;
  pthread_mutex_t dog_mu;
  pthread_cond_t dog_cv;
  struct tbl_db dbs[TBL_TABLES_MAX];
  int ndbs;
  unsigned long long uniq;
  char err[TBL_ERRMAX];           /* Berkeley DB's last message */
};

struct tbl_txn {
  struct tbl *t;
  DB_TXN *txn;
  struct tbl_txn *next, *prev;
};

/* Open handles, for the exit() handler: the one mutable global here. */
static struct tbl *open_tbls;
static int atexit_done;

static long long now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;  /* ms, never 0 */
}

static void enter(struct tbl *t)
{
  atomic_store(&t->busy_since, now());
}

static void leave(struct tbl *t)
{
  atomic_store(&t->busy_since, 0);
}

static _Noreturn void stuck(const char *why)
{
  char msg[256];
  int n = snprintf(msg, sizeof msg, "%s: fatal: %s; leaving so that the database can be recovered\n",
                   prog ? prog : "tbl", why);
  if (n > 0) (void)!write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
  _exit(EXIT_TEMP);
}

/* The watchdog thread.  Berkeley DB 5.3's mutexes are not robust: a
   process killed while holding one (it spends most of its time in a log
   fsync, holding the flush mutex) leaves the others blocked in the kernel
   for ever, and recovery by the next process does not wake them, since
   it builds new regions beside the old.  No call of ours lasts long, so a
   thread that is stuck inside Berkeley DB is ended with 111: at once when
   our region file was unlinked (recovery ran: nothing can wake us), after
   when a registered process is dead (it may hold what we wait for), after
   TBL_STUCK seconds otherwise.  The next process to open recovers.  The
   one place where lib/ ends a process, on purpose. */
/* 1 if a process registered in the environment is gone: it may hold
   what we wait for, and the next opener will recover anyway. */
static int someone_died(const struct tbl *t)
{
  char buf[8192];
  ssize_t n;
  char *p, *end;
  int fd = open(t->regpath, O_RDONLY | O_CLOEXEC);
  if (fd == -1) return 0;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  for (p = buf; *p; p = end) {
    unsigned long pid;
    while (*p == ' ' || *p == '\n') p++;
    if (!*p) break;
    if (*p < '0' || *p > '9') {           /* "X" marks a free slot */
      end = strchr(p, '\n');
      if (!end) break;
      continue;
    }
    pid = strtoul(p, &end, 10);
    if (pid && (pid_t)pid != t->pid && kill((pid_t)pid, 0) == -1 && errno == ESRCH) return 1;
  }
  return 0;
}

static void *watch(void *arg)
{
  struct tbl *t = arg;
  struct timespec ts;
  pthread_mutex_lock(&t->dog_mu);
  while (!t->dog_stop) {
    long long since;
    struct stat st;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&t->dog_cv, &t->dog_mu, &ts);
    if (t->dog_stop) break;
    since = atomic_load(&t->busy_since);
    if (!since) continue;
    if (now() - since < TBL_STUCK_GONE * 1000LL) continue;
    if (t->regfd != -1 && fstat(t->regfd, &st) == 0 && st.st_nlink == 0)
      stuck("the database was recovered while this process waited in it");
    if (someone_died(t))
      stuck("a process died inside the database while this one waited in it");
    if (now() - since >= (long long)atomic_load(&t->stuck) * 1000)
      stuck("stuck in the database");
  }
  pthread_mutex_unlock(&t->dog_mu);
  return 0;
}

static int dog_start(struct tbl *t)
{
  pthread_condattr_t ca;
  int r;
  t->regfd = -1;
  atomic_store(&t->stuck, TBL_STUCK);
  if ((r = pthread_condattr_init(&ca)) != 0) return r;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  r = pthread_cond_init(&t->dog_cv, &ca);
  pthread_condattr_destroy(&ca);
  if (r != 0) return r;
  if ((r = pthread_mutex_init(&t->dog_mu, 0)) != 0) {
    pthread_cond_destroy(&t->dog_cv);
    return r;
  }
  if ((r = pthread_create(&t->dog, 0, watch, t)) != 0) {
    pthread_mutex_destroy(&t->dog_mu);
    pthread_cond_destroy(&t->dog_cv);
    return r;
  }
  t->dog_running = 1;
  return 0;
}

static void dog_stop(struct tbl *t)
{
  if (!t->dog_running) return;
  pthread_mutex_lock(&t->dog_mu);
  t->dog_stop = 1;
  pthread_cond_signal(&t->dog_cv);
  pthread_mutex_unlock(&t->dog_mu);
  pthread_join(t->dog, 0);
  pthread_mutex_destroy(&t->dog_mu);
  pthread_cond_destroy(&t->dog_cv);
  if (t->regfd != -1) close(t->regfd);
  t->dog_running = 0;
}

void tbl_set_stuck(struct tbl *t, unsigned seconds)
{
  atomic_store(&t->stuck, seconds ? seconds : TBL_STUCK);
}

/* Map a Berkeley DB return value to errno; always -1. */
static int fail(int r)
{
  switch (r) {
  case DB_LOCK_DEADLOCK:
  case DB_LOCK_NOTGRANTED:
    errno = EDEADLK;
    break;
  case DB_RUNRECOVERY:
    errno = EAGAIN;
    break;
  case DB_VERSION_MISMATCH:
    errno = EAGAIN;               /* regions of another library: recover */
    break;
  default:
    errno = r > 0 ? r : EIO;
  }
  return -1;
}

/* Library messages are kept, not printed: lib/ modules never print. */
static void errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
  struct tbl *t = env ? env->app_private : 0;
  (void)pfx;
  if (t) snprintf(t->err, sizeof t->err, "%s", msg);
}

static void msgcall(const DB_ENV *env, const char *msg)
{
  errcall(env, 0, msg);
}

const char *tbl_lasterror(const struct tbl *t)
{
  return t && t->err[0] ? t->err : "";
}

static int env_create(struct tbl *t, DB_ENV **envp)
{
  DB_ENV *env;
  int r;
  *envp = 0;
  if ((r = db_env_create(&env, 0)) != 0) return r;
  env->app_private = t;
  env->set_errcall(env, errcall);
  env->set_msgcall(env, msgcall);
  /* These size the regions when they are created; a joining process
     takes what is there. */
  if ((r = env->set_cachesize(env, 0, TBL_CACHE, 1)) != 0
      || (r = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0
      || (r = env->set_timeout(env, TBL_LOCK_TIMEOUT, DB_SET_LOCK_TIMEOUT)) != 0
      || (r = env->set_lk_max_lockers(env, 4000)) != 0
      || (r = env->set_lk_max_locks(env, 20000)) != 0
      || (r = env->set_lk_max_objects(env, 20000)) != 0
      || (r = env->set_lg_max(env, 16u << 20)) != 0
      || (r = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0) {
    env->close(env, 0);
    return r;
  }
  *envp = env;
  return 0;
}

#define ENV_FLAGS (DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL)

static void close_all(void);

/* Open (creating) the environment, recovering it when it needs it. */
static int env_open(struct tbl *t, const char *dbdir, int flags, DB_ENV **envp)
{
  DB_ENV *env;
  int r;
  if (flags & TBL_RECOVER) {
    /* Forced recovery, whoever registered before: only run when no
       other process uses the environment (the s6 oneshot at start). */
    if ((r = env_create(t, &env)) != 0) return r;
    r = env->open(env, dbdir, ENV_FLAGS | DB_RECOVER, 0660);
    env->close(env, 0);
    if (r != 0) return r;
  }
  if ((r = env_create(t, &env)) != 0) return r;
  /* DB_REGISTER: Berkeley DB notes which processes are inside; DB_RECOVER:
     recover when one left without closing (or the regions are panicked).
     Not DB_FAILCHK: with glibc >= 2.25 its cleanup of a process killed
     while waiting for a lock hangs in pthread_cond_destroy (doc/tables.md). */
  r = env->open(env, dbdir, ENV_FLAGS | DB_REGISTER | DB_RECOVER, 0660);
  if (r != 0) {
    env->close(env, 0);
    return r;
  }
  *envp = env;
  return 0;
}

int tbl_open(struct tbl **tp, const char *dbdir, int flags)
{
  struct tbl *t;
  DB_ENV *env = 0;
  char reg[4096];
  int r;
  *tp = 0;
  t = calloc(1, sizeof *t);
  if (!t) return -1;
  t->pid = getpid();
  if (snprintf(t->regpath, sizeof t->regpath, "%s/__db.register", dbdir) >= (int)sizeof t->regpath) {
    free(t);
    return errno = ENAMETOOLONG, -1;
  }
  if ((r = dog_start(t)) != 0) {
    free(t);
    return errno = r, -1;
  }
  enter(t);
  r = env_open(t, dbdir, flags, &env);
  leave(t);
  if (r != 0) {
    dog_stop(t);
    free(t);
    return fail(r);
  }
  t->env = env;
  t->uniq = (unsigned long long)getpid() << 32;
  if (snprintf(reg, sizeof reg, "%s/__db.001", dbdir) < (int)sizeof reg)
    t->regfd = open(reg, O_RDONLY | O_CLOEXEC);
  t->next = open_tbls;
  open_tbls = t;
  if (!atexit_done && atexit(close_all) == 0) atexit_done = 1;
  *tp = t;
  return 0;
}

void tbl_close(struct tbl *t)
{
  struct tbl **pp;
  int i, e = errno;
  if (!t) return;
  for (pp = &open_tbls; *pp; pp = &(*pp)->next)
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  while (t->txns) tbl_abort(t->txns);
  enter(t);                       /* closing a dead environment may hang too */
  for (i = 0; i < t->ndbs; i++) t->dbs[i].db->close(t->dbs[i].db, 0);
  if (t->env) t->env->close(t->env, 0);
  leave(t);
  dog_stop(t);
  free(t);
  errno = e;
}

/* exit() with the environment open: close it, or the next process to
   open would take us for dead and run recovery.  Not in a forked child:
   the handles are the parent's. */
static void close_all(void)
{
  while (open_tbls && open_tbls->pid == getpid()) tbl_close(open_tbls);
}

unsigned long long tbl_uniq(struct tbl *t)
{
  return ++t->uniq;
}

int tbl_checkpoint(struct tbl *t)
{
  char **list = 0;
  int r;
  enter(t);
  r = t->env->txn_checkpoint(t->env, 0, 0, 0);
  /* Auto-removal drops logs at checkpoints too; this catches any left. */
  if (r == 0) r = t->env->log_archive(t->env, &list, DB_ARCH_REMOVE);
  leave(t);
  free(list);
  return r ? fail(r) : 0;
}

int tbl_trickle(struct tbl *t, int pct, int *wrote)
{
  int r, n = 0;
  if (pct < 1 || pct > 100) return errno = EINVAL, -1;
  enter(t);
  r = t->env->memp_trickle(t->env, pct, &n);
  leave(t);
  if (wrote) *wrote = n;
  return r ? fail(r) : 0;
}

static void unlink_txn(struct tbl_txn *x)
{
  if (x->prev) x->prev->next = x->next;
  else x->t->txns = x->next;
  if (x->next) x->next->prev = x->prev;
}

int tbl_begin(struct tbl *t, struct tbl_txn **xp)
{
  struct tbl_txn *x;
  int r;
  *xp = 0;
  x = malloc(sizeof *x);
  if (!x) return -1;
  x->t = t;
  enter(t);
  r = t->env->txn_begin(t->env, 0, &x->txn, 0);
  leave(t);
  if (r != 0) {
    free(x);
    return fail(r);
  }
  x->prev = 0;
  x->next = t->txns;
  if (t->txns) t->txns->prev = x;
  t->txns = x;
  *xp = x;
  return 0;
}

static int commit(struct tbl_txn *x, u_int32_t flags)
{
  struct tbl *t = x->t;
  int r;
  unlink_txn(x);
  enter(t);
  r = x->txn->commit(x->txn, flags);   /* the handle is gone even on error */
  leave(t);
  free(x);
  return r ? fail(r) : 0;
}

int tbl_commit(struct tbl_txn *x)
{
  return commit(x, 0);
}

int tbl_commit_lazy(struct tbl_txn *x)
{
  return commit(x, DB_TXN_NOSYNC);
}

void tbl_abort(struct tbl_txn *x)
{
  int e = errno;
  if (!x) return;
  unlink_txn(x);
  enter(x->t);
  x->txn->abort(x->txn);
  leave(x->t);
  free(x);
  errno = e;
}

static int name_ok(const char *s)
{
  size_t i;
  for (i = 0; s[i]; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
          || s[i] == '_' || s[i] == '-'))
      return 0;
  return i > 0 && i <= TBL_NAME_MAX;
}

/* The handle for table name, opened (and created) on first use. */
static int table(struct tbl *t, const char *name, DB **dbp)
{
  char file[TBL_NAME_MAX + 4];
  DB *db;
  int i, r;
  for (i = 0; i < t->ndbs; i++)
    if (!strcmp(t->dbs[i].name, name)) {
      *dbp = t->dbs[i].db;
      return 0;
    }
  if (!name_ok(name)) return errno = EINVAL, -1;
  if (t->ndbs == TBL_TABLES_MAX) return errno = EMFILE, -1;
  snprintf(file, sizeof file, "%s.db", name);
  enter(t);
  if ((r = db_create(&db, t->env, 0)) == 0) {
    /* Its own transaction: creating the file commits at once, whatever
       becomes of the caller's transaction. */
    r = db->open(db, 0, file, 0, DB_BTREE, DB_CREATE | DB_AUTO_COMMIT, 0660);
    if (r != 0) db->close(db, 0);
  }
  leave(t);
  if (r != 0) return fail(r);
  memcpy(t->dbs[t->ndbs].name, name, strlen(name) + 1);
  t->dbs[t->ndbs++].db = db;
  *dbp = db;
  return 0;
}

static void dbt(DBT *d, const void *p, size_t n)
{
  memset(d, 0, sizeof *d);
  d->data = (void *)p;
  d->size = (u_int32_t)n;
}

static int size_ok(size_t n)
{
  return n < 0xffffffffu;
}

static int get(struct tbl *t, struct tbl_txn *x, const char *name,
               const void *k, size_t kn, struct buf *v, u_int32_t flags)
{
  DB *db;
  DBT key, data;
  int r;
  if (!size_ok(kn)) return errno = EINVAL, -1;
  if (table(t, name, &db) == -1) return -1;
  dbt(&key, k, kn);
  dbt(&data, 0, 0);
  enter(t);
  r = db->get(db, x ? x->txn : 0, &key, &data, flags);
  leave(t);
  if (r == DB_NOTFOUND) return 1;
  if (r != 0) return fail(r);
  return buf_set(v, data.data, data.size);
}

int tbl_get(struct tbl *t, struct tbl_txn *x, const char *name,
            const void *k, size_t kn, struct buf *v)
{
  return get(t, x, name, k, kn, v, 0);
}

int tbl_get_rmw(struct tbl *t, struct tbl_txn *x, const char *name,
                const void *k, size_t kn, struct buf *v)
{
  return get(t, x, name, k, kn, v, x ? DB_RMW : 0);
}

static int put(struct tbl *t, struct tbl_txn *x, const char *name,
               const void *k, size_t kn, const void *v, size_t vn, u_int32_t flags)
{
  DB *db;
  DBT key, data;
  int r;
  if (!size_ok(kn) || !size_ok(vn)) return errno = EINVAL, -1;
  if (table(t, name, &db) == -1) return -1;
  dbt(&key, k, kn);
  dbt(&data, v, vn);
  enter(t);
  r = db->put(db, x ? x->txn : 0, &key, &data, flags);
  leave(t);
  if (r == DB_KEYEXIST) return 1;
  return r ? fail(r) : 0;
}

int tbl_put(struct tbl *t, struct tbl_txn *x, const char *name,
            const void *k, size_t kn, const void *v, size_t vn)
{
  return put(t, x, name, k, kn, v, vn, 0);
}

int tbl_add(struct tbl *t, struct tbl_txn *x, const char *name,
            const void *k, size_t kn, const void *v, size_t vn)
{
  return put(t, x, name, k, kn, v, vn, DB_NOOVERWRITE);
}

int tbl_del(struct tbl *t, struct tbl_txn *x, const char *name,
            const void *k, size_t kn)
{
  DB *db;
  DBT key;
  int r;
  if (!size_ok(kn)) return errno = EINVAL, -1;
  if (table(t, name, &db) == -1) return -1;
  dbt(&key, k, kn);
  enter(t);
  r = db->del(db, x ? x->txn : 0, &key, 0);
  leave(t);
  if (r == DB_NOTFOUND) return 1;
  return r ? fail(r) : 0;
}

static int cmpkey(const DBT *a, const void *b, size_t bn)
{
  size_t n = a->size < bn ? a->size : bn;
  int c = n ? memcmp(a->data, b, n) : 0;
  if (c) return c;
  return a->size < bn ? -1 : a->size > bn;
}

static int walk(struct tbl *t, DBC *c, const void *from, size_t fromn, int reverse,
                tbl_fn *fn, void *ctx)
{
  DBT key, data;
  int r;
  dbt(&key, 0, 0);
  dbt(&data, 0, 0);
  if (!from) {
    r = c->get(c, &key, &data, reverse ? DB_LAST : DB_FIRST);
  } else {
    dbt(&key, from, fromn);
    r = c->get(c, &key, &data, DB_SET_RANGE);   /* first key >= from */
    if (reverse) {
      if (r == DB_NOTFOUND) {
        dbt(&key, 0, 0);
        r = c->get(c, &key, &data, DB_LAST);     /* all keys are < from */
      } else if (r == 0 && cmpkey(&key, from, fromn) > 0) {
        r = c->get(c, &key, &data, DB_PREV);
      }
    }
  }
  while (r == 0) {
    int f;
    leave(t);                     /* fn's time is not ours */
    f = fn(ctx, key.data, key.size, data.data, data.size);
    enter(t);
    if (f > 0) return f;
    if (f < 0) return -2;
    r = c->get(c, &key, &data, reverse ? DB_PREV : DB_NEXT);
  }
  if (r == DB_NOTFOUND) return 0;
  return fail(r);
}

int tbl_walk(struct tbl *t, struct tbl_txn *x, const char *name,
             const void *from, size_t fromn, int reverse, tbl_fn *fn, void *ctx)
{
  DB *db;
  DBC *c;
  DB_TXN *txn = x ? x->txn : 0, *own = 0;
  int r, e;
  if (from && !size_ok(fromn)) return errno = EINVAL, -1;
  if (table(t, name, &db) == -1) return -1;
  enter(t);
  if (!txn) {
    /* A cursor of its own transaction: its read locks go at the end. */
    if ((r = t->env->txn_begin(t->env, 0, &own, 0)) != 0) {
      leave(t);
      return fail(r);
    }
    txn = own;
  }
  if ((r = db->cursor(db, txn, &c, 0)) != 0) {
    if (own) own->abort(own);
    leave(t);
    return fail(r);
  }
  r = walk(t, c, from, fromn, reverse, fn, ctx);
  e = errno;
  c->close(c);
  if (own) {
    int rc;
    if (r < 0) own->abort(own);
    else if ((rc = own->commit(own, 0)) != 0) {
      leave(t);
      return fail(rc);
    }
  }
  leave(t);
  errno = e;
  return r < 0 ? -1 : r;
}
