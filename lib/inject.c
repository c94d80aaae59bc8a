/* inject.c: one message into the spool (inject.h): tmp/ID written as the
   message arrives, normalised to CRLF line ends with Date and Message-ID
   added when missing, then synced and linked into new/.  The caller syncs
   new/ and so decides what a commit groups.  Returns 0/-1 with errno. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "inject.h"
#include "io.h"

int inject_envelope(struct envelope *e, const char *p, size_t n, const char **why)
{
  long used = envelope_parse(e, p ? p : "", n);
  if (used < 0) {
    *why = errno == ENOMEM ? "unable to parse envelope" : "malformed envelope";
    return -1;
  }
  if ((size_t)used != n) *why = "malformed envelope: bytes after its end";
  else if (e->id) *why = "malformed envelope: Q field on input";
  else return 0;
  envelope_free(e);
  return errno = EINVAL, -1;
}

void inject_init(struct inject *j)
{
  memset(j, 0, sizeof *j);
  j->dirfd = j->fd = -1;
}

int inject_open(struct inject *j, int dirfd, const char *host, unsigned long long max)
{
  int tries;
  inject_init(j);
  j->dirfd = dirfd;
  j->host = host;
  j->max = max;
  j->in_header = j->line_start = 1;
  for (tries = 0;; tries++) {
    if (spool_newid(j->id, sizeof j->id) == -1) return -1;
    snprintf(j->tmpname, sizeof j->tmpname, "tmp/%s", j->id);
    snprintf(j->newname, sizeof j->newname, "new/%s", j->id);
    j->fd = openat(dirfd, j->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (j->fd != -1) break;
    if (errno != EEXIST || tries == 10) return -1;
  }
  j->is_made = 1;
  return 0;
}

int inject_head(struct inject *j, const struct envelope *e)
{
  struct envelope c = *e;
  if (e->id || j->has_head || j->fd == -1) return errno = EINVAL, -1;
  c.id = j->id;
  if (c.accepted < 0) c.accepted = (long long)time(0);
  if (envelope_put(&j->out, &c) == -1) return -1;
  j->has_head = 1;
  return 0;
}

static int host_ok(const char *h)
{
  size_t i;
  for (i = 0; h[i]; i++)
    if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z')
          || (h[i] >= '0' && h[i] <= '9') || h[i] == '.' || h[i] == '-' || h[i] == '_'))
      return 0;
  return i > 0 && i <= INJECT_HOST_MAX;
}

static int put(struct inject *j, const char *p, size_t n)
{
  if (!n) return 0;
  if (buf_add(&j->out, p, n) == -1) return -1;
  j->msglen += n;
  j->last = (unsigned char)p[n - 1];
  return 0;
}

/* The header ends at offset at of out: the added fields go there, in the
   RFC 5322 forms, followed by an empty line if the header ended at a line
   that is not a header field (blank). */
static int header_ends(struct inject *j, size_t at, int blank)
{
  char date[64], add[64 + 2 * (SPOOL_ID_MAX + INJECT_HOST_MAX + 32)];
  size_t n = 0;
  struct tm tm;
  time_t now = time(0);
  int r;
  j->in_header = 0;
  if (!j->has_date) {
    if (!localtime_r(&now, &tm) || !strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm))
      return errno = EINVAL, -1;
    r = snprintf(add, sizeof add, "Date: %s\r\n", date);
    if (r < 0 || (size_t)r >= sizeof add) return errno = EINVAL, -1;
    n = (size_t)r;
  }
  if (!j->has_msgid) {
    if (!j->host || !host_ok(j->host)) return errno = EINVAL, -1;
    r = snprintf(add + n, sizeof add - n, "Message-ID: <%s@%s>\r\n", j->id, j->host);
    if (r < 0 || (size_t)r >= sizeof add - n) return errno = EINVAL, -1;
    n += (size_t)r;
  }
  if (n && blank) {
    add[n++] = '\r';
    add[n++] = '\n';
  }
  if (!n) return 0;
  /* Nothing was written while in the header: at is still in out. */
  if (buf_ready(&j->out, n) == -1) return -1;
  memmove(j->out.s + at + n, j->out.s + at, j->out.len - at);
  memcpy(j->out.s + at, add, n);
  j->out.len += n;
  j->out.s[j->out.len] = 0;
  return 0;
}

static int line_end(struct inject *j)
{
  if (j->in_header) {
    if (j->line_start) {                               /* the empty line */
      if (header_ends(j, j->out.len, 0) == -1) return -1;
    } else if (j->name_state == 0) {                   /* no colon: body text */
      if (header_ends(j, j->line_off, 1) == -1) return -1;
    } else
      j->nlines++;
  }
  j->line_start = 1;
  return put(j, "\r\n", 2);
}

/* One byte of a header line, not a line end.  name_state: 0 reading the
   field name, 1 a valid field line (or continuation). */
static int header_byte(struct inject *j, char c)
{
  if (j->line_start) {
    j->line_start = 0;
    j->line_off = j->out.len;
    j->namelen = 0;
    if (c == ' ' || c == '\t') {
      if (j->nlines == 0) {
        if (header_ends(j, j->line_off, 1) == -1) return -1;
        return put(j, &c, 1);
      }
      j->name_state = 1;
      return put(j, &c, 1);
    }
    j->name_state = 0;
  }
  if (j->name_state == 0) {
    if (c == ':' && j->namelen > 0) {
      j->name_state = 1;
      if (j->namelen == 10 && !strncasecmp(j->name, "message-id", 10)) j->has_msgid = 1;
      if (j->namelen == 4 && !strncasecmp(j->name, "date", 4)) j->has_date = 1;
    } else if (c > 32 && c < 127 && c != ':') {
      if (j->namelen < sizeof j->name) j->name[j->namelen] = c;
      if (j->namelen <= sizeof j->name) j->namelen++;
    } else if (header_ends(j, j->line_off, 1) == -1)
      return -1;
  }
  return put(j, &c, 1);
}

static int flush(struct inject *j)
{
  if (write_all(j->fd, j->out.s, j->out.len) == -1) return -1;
  buf_trunc(&j->out, 0);
  return 0;
}

/* Normalise p[0..n) to CRLF line ends: CRLF stays, a bare LF or a bare CR
   becomes CRLF, so no later stage can see an end of data the client did
   not send (SMTP smuggling).  saw_cr carries a CR at the end of one piece
   to the next. */
int inject_feed(struct inject *j, const char *p, size_t n)
{
  const char *end = p + n, *lf, *cr;
  if (!j->has_head || j->fd == -1) return errno = EINVAL, -1;
  if (__builtin_add_overflow(j->in, (unsigned long long)n, &j->in) || j->in > j->max)
    return errno = EFBIG, -1;
  while (p < end) {
    if (j->saw_cr) {
      j->saw_cr = 0;
      if (line_end(j) == -1) return -1;
      if (*p == '\n') { p++; continue; }
    }
    if (j->in_header) {
      char c = *p++;
      if (c == '\r') j->saw_cr = 1;
      else if (c == '\n') { if (line_end(j) == -1) return -1; }
      else if (header_byte(j, c) == -1) return -1;
      continue;
    }
    lf = memchr(p, '\n', (size_t)(end - p));
    cr = memchr(p, '\r', (size_t)((lf ? lf : end) - p));
    if (lf && cr == lf - 1) {                 /* a proper CRLF line: as is */
      if (put(j, p, (size_t)(lf + 1 - p)) == -1) return -1;
      p = lf + 1;
    } else if (cr) {                           /* CR: maybe bare, maybe split */
      if (put(j, p, (size_t)(cr - p)) == -1) return -1;
      p = cr + 1;
      j->saw_cr = 1;
    } else if (lf) {                           /* bare LF */
      if (put(j, p, (size_t)(lf - p)) == -1 || line_end(j) == -1) return -1;
      p = lf + 1;
    } else {
      if (put(j, p, (size_t)(end - p)) == -1) return -1;
      p = end;
    }
  }
  if (!j->in_header && j->out.len >= INJECT_FLUSH) return flush(j);
  return 0;
}

int inject_end(struct inject *j)
{
  if (!j->has_head || j->fd == -1) return errno = EINVAL, -1;
  if (j->saw_cr) {
    j->saw_cr = 0;
    if (line_end(j) == -1) return -1;
  }
  if (j->msglen && j->last != '\n' && line_end(j) == -1) return -1;
  if (j->in_header && header_ends(j, j->out.len, 0) == -1) return -1;   /* all header, or empty */
  return flush(j);
}

int inject_sync(struct inject *j)
{
  int fd = j->fd;
  if (fd == -1) return errno = EINVAL, -1;
  if (fsync(fd) == -1) return -1;
  j->fd = -1;
  return close(fd);
}

int inject_close(struct inject *j)
{
  int fd = j->fd;
  if (fd == -1) return errno = EINVAL, -1;
  j->fd = -1;
  return close(fd);
}

int inject_link(struct inject *j)
{
  if (!j->is_made || j->fd != -1) return errno = EINVAL, -1;
  /* link() never replaces: an existing new/ID is an error, not a clobber. */
  if (linkat(j->dirfd, j->tmpname, j->dirfd, j->newname, 0) == -1) return -1;
  j->is_linked = 1;
  unlinkat(j->dirfd, j->tmpname, 0);           /* a leftover is swept later */
  j->is_made = 0;
  return 0;
}

void inject_abort(struct inject *j)
{
  int e = errno;
  if (j->fd != -1) close(j->fd);
  j->fd = -1;
  if (j->is_made) unlinkat(j->dirfd, j->tmpname, 0);
  /* Not known to be durable: take it back.  If deliver was quicker the
     message goes out and the caller's retry makes a duplicate, never a loss. */
  if (j->is_linked) unlinkat(j->dirfd, j->newname, 0);
  j->is_made = j->is_linked = 0;
  buf_free(&j->out);
  errno = e;
}

void inject_done(struct inject *j)
{
  if (j->fd != -1) close(j->fd);
  j->fd = -1;
  j->is_made = j->is_linked = 0;
  buf_free(&j->out);
}
