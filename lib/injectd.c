/* injectd.c: the clients and the group commit of queue-inject -d
   (injectd.h).  A client's message goes through these states: its
   envelope frame is read (C_ENV), then its data frames into tmp/ID
   (C_DATA); at its end frame the fsync of tmp/ID is started (C_READY,
   C_SYNCING: in flight together with the others', so that the disk
   flushes merge); when it is done the file is linked into new/ (C_LINKED);
   once the files whose end came in the same round are all linked, one
   sync of new/ is started for every message linked so far (C_COVERED),
   and when it is done each gets its id.  Messages that end meanwhile are
   synced and linked meanwhile, and form the next group. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "envelope.h"
#include "inject.h"
#include "injectd.h"
#include "injectp.h"
#include "io.h"
#include "spool.h"

enum {
  C_ENV,                               /* waiting for an envelope frame */
  C_DATA,                              /* reading the message */
  C_READY,                             /* its end arrived: sync to be started */
  C_SYNCING,                           /* the fsync of tmp/ID is in flight */
  C_LINKED,                            /* in new/, waiting for a sync of new/ */
  C_COVERED                            /* a sync of new/ in flight covers it */
};
#define READING(c) ((c)->state == C_ENV || (c)->state == C_DATA)

struct injectd_conn {
  int fd, state;
  char *rbuf;
  size_t rpos, rlen;
  char ftype;                          /* frame being read, if left > 0 */
  unsigned long long left;
  struct buf env;
  struct inject j;
  time_t last, opened;                 /* last input; message begun */
  unsigned long long tag;              /* of its fsync (injectsync) */
  unsigned long round;                 /* the round its fsync began in */
};

static void say(struct injectd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct injectd *d, const char *fmt, ...)
{
  char b[512];
  va_list ap;
  if (!d->log) return;
  va_start(ap, fmt);
  vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  d->log(d->arg, b);
}

int injectd_init(struct injectd *d, int dirfd, const char *spooldir, const char *host,
                 unsigned long long max, size_t maxconn,
                 void (*log)(void *arg, const char *line), void *arg)
{
  memset(d, 0, sizeof *d);
  d->dirfd = dirfd;
  d->spooldir = spooldir;
  d->host = host;
  d->max = max;
  d->maxconn = maxconn;
  d->log = log;
  d->arg = arg;
  /* At most one fsync in flight per client, and one of new/. */
  if (!(d->conns = calloc(maxconn, sizeof *d->conns)) || !(d->done = calloc(maxconn + 1, sizeof *d->done))
      || injectsync_init(&d->sync, (unsigned)maxconn + 1) == -1) {
    free(d->conns);
    free(d->done);
    return errno = ENOMEM, -1;
  }
  if ((d->newfd = openat(dirfd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
    int e = errno;
    injectsync_free(&d->sync);
    free(d->conns);
    free(d->done);
    return errno = e, -1;
  }
  return 0;
}

int injectd_is_parallel(const struct injectd *d) { return injectsync_is_parallel(&d->sync); }
int injectd_is_full(const struct injectd *d) { return d->nconn == d->maxconn; }

/* Say it and hang up: after an error the stream cannot be trusted. */
static void conn_close(struct injectd *d, size_t i, const char *reply)
{
  struct injectd_conn *c = &d->conns[i];
  if (reply) write_all(c->fd, reply, strlen(reply));
  inject_abort(&c->j);
  close(c->fd);
  free(c->rbuf);
  buf_free(&c->env);
  d->conns[i] = d->conns[--d->nconn];
}

/* A message of client i is refused or failed.  code: 100 or 111. */
static void conn_fail(struct injectd *d, size_t i, int code, const char *why, int with_errno)
{
  char line[INJECTP_REPLY_MAX];
  snprintf(line, sizeof line, "%d %s%s%s\n", code, why, with_errno ? ": " : "",
           with_errno ? strerror(errno) : "");
  say(d, "refused code=%d reason=\"%.*s\"", code, (int)strlen(line) - 5, line + 4);
  conn_close(d, i, line);
}

/* The envelope frame is complete: check it, open tmp/ID, write the head. */
static int conn_envelope(struct injectd *d, size_t i)
{
  struct injectd_conn *c = &d->conns[i];
  struct envelope e;
  const char *why = 0;
  if (inject_envelope(&e, c->env.s, c->env.len, &why) == -1) {
    conn_fail(d, i, errno == ENOMEM ? 111 : 100, why, 0);
    return -1;
  }
  if (inject_open(&c->j, d->dirfd, d->host, d->max) == -1) {
    envelope_free(&e);
    conn_fail(d, i, 111, "unable to create a file in tmp/", 1);
    return -1;
  }
  if (inject_head(&c->j, &e) == -1) {
    int perm = errno == EINVAL;
    envelope_free(&e);
    conn_fail(d, i, perm ? 100 : 111, "malformed envelope", !perm);
    return -1;
  }
  envelope_free(&e);
  buf_trunc(&c->env, 0);
  c->opened = time(0);
  c->state = C_DATA;
  return 0;
}

/* Work through the bytes read from client i.  -1 if it was closed. */
static int conn_input(struct injectd *d, size_t i)
{
  struct injectd_conn *c = &d->conns[i];
  while (READING(c)) {
    const char *p = c->rbuf + c->rpos;
    size_t n = c->rlen - c->rpos;
    if (c->left) {
      size_t k = n < c->left ? n : (size_t)c->left;
      if (!k) break;
      if (c->ftype == 'E') {
        if (buf_add(&c->env, p, k) == -1) { conn_fail(d, i, 111, "out of memory", 0); return -1; }
      } else if (inject_feed(&c->j, p, k) == -1) {
        if (errno == EFBIG) conn_fail(d, i, 100, "message too big", 0);
        else conn_fail(d, i, 111, "unable to write the message", 1);
        return -1;
      }
      c->rpos += k;
      c->left -= k;
      if (!c->left && c->ftype == 'E' && conn_envelope(d, i) == -1) return -1;
      continue;
    } else {
      char type;
      unsigned long long len;
      long h = injectp_parse(p, n, &type, &len);
      if (h == 0) break;
      if (h == -1) { conn_fail(d, i, 111, "protocol error: bad frame", 0); return -1; }
      if ((type == 'E') != (c->state == C_ENV)
          || (type == 'E' && (len == 0 || len > ENVELOPE_MAX))
          || (type == 'D' && len > INJECTP_DATA_MAX)) {
        conn_fail(d, i, 111, "protocol error: unexpected frame", 0);
        return -1;
      }
      c->rpos += (size_t)h;
      if (type == '.') {
        if (inject_end(&c->j) == -1) {
          conn_fail(d, i, 111, errno == EINVAL ? "unable to add header fields (host name?)"
                                               : "unable to write the message", errno != EINVAL);
          return -1;
        }
        c->state = C_READY;
      } else {
        c->ftype = type;
        c->left = len;
      }
    }
  }
  /* What is left is part of a frame head, or the next message: to the front. */
  if (c->rpos) {
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
  }
  return 0;
}

/* Start the fsync of every message whose end arrived. */
static void start_syncs(struct injectd *d)
{
  size_t i;
  int any = 0;
  for (i = d->nconn; i-- > 0;) {
    struct injectd_conn *c = &d->conns[i];
    if (c->state != C_READY) continue;
    c->tag = ++d->serial;
    c->round = d->rounds;
    if (injectsync_start(&d->sync, c->j.fd, c->tag) == -1) {
      conn_fail(d, i, 111, "unable to sync the message", 1);
      continue;
    }
    c->state = C_SYNCING;
    any = 1;
  }
  if (any) d->rounds++;
}

/* The sync of new/ is done (err: its errno): the group is committed, or
   taken back. */
static void group_done(struct injectd *d, int err)
{
  size_t i, n = 0;
  d->dir_busy = 0;
  if (err) say(d, "warning: unable to sync new/: %s", strerror(err));
  for (i = d->nconn; i-- > 0;) {
    struct injectd_conn *c = &d->conns[i];
    char line[SPOOL_ID_MAX + 2];
    size_t k;
    if (c->state != C_COVERED) continue;
    if (err) {                         /* inject_abort removes new/ID again */
      conn_fail(d, i, 111, "unable to commit the message", 0);
      continue;
    }
    /* Committed: the message survives a power cut from here on. */
    n++;
    k = strlen(c->j.id);
    memcpy(line, c->j.id, k);
    line[k++] = '\n';
    inject_done(&c->j);
    c->state = C_ENV;
    c->last = time(0);
    if (write_all(c->fd, line, k) == -1) conn_close(d, i, 0);
    else if (c->rpos < c->rlen) conn_input(d, i);   /* the next message, pipelined */
  }
  if (n) {
    if (spool_trigger(d->spooldir) == -1) say(d, "warning: unable to trigger deliver: %s", strerror(errno));
    say(d, "commit msgs=%zu", n);
  }
}

/* Take in finished fsyncs: a file synced is linked into new/. */
static void reap_syncs(struct injectd *d)
{
  size_t n = injectsync_reap(&d->sync, d->done, d->maxconn + 1), k, i;
  for (k = 0; k < n; k++) {
    if (d->done[k].tag == 0) {
      group_done(d, d->done[k].err);
      continue;
    }
    for (i = 0; i < d->nconn; i++)
      if (d->conns[i].state == C_SYNCING && d->conns[i].tag == d->done[k].tag) break;
    if (i == d->nconn) continue;       /* its client left: already removed */
    errno = d->done[k].err;
    if (errno || inject_close(&d->conns[i].j) == -1 || inject_link(&d->conns[i].j) == -1) {
      say(d, "warning: unable to sync or link %s: %s", d->conns[i].j.tmpname, strerror(errno));
      conn_fail(d, i, 111, "unable to commit the message", 0);
      continue;
    }
    d->conns[i].state = C_LINKED;
  }
}

/* Start the sync of new/ for the linked messages, once no fsync of their
   rounds is still in flight (so that messages that ended together are
   committed together), and none is running already.  1 if started. */
static int start_group(struct injectd *d)
{
  size_t i, n = 0;
  unsigned long last = 0;
  if (d->dir_busy) return 0;
  for (i = 0; i < d->nconn; i++)
    if (d->conns[i].state == C_LINKED) {
      n++;
      if (d->conns[i].round > last) last = d->conns[i].round;
    }
  if (!n) return 0;
  for (i = 0; i < d->nconn; i++)
    if (d->conns[i].state == C_SYNCING && d->conns[i].round <= last) return 0;
  if (injectsync_start(&d->sync, d->newfd, 0) == -1) {
    say(d, "warning: unable to sync new/: %s", strerror(errno));
    for (i = d->nconn; i-- > 0;)
      if (d->conns[i].state == C_LINKED) conn_fail(d, i, 111, "unable to commit the message", 0);
    return 0;
  }
  d->dir_busy = 1;
  for (i = 0; i < d->nconn; i++)
    if (d->conns[i].state == C_LINKED) d->conns[i].state = C_COVERED;
  return 1;
}

void injectd_add(struct injectd *d, int fd)
{
  struct injectd_conn *c;
  if (fd_cloexec(fd) == -1 || fd_nonblock(fd, 1) == -1) {
    close(fd);
    return;
  }
  if (d->nconn == d->maxconn) {
    write_all(fd, "111 too many clients\n", 21);
    close(fd);
    return;
  }
  c = &d->conns[d->nconn];
  memset(c, 0, sizeof *c);
  inject_init(&c->j);
  if (!(c->rbuf = malloc(INJECTD_RBUF))) {
    write_all(fd, "111 out of memory\n", 18);
    close(fd);
    return;
  }
  c->fd = fd;
  c->state = C_ENV;
  c->last = time(0);
  d->nconn++;
}

size_t injectd_pollfds(struct injectd *d, struct pollfd *p, int *ms)
{
  size_t i, n = 0;
  int ready = 0;
  p[n].fd = injectsync_fd(&d->sync);
  p[n].events = POLLIN;
  p[n++].revents = 0;
  for (i = 0; i < d->nconn; i++) {
    p[n].fd = d->conns[i].fd;
    p[n].events = READING(&d->conns[i]) ? POLLIN : 0;
    p[n++].revents = 0;
    if (d->conns[i].state == C_READY) ready = 1;
  }
  /* A message that came pipelined behind the last group is ready now;
     fsyncs done at once wait to be reaped; once a minute the clocks. */
  *ms = ready || injectsync_has_done(&d->sync) ? 0 : 60 * 1000;
  return n;
}

void injectd_run(struct injectd *d, const struct pollfd *p, size_t n, time_t now)
{
  size_t i;
  /* Backwards, so that closing one (it is replaced by the last) does not
     skip another; client i's entry is p[1 + i] as polled. */
  for (i = n > 1 ? n - 1 : 0; i-- > 0;) {
    struct injectd_conn *c = &d->conns[i];
    ssize_t k;
    if (!p[1 + i].revents || !READING(c)) continue;
    k = read(c->fd, c->rbuf + c->rlen, INJECTD_RBUF - c->rlen);
    if (k == -1 && (errno == EAGAIN || errno == EINTR)) continue;
    if (k <= 0) {                      /* gone: whatever was begun is removed */
      conn_close(d, i, 0);
      continue;
    }
    c->rlen += (size_t)k;
    c->last = now;
    conn_input(d, i);
  }
  /* Every change of state is followed by what it allows, before the next
     wait: a linked message never waits for a wake-up that will not come.
     (Without AIO the fsyncs are done at once, and taken at once.) */
  reap_syncs(d);
  start_syncs(d);
  do reap_syncs(d); while (start_group(d));
  for (i = d->nconn; i-- > 0;) {
    struct injectd_conn *c = &d->conns[i];
    /* Shorter than SPOOL_TMP_MAXAGE: the tmp/ sweep never races us. */
    if (c->state == C_DATA && now - c->opened > SPOOL_WRITE_DEADLINE)
      conn_fail(d, i, 111, "message took too long", 0);
    else if (READING(c) && now - c->last > INJECTD_IDLE)
      conn_fail(d, i, 111, "client silent too long", 0);
  }
}

void injectd_stop(struct injectd *d)
{
  /* Nothing half-done stays: a message whose commit was not complete is
     taken back, and its client told so. */
  while (d->nconn) conn_close(d, d->nconn - 1, "111 server stopping\n");
  injectsync_free(&d->sync);
  close(d->newfd);
  free(d->conns);
  free(d->done);
  d->conns = 0;
  d->done = 0;
}
