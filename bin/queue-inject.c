/* queue-inject: the only writer into the spool (doc/programs/queue-inject.md).
   qmail style, no arguments: message on fd 0, envelope (envelope.h wire
   form) on fd 1; if fd 1 is a socket, "ID\n" goes back on it after the commit.
   Shell style: queue-inject -t TENANT [-c COMP] [-i IP] [-u USER] -f SENDER
   RCPT... < message; the ID is printed on stdout.
   Environment: CMC_HOME, CMC_HOSTNAME, CMC_MSG_MAX.
   Exit 0 queued (durable), 100 refused for good, 111 nothing queued, retry. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "buf.h"
#include "die.h"
#include "envelope.h"
#include "home.h"
#include "io.h"
#include "spool.h"

#define USAGE "usage: queue-inject [-t tenant [-c comp] [-i ip] [-u user] -f sender rcpt...]"
#define MSG_MAX_DEFAULT (64ULL << 20)   /* CMC_MSG_MAX: raw bytes on fd 0 */
#define MSG_MAX_LIMIT (1ULL << 30)      /* CMC_MSG_MAX cannot go above this */
#define READ_SIZE (128 * 1024)
#define CHUNK_FIRST (64 * 1024)
#define CHUNK_BIG (16 * 1024 * 1024)
#define CHUNKS_MAX 1000
#define HOST_MAX 255
#ifdef UIO_MAXIOV
#define IOV_BATCH UIO_MAXIOV                    /* Linux: 1024 */
#else
#define IOV_BATCH 16                            /* the POSIX minimum */
#endif

/* The normalised message lives in a list of chunks, each filled once and
   never moved: a big message costs no realloc copies, and the file is
   written by one writev() of envelope, chunks and added header lines. */
struct chunk { char *s; size_t len, cap; };
static struct chunk chunk[CHUNKS_MAX];
static size_t nchunk, outlen;
static char rbuf[READ_SIZE];

/* Header scan, done while normalising: where the header ends, whether it
   has Message-ID and Date, whether a blank line must follow added fields. */
static int in_header = 1, line_start = 1, name_state, has_msgid, has_date, need_blank;
static size_t line_off, hdr_end, namelen, nlines;
static char name[12];

static int dirfd = -1;
static char tmpname[SPOOL_ID_MAX + 8];
static int tmp_made;

/* Every failure before the commit goes through here: tmp/ID is removed so
   the spool holds nothing of this message. */
static _Noreturn void fail(int code, int with_errno, const char *what, const char *arg)
{
  int e = errno;
  if (tmp_made) unlinkat(dirfd, tmpname, 0);
  errno = e;
  if (with_errno) die_sys(code, what, arg);
  die(code, what, arg);
}

static void out_put(const char *p, size_t n)
{
  while (n) {
    struct chunk *c = nchunk ? &chunk[nchunk - 1] : 0;
    size_t room, k;
    if (!c || c->len == c->cap) {
      size_t cap = c ? c->cap * 2 : CHUNK_FIRST;
      if (cap > CHUNK_BIG) cap = CHUNK_BIG;
      if (nchunk == CHUNKS_MAX) fail(EXIT_PERM, 0, "message too big", 0);
      c = &chunk[nchunk];
      if (!(c->s = malloc(cap))) fail(EXIT_TEMP, 1, "unable to allocate memory", 0);
      c->cap = cap;
      c->len = 0;
      nchunk++;
    }
    room = c->cap - c->len;
    k = n < room ? n : room;
    memcpy(c->s + c->len, p, k);
    c->len += k;
    outlen += k;
    p += k;
    n -= k;
  }
}

static void header_ends(size_t at, int blank)
{
  in_header = 0;
  hdr_end = at;
  need_blank = blank;
}

static void line_end(void)
{
  if (in_header) {
    if (line_start) header_ends(outlen, 0);           /* the empty line */
    else if (name_state == 0) header_ends(line_off, 1); /* no colon: body text */
    else nlines++;
  }
  out_put("\r\n", 2);
  line_start = 1;
}

/* One byte of a header line, not a line end.  name_state: 0 reading the
   field name, 1 a valid field line (or continuation). */
static void header_byte(char c)
{
  if (line_start) {
    line_start = 0;
    line_off = outlen;
    namelen = 0;
    if (c == ' ' || c == '\t') {
      if (nlines == 0) { header_ends(line_off, 1); goto put; }
      name_state = 1;
      goto put;
    }
    name_state = 0;
  }
  if (name_state == 0) {
    if (c == ':' && namelen > 0) {
      name_state = 1;
      if (namelen == 10 && !strncasecmp(name, "message-id", 10)) has_msgid = 1;
      if (namelen == 4 && !strncasecmp(name, "date", 4)) has_date = 1;
    } else if (c > 32 && c < 127 && c != ':') {
      if (namelen < sizeof name) name[namelen] = c;
      if (namelen <= sizeof name) namelen++;
    } else header_ends(line_off, 1);
  }
put:
  out_put(&c, 1);
}

/* Normalise p[0..n) to CRLF line ends: CRLF stays, a bare LF or a bare CR
   becomes CRLF.  *saw_cr carries a CR at the end of one read to the next. */
static void normalise(const char *p, size_t n, int *saw_cr)
{
  const char *end = p + n, *lf, *cr;
  while (p < end) {
    if (*saw_cr) {
      *saw_cr = 0;
      line_end();
      if (*p == '\n') { p++; continue; }
    }
    if (in_header) {
      char c = *p++;
      if (c == '\r') *saw_cr = 1;
      else if (c == '\n') line_end();
      else header_byte(c);
      continue;
    }
    lf = memchr(p, '\n', (size_t)(end - p));
    cr = memchr(p, '\r', (size_t)((lf ? lf : end) - p));
    if (lf && cr == lf - 1) {                 /* a proper CRLF line: as is */
      out_put(p, (size_t)(lf + 1 - p));
      p = lf + 1;
    } else if (cr) {                           /* CR: maybe bare, maybe split */
      out_put(p, (size_t)(cr - p));
      p = cr + 1;
      *saw_cr = 1;
    } else if (lf) {                           /* bare LF */
      out_put(p, (size_t)(lf - p));
      line_end();
      p = lf + 1;
    } else {
      out_put(p, (size_t)(end - p));
      p = end;
    }
  }
}

static void read_message(unsigned long long max)
{
  unsigned long long total = 0;
  int saw_cr = 0;
  struct stat st;
  ssize_t r;
  /* A file on fd 0 has a known size: one chunk holds it, with room for
     some bare LFs to grow. */
  if (fstat(0, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0
      && (unsigned long long)st.st_size <= max) {
    size_t cap = (size_t)st.st_size + (size_t)st.st_size / 8 + 4096;
    if (!(chunk[0].s = malloc(cap))) fail(EXIT_TEMP, 1, "unable to allocate memory", 0);
    chunk[0].cap = cap;
    nchunk = 1;
  }
  while ((r = read_retry(0, rbuf, sizeof rbuf)) > 0) {
    total += (unsigned long long)r;
    if (total > max) fail(EXIT_PERM, 0, "message too big", 0);
    normalise(rbuf, (size_t)r, &saw_cr);
  }
  if (r == -1) fail(EXIT_TEMP, 1, "unable to read message", 0);
  if (saw_cr) line_end();
  if (outlen && chunk[nchunk - 1].s[chunk[nchunk - 1].len - 1] != '\n') line_end();
  if (in_header) header_ends(outlen, 0);     /* all header, or empty */
}

/* Read the envelope from fd up to and including its empty end field.
   0 ok; 1 it stopped before the end (the caller gave up); -1 errno. */
static int read_envelope(int fd, struct buf *b)
{
  size_t field = 0;
  for (;;) {
    ssize_t r;
    size_t want;
    while (field < b->len) {
      const char *z = memchr(b->s + field, 0, b->len - field);
      if (!z) break;
      if (z == b->s + field) return 0;
      field = (size_t)(z - b->s) + 1;
    }
    if (b->len > ENVELOPE_MAX) return errno = EFBIG, -1;
    if (buf_ready(b, 65536) == -1) return -1;
    want = b->cap - b->len - 1;
    if (want > ENVELOPE_MAX + 1 - b->len) want = ENVELOPE_MAX + 1 - b->len;
    r = read_retry(fd, b->s + b->len, want);
    if (r == -1) return -1;
    if (r == 0) return 1;
    b->len += (size_t)r;
    b->s[b->len] = 0;
  }
}

static int host_ok(const char *h)
{
  size_t i;
  for (i = 0; h[i]; i++)
    if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z')
          || (h[i] >= '0' && h[i] <= '9') || h[i] == '.' || h[i] == '-' || h[i] == '_'))
      return 0;
  return i > 0 && i <= HOST_MAX;
}

/* The added header fields, in the RFC 5322 forms. */
static void added_fields(struct buf *b, const char *id, const char *host)
{
  char date[64];
  struct tm tm;
  time_t now = time(0);
  if (!has_date) {
    if (!localtime_r(&now, &tm) || !strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm))
      fail(EXIT_TEMP, 1, "unable to format the date", 0);
    if (buf_printf(b, "Date: %s\r\n", date) == -1) fail(EXIT_TEMP, 1, "unable to allocate memory", 0);
  }
  if (!has_msgid && buf_printf(b, "Message-ID: <%s@%s>\r\n", id, host) == -1)
    fail(EXIT_TEMP, 1, "unable to allocate memory", 0);
  if (b->len && need_blank && buf_add(b, "\r\n", 2) == -1)
    fail(EXIT_TEMP, 1, "unable to allocate memory", 0);
}

/* writev() all of iov[0..n), resuming after short writes. */
static int writev_all(int fd, struct iovec *iov, int n)
{
  while (n > 0) {
    int k = n < IOV_BATCH ? n : IOV_BATCH;
    ssize_t w = writev(fd, iov, k);
    if (w == -1) {
      if (errno == EINTR) continue;
      return -1;
    }
    while (n > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
  return 0;
}

static int has_high_bit(void)
{
  size_t i, j;
  for (i = 0; i < nchunk; i++)
    for (j = 0; j < chunk[i].len; j++)
      if ((unsigned char)chunk[i].s[j] >= 0x80) return 1;
  return 0;
}

/* Shell style: the envelope from argv, addresses in internal form. */
static void envelope_from_args(struct buf *wire, int argc, char **argv)
{
  struct envelope e;
  struct buf a = BUF_ZERO;
  const char *sender = 0;
  size_t off[ENVELOPE_MAXRCPT + 1], i;
  int opt, is_utf8 = 0;
  memset(&e, 0, sizeof e);
  e.composition = "default";
  e.accepted = -1;
  while ((opt = getopt(argc, argv, "t:c:i:u:f:")) != -1) {
    switch (opt) {
    case 't': e.tenant = optarg; break;
    case 'c': e.composition = optarg; break;
    case 'i': e.client_ip = optarg; break;
    case 'u': e.user = optarg; break;
    case 'f': sender = optarg; break;
    default: die(EXIT_PERM, USAGE, 0);
    }
  }
  if (!e.tenant || !sender || optind >= argc) die(EXIT_PERM, USAGE, 0);
  e.nrcpt = (size_t)(argc - optind);
  if (e.nrcpt > ENVELOPE_MAXRCPT) die(EXIT_PERM, "too many recipients", 0);
  if (addr_parse(&a, sender, strlen(sender), 1) == -1) {
    if (errno == ENOMEM) die_sys(EXIT_TEMP, "unable to parse sender ", sender);
    die(EXIT_PERM, "bad sender address: ", sender);
  }
  if (buf_addc(&a, 0) == -1) die_sys(EXIT_TEMP, "unable to allocate memory", 0);
  off[0] = 0;
  for (i = 0; i < e.nrcpt; i++) {
    const char *r = argv[optind + (int)i];
    off[i + 1] = a.len;
    if (addr_parse(&a, r, strlen(r), 0) == -1) {
      if (errno == ENOMEM) die_sys(EXIT_TEMP, "unable to parse recipient ", r);
      die(EXIT_PERM, "bad recipient address: ", r);
    }
    if (buf_addc(&a, 0) == -1) die_sys(EXIT_TEMP, "unable to allocate memory", 0);
  }
  if (!(e.rcpt = malloc(e.nrcpt * sizeof *e.rcpt))) die_sys(EXIT_TEMP, "unable to allocate memory", 0);
  e.sender = a.s + off[0];
  if (addr_is_utf8(e.sender)) is_utf8 = 1;
  for (i = 0; i < e.nrcpt; i++) {
    e.rcpt[i] = a.s + off[i + 1];
    if (addr_is_utf8(e.rcpt[i])) is_utf8 = 1;
  }
  e.is_smtputf8 = is_utf8;
  /* Stash it: the message is read later; wire form made after that. */
  if (envelope_put(wire, &e) == -1) {
    if (errno == ENOMEM) die_sys(EXIT_TEMP, "unable to allocate memory", 0);
    die(EXIT_PERM, "bad envelope value in arguments", 0);
  }
  free(e.rcpt);
  buf_free(&a);
}

int main(int argc, char **argv)
{
  const char *home, *host, *s;
  char spooldir[4096], id[SPOOL_ID_MAX + 1], hostbuf[HOST_MAX + 2], newname[SPOOL_ID_MAX + 8];
  unsigned long long max = MSG_MAX_DEFAULT;
  struct buf wire = BUF_ZERO, head = BUF_ZERO, added = BUF_ZERO;
  struct envelope e;
  struct iovec *iov;
  struct stat st;
  size_t i, pos;
  long used;
  int fd, niov, tries, is_shell = argc > 1, is_socket = 0;

  prog = "queue-inject";
  /* Shorter than SPOOL_TMP_MAXAGE: the tmp/ sweep never races us. */
  alarm(SPOOL_WRITE_DEADLINE);
  signal(SIGPIPE, SIG_IGN);
  umask(077);
  /* A closed fd 0, 1 or 2 would be reused by the files we open: a
     diagnostic could then land in a message.  Fill the gaps first. */
  for (fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", O_RDWR) != fd)
      die(EXIT_TEMP, "unable to open /dev/null", 0);

  if (is_shell) envelope_from_args(&wire, argc, argv);
  else if (fstat(1, &st) == 0 && S_ISSOCK(st.st_mode)) is_socket = 1;

  home = getenv("CMC_HOME");
  if (!home || !*home) home = HOME_DEFAULT;
  if ((s = getenv("CMC_MSG_MAX")) && *s) {
    char *end;
    errno = 0;
    max = strtoull(s, &end, 10);
    if (errno || *end || s[0] == '-' || max == 0 || max > MSG_MAX_LIMIT)
      die(EXIT_TEMP, "bad CMC_MSG_MAX: ", s);
  }
  if (home_path(spooldir, sizeof spooldir, home, "spool") == -1)
    die_sys(EXIT_TEMP, "unable to name the spool under ", home);
  dirfd = open(spooldir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd == -1) die_sys(EXIT_TEMP, "unable to open spool ", spooldir);

  /* Claim the id first: an unwritable spool fails before any reading. */
  for (tries = 0;; tries++) {
    if (spool_newid(id, sizeof id) == -1) die_sys(EXIT_TEMP, "unable to make an id", 0);
    snprintf(tmpname, sizeof tmpname, "tmp/%s", id);
    snprintf(newname, sizeof newname, "new/%s", id);
    fd = openat(dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd != -1) break;
    if (errno != EEXIST || tries == 10) die_sys(EXIT_TEMP, "unable to create ", tmpname);
  }
  tmp_made = 1;

  read_message(max);

  if (!is_shell) {
    int r = read_envelope(1, &wire);
    if (r == 1) fail(EXIT_TEMP, 0, "envelope ended early: caller gave up", 0);
    if (r == -1) {
      if (errno == EFBIG) fail(EXIT_PERM, 0, "envelope too big", 0);
      fail(EXIT_TEMP, 1, "unable to read envelope", 0);
    }
  }
  used = envelope_parse(&e, wire.s, wire.len);
  if (used < 0) {
    if (errno == ENOMEM) fail(EXIT_TEMP, 1, "unable to parse envelope", 0);
    fail(EXIT_PERM, 0, "malformed envelope", 0);
  }
  if ((size_t)used != wire.len) fail(EXIT_PERM, 0, "malformed envelope: bytes after its end", 0);
  if (e.id) fail(EXIT_PERM, 0, "malformed envelope: Q field on input", 0);
  if (is_shell && has_high_bit()) e.is_8bitmime = 1;
  e.id = id;
  if (e.accepted < 0) e.accepted = (long long)time(0);
  if (envelope_put(&head, &e) == -1) {
    if (errno == ENOMEM) fail(EXIT_TEMP, 1, "unable to allocate memory", 0);
    fail(EXIT_PERM, 0, "malformed envelope", 0);
  }

  host = "";
  if (!has_msgid) {
    host = getenv("CMC_HOSTNAME");
    if (!host || !*host) {
      if (gethostname(hostbuf, sizeof hostbuf) == -1) fail(EXIT_TEMP, 1, "unable to get host name", 0);
      hostbuf[sizeof hostbuf - 1] = 0;
      host = hostbuf;
    }
    if (!host_ok(host)) fail(EXIT_TEMP, 0, "bad host name: ", host);
  }
  added_fields(&added, id, host);

  /* Envelope, the header up to hdr_end, added fields, the rest. */
  if (!(iov = calloc(nchunk + 3, sizeof *iov))) fail(EXIT_TEMP, 1, "unable to allocate memory", 0);
  niov = 0;
  iov[niov].iov_base = head.s;
  iov[niov++].iov_len = head.len;
  if (!added.len) hdr_end = outlen + 1;        /* nothing to insert */
  else if (hdr_end == 0) {
    iov[niov].iov_base = added.s;
    iov[niov++].iov_len = added.len;
  }
  for (i = 0, pos = 0; i < nchunk; pos += chunk[i].len, i++) {
    if (hdr_end > pos && hdr_end <= pos + chunk[i].len) {
      size_t k = hdr_end - pos;
      iov[niov].iov_base = chunk[i].s;
      iov[niov++].iov_len = k;
      iov[niov].iov_base = added.s;
      iov[niov++].iov_len = added.len;
      if (k < chunk[i].len) {
        iov[niov].iov_base = chunk[i].s + k;
        iov[niov++].iov_len = chunk[i].len - k;
      }
    } else {
      iov[niov].iov_base = chunk[i].s;
      iov[niov++].iov_len = chunk[i].len;
    }
  }

  if (writev_all(fd, iov, niov) == -1) fail(EXIT_TEMP, 1, "unable to write ", tmpname);
  if (fsync(fd) == -1) fail(EXIT_TEMP, 1, "unable to sync ", tmpname);
  if (close(fd) == -1) fail(EXIT_TEMP, 1, "unable to close ", tmpname);
  /* link() never replaces: an existing new/ID is an error, not a clobber. */
  if (linkat(dirfd, tmpname, dirfd, newname, 0) == -1) fail(EXIT_TEMP, 1, "unable to link ", newname);
  unlinkat(dirfd, tmpname, 0);                 /* a leftover is swept later */
  tmp_made = 0;
  if (fsync_at(dirfd, "new") == -1) {
    /* Not known to be durable: take it back.  If deliver was quicker the
       message goes out and our caller retries: a duplicate, never a loss. */
    int err = errno;
    unlinkat(dirfd, newname, 0);
    errno = err;
    die_sys(EXIT_TEMP, "unable to sync ", "new/");
  }
  /* Committed: the message survives a power cut from here on. */

  if (spool_trigger(spooldir) == -1) warn_sys("unable to trigger deliver", 0);
  if (is_shell || is_socket) {
    char line[SPOOL_ID_MAX + 2];
    size_t n = strlen(id);
    memcpy(line, id, n);
    line[n++] = '\n';
    if (write_all(1, line, n) == -1) warn_sys("unable to report id ", id);
  }
  /* Freed so that the sanitizer build finds real leaks, not these. */
  envelope_free(&e);
  buf_free(&wire);
  buf_free(&head);
  buf_free(&added);
  free(iov);
  for (i = 0; i < nchunk; i++) free(chunk[i].s);
  return 0;
}
