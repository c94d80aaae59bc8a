/* queue-inject: the only writer into the spool (doc/programs/queue-inject.md).
   qmail style, no arguments: message on fd 0, envelope (envelope.h wire
   form) on fd 1; if fd 1 is a socket, "ID\n" goes back on it after the commit.
   Shell style: queue-inject -t TENANT [-c COMP] [-i IP] [-u USER] -f SENDER
   RCPT... < message; the ID is printed on stdout.
   Server form: queue-inject -d serves the protocol of lib/injectp.h on
   $CMC_HOME/run/inject.sock and commits the messages of many clients in
   groups (one sync of new/ per group); events on fd 2.
   Environment: CMC_HOME, CMC_HOSTNAME, CMC_MSG_MAX, CMC_INJECT_MAXCONN (-d).
   Exit 0 queued (durable) or server stopped, 100 refused for good, 111
   nothing queued, retry (or the server could not start). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "buf.h"
#include "die.h"
#include "envelope.h"
#include "home.h"
#include "inject.h"
#include "injectd.h"
#include "io.h"
#include "spool.h"

#define USAGE "usage: queue-inject [-d | -t tenant [-c comp] [-i ip] [-u user] -f sender rcpt...]"
#define MSG_MAX_DEFAULT (64ULL << 20)   /* CMC_MSG_MAX: raw bytes on fd 0 */
#define MSG_MAX_LIMIT (1ULL << 30)      /* CMC_MSG_MAX cannot go above this */
#define HOST_MAX INJECT_HOST_MAX
#define MAXCONN_DEFAULT 1000            /* -d: CMC_INJECT_MAXCONN */

static unsigned long long max = MSG_MAX_DEFAULT;
static const char *host;
static int dirfd = -1;
static char spooldir[4096];
static struct inject j;                 /* the one message of the one-message forms */

/* Every failure before the commit goes through here: inject_abort removes
   tmp/ID (and new/ID) so the spool holds nothing of this message. */
static _Noreturn void fail(int code, int with_errno, const char *what, const char *arg)
{
  inject_abort(&j);
  if (with_errno) die_sys(code, what, arg);
  die(code, what, arg);
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

static int has_high_bit(const struct buf *b)
{
  size_t i;
  for (i = 0; i < b->len; i++)
    if ((unsigned char)b->s[i] >= 0x80) return 1;
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

/* ---------------------------------------------------------------------------
   The server form (-d): the listening socket, the signals and the poll()
   loop; lib/injectd.c has the clients and the group commit. */

static int sigpipe[2] = { -1, -1 };

static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
  char b[600];
  int r, k;
  va_list ap;
  r = snprintf(b, sizeof b - 1, "%s: ", prog);
  va_start(ap, fmt);
  k = vsnprintf(b + r, sizeof b - 1 - (size_t)r, fmt, ap);
  va_end(ap);
  if (k < 0) return;
  r += k;
  if ((size_t)r > sizeof b - 2) r = sizeof b - 2;
  b[r++] = '\n';
  write_all(2, b, (size_t)r);
}

static void log_line(void *arg, const char *line)
{
  (void)arg;
  event("%s", line);
}

static void on_signal(int sig)
{
  char c = (char)sig;
  int e = errno;
  if (write(sigpipe[1], &c, 1) == -1) { /* full: a wake-up is pending anyway */ }
  errno = e;
}

/* The listening socket, once: the lock makes sure no other server is
   using the name we are about to unlink. */
static int listen_on(const char *home, char *sockpath, size_t n)
{
  char rundir[4096], lockpath[4096];
  struct sockaddr_un sa;
  int lfd, lock;
  if (home_path(rundir, sizeof rundir, home, "run") == -1
      || home_path(lockpath, sizeof lockpath, home, "run/inject.lock") == -1
      || home_path(sockpath, n, home, "run/inject.sock") == -1)
    die_sys(EXIT_TEMP, "unable to make paths under ", home);
  if (mkdir_p(rundir, 0700) == -1) die_sys(EXIT_TEMP, "unable to create ", rundir);
  lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock == -1) die_sys(EXIT_TEMP, "unable to open ", lockpath);
  if (flock(lock, LOCK_EX | LOCK_NB) == -1) die_sys(EXIT_TEMP, "another server holds ", lockpath);
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(sockpath) >= sizeof sa.sun_path) die(EXIT_TEMP, "socket path too long: ", sockpath);
  memcpy(sa.sun_path, sockpath, strlen(sockpath) + 1);
  if (unlink(sockpath) == -1 && errno != ENOENT) die_sys(EXIT_TEMP, "unable to remove ", sockpath);
  lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (lfd == -1) die_sys(EXIT_TEMP, "unable to make a socket", 0);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) == -1) die_sys(EXIT_TEMP, "unable to bind ", sockpath);
  /* The owner and the spool group may inject; run/ itself decides who can reach it. */
  if (chmod(sockpath, 0660) == -1) die_sys(EXIT_TEMP, "unable to chmod ", sockpath);
  if (listen(lfd, 256) == -1) die_sys(EXIT_TEMP, "unable to listen on ", sockpath);
  return lfd;                          /* the lock fd stays open: held until exit */
}

static int serve(const char *home)
{
  char sockpath[4096];
  struct injectd d;
  struct pollfd *pfd;
  struct rlimit rl;
  const char *v;
  size_t maxconn = MAXCONN_DEFAULT;
  int lfd;
  alarm(0);                            /* each message has its own deadline here */
  if ((v = getenv("CMC_INJECT_MAXCONN")) && *v) {
    char *end;
    unsigned long u;
    errno = 0;
    u = strtoul(v, &end, 10);
    if (errno || *end || *v < '0' || *v > '9' || u < 1 || u > 100000) die(EXIT_TEMP, "bad CMC_INJECT_MAXCONN: ", v);
    maxconn = u;
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (!(pfd = calloc(maxconn + 3, sizeof *pfd))) die_sys(EXIT_TEMP, "unable to allocate memory", 0);
  if (injectd_init(&d, dirfd, spooldir, host, max, maxconn, log_line, 0) == -1)
    die_sys(EXIT_TEMP, "unable to set up the server on ", spooldir);
  if (pipe(sigpipe) == -1 || fd_cloexec(sigpipe[0]) == -1 || fd_cloexec(sigpipe[1]) == -1
      || fd_nonblock(sigpipe[0], 1) == -1 || fd_nonblock(sigpipe[1], 1) == -1)
    die_sys(EXIT_TEMP, "unable to make a pipe", 0);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGHUP, on_signal);
  lfd = listen_on(home, sockpath, sizeof sockpath);
  event("start sock=%s maxconn=%zu sync=%s", sockpath, maxconn,
        injectd_is_parallel(&d) ? "together" : "one-by-one");
  for (;;) {
    size_t n;
    int r, ms;
    pfd[0].fd = sigpipe[0];
    pfd[0].events = POLLIN;
    pfd[1].fd = injectd_is_full(&d) ? -1 : lfd;
    pfd[1].events = POLLIN;
    n = injectd_pollfds(&d, pfd + 2, &ms);
    r = poll(pfd, n + 2, ms);
    if (r == -1 && errno != EINTR) die_sys(EXIT_TEMP, "unable to poll", 0);
    if (r == -1) continue;
    if (pfd[0].revents) {
      char sig;
      if (read(sigpipe[0], &sig, 1) == 1) break;
    }
    injectd_run(&d, pfd + 2, n, time(0));
    if (pfd[1].revents)
      for (;;) {
        int fd = accept(lfd, 0, 0);
        if (fd == -1) {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            warn_sys("unable to accept", 0);
          break;
        }
        injectd_add(&d, fd);
      }
  }
  injectd_stop(&d);
  unlink(sockpath);
  free(pfd);
  event("stop");
  return 0;
}

int main(int argc, char **argv)
{
  const char *home, *s;
  char hostbuf[HOST_MAX + 2];
  struct buf wire = BUF_ZERO, raw = BUF_ZERO;
  struct envelope e;
  struct stat st;
  const char *why;
  int fd, is_shell = argc > 1, is_socket = 0, is_server = argc == 2 && !strcmp(argv[1], "-d");

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
  inject_init(&j);

  if (is_server) is_shell = 0;
  else if (is_shell) envelope_from_args(&wire, argc, argv);
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
  /* Needed only for a Message-ID that is missing; checked then. */
  host = getenv("CMC_HOSTNAME");
  if (!host || !*host) {
    host = "";
    if (gethostname(hostbuf, sizeof hostbuf) == 0) {
      hostbuf[sizeof hostbuf - 1] = 0;
      host = hostbuf;
    }
  }
  if (home_path(spooldir, sizeof spooldir, home, "spool") == -1)
    die_sys(EXIT_TEMP, "unable to name the spool under ", home);
  dirfd = open(spooldir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd == -1) die_sys(EXIT_TEMP, "unable to open spool ", spooldir);
  if (is_server) return serve(home);

  /* Claim the id first: an unwritable spool fails before any reading. */
  if (inject_open(&j, dirfd, host, max) == -1) die_sys(EXIT_TEMP, "unable to create a file in ", "tmp/");
  /* The message comes before the envelope here: it is held in memory. */
  if (fstat(0, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0
      && (unsigned long long)st.st_size <= max && buf_ready(&raw, (size_t)st.st_size + 1) == -1)
    fail(EXIT_TEMP, 1, "unable to allocate memory", 0);
  if (read_all(0, &raw, (size_t)max) == -1) {
    if (errno == EFBIG) fail(EXIT_PERM, 0, "message too big", 0);
    fail(EXIT_TEMP, 1, "unable to read message", 0);
  }
  if (!is_shell) {
    int r = read_envelope(1, &wire);
    if (r == 1) fail(EXIT_TEMP, 0, "envelope ended early: caller gave up", 0);
    if (r == -1) {
      if (errno == EFBIG) fail(EXIT_PERM, 0, "envelope too big", 0);
      fail(EXIT_TEMP, 1, "unable to read envelope", 0);
    }
  }
  if (inject_envelope(&e, wire.s, wire.len, &why) == -1) fail(errno == ENOMEM ? EXIT_TEMP : EXIT_PERM, 0, why, 0);
  if (is_shell && has_high_bit(&raw)) e.is_8bitmime = 1;
  if (inject_head(&j, &e) == -1) {
    if (errno == ENOMEM) fail(EXIT_TEMP, 1, "unable to allocate memory", 0);
    fail(EXIT_PERM, 0, "malformed envelope", 0);
  }
  if (inject_feed(&j, raw.s ? raw.s : "", raw.len) == -1 || inject_end(&j) == -1) {
    if (errno == EFBIG) fail(EXIT_PERM, 0, "message too big", 0);
    if (errno == EINVAL) fail(EXIT_TEMP, 0, "bad host name: ", host);
    fail(EXIT_TEMP, 1, "unable to write ", j.tmpname);
  }
  if (inject_sync(&j) == -1) fail(EXIT_TEMP, 1, "unable to sync ", j.tmpname);
  if (inject_link(&j) == -1) fail(EXIT_TEMP, 1, "unable to link ", j.newname);
  /* If the directory sync fails, inject_abort takes the new name back. */
  if (fsync_at(dirfd, "new") == -1) fail(EXIT_TEMP, 1, "unable to sync ", "new/");
  /* Committed: the message survives a power cut from here on. */

  if (spool_trigger(spooldir) == -1) warn_sys("unable to trigger deliver", 0);
  if (is_shell || is_socket) {
    char line[SPOOL_ID_MAX + 2];
    size_t n = strlen(j.id);
    memcpy(line, j.id, n);
    line[n++] = '\n';
    if (write_all(1, line, n) == -1) warn_sys("unable to report id ", j.id);
  }
  /* Freed so that the sanitizer build finds real leaks, not these. */
  inject_done(&j);
  envelope_free(&e);
  buf_free(&wire);
  buf_free(&raw);
  return 0;
}
