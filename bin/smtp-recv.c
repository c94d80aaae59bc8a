/* smtp-recv: the ESMTP relay server, run once per connection on fds 0/1
   under tcpserver (TCPREMOTEIP, TCPREMOTEHOST, TCPLOCALIP, TCPLOCALPORT),
   or its own listener with -l ADDR:PORT (lib/prefork.h: pre-forked
   children, each serving many sessions one after the other).
   Relays for a tenant's IP ranges or SMTP AUTH users (after STARTTLS), as
   the snapshot $CMC_HOME/etc/access says (lib/relay.h); hands each message to
   queue-inject (its server's socket, or a queue-inject run for it:
   lib/injectc.h) and answers 250 only once queue-inject says it is durable.
   With -m, the receiving server for bounces (on CMC_MX_PORT): mail only
   for the tenants' bounce domains, no AUTH, handed on marked "O bounce"
   for deliver to read (doc/bounces.md).  Events on fd 2.  Exit 0 when the
   session ends, 111 when it could not be served, 100 on bad usage.
   doc/programs/smtp-recv.md has the replies, limits and knobs. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "access.h"
#include "buf.h"
#include "die.h"
#include "envelope.h"
#include "home.h"
#include "injectc.h"
#include "io.h"
#include "prefork.h"
#include "relay.h"
#include "relaytx.h"
#include "smtpd.h"
#include "tls.h"

#define USAGE "usage: smtp-recv [-m] [-l addr:port]"
#define ERRORS_MAX 20                 /* bad commands before we hang up */
#define INJECT_TIMEOUT 600            /* queue-inject's answer: RFC 5321 4.5.3.2.6 */
#define CHILD_MAX_USE 100             /* -l: sessions per child, as Postfix's max_use */
#define CHILD_MAX_IDLE 100            /* -l: seconds a child waits for a session */
#define PATH_MAX_ 4096

/* Whose mail a session may hand on: a tenant's, to anywhere (relay), or
   anybody's, to a bounce domain (-m: the receiving server). */
enum mode { MODE_RELAY, MODE_MX };

static struct {
  enum mode mode;
  const char *host, *ip, *rdns;
  unsigned long long maxsize;
  unsigned long maxsessions, timeout;
  enum smtpd_received received;
  char cert[PATH_MAX_], key[PATH_MAX_], access[PATH_MAX_], slots[PATH_MAX_], inject[PATH_MAX_];
  char injsock[PATH_MAX_];
  enum injectc_how injhow;            /* CMC_INJECT */
  int is_listener;                    /* -l: sessions end by longjmp, not exit */
  struct stat access_st;              /* -l: the snapshot s.acc was loaded from */
} cf;

static struct {                       /* the session */
  struct tls io;
  struct access *acc;
  struct buf helo;
  int is_helo, is_esmtp, is_tls, can_tls, errors;
  struct relay rl;                    /* who relays, and for whom */
  const char *verb;                   /* for the log */
  unsigned long nmsg;
  int has_client;                     /* s.io talks to a client: a 421 can be sent */
} s;

static struct relaytx tx;             /* the mail transaction, its message */
static struct buf line, scratch, scratch2;
/* -l: where a session ends (bye), and the TLS context, made once per child. */
static jmp_buf session_end;
static struct ssl_ctx_st *ctx_keep;
static struct prefork pf;

static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line, one write(): lines of concurrent sessions never interleave
   (a pipe write of at most PIPE_BUF bytes is atomic). */
static void event(const char *fmt, ...)
{
  char b[1024];
  size_t n;
  int r;
  va_list ap;
  r = snprintf(b, sizeof b - 32, "%s: ", prog);
  n = r > 0 ? (size_t)r : 0;
  va_start(ap, fmt);
  r = vsnprintf(b + n, sizeof b - 32 - n, fmt, ap);
  va_end(ap);
  if (r > 0) n += (size_t)r < sizeof b - 32 - n ? (size_t)r : sizeof b - 33 - n;
  r = snprintf(b + n, sizeof b - n, " pid=%ld\n", (long)getpid());
  if (r > 0) n += (size_t)r;
  write_all(2, b, n);
}

static _Noreturn void bye(const char *reason)
{
  /* Before the last reply goes out: the client may connect again at once. */
  if (cf.is_listener) prefork_idle(&pf);
  tls_flush(&s.io);
  if (cf.is_listener) {               /* the context outlives the session */
    ctx_keep = s.io.ctx;
    s.io.ctx = 0;
  }
  tls_close(&s.io);
  event("end reason=%s msgs=%lu", reason, s.nmsg);
  /* Like Postfix's smtpd (vstream_longjmp): back to the accept loop. */
  if (cf.is_listener) longjmp(session_end, 1);
  exit(0);
}

static void out(const char *p)
{
  if (tls_puts(&s.io, p) == -1) bye("write");
}

static void reply(const char *r)
{
  out(r);
  out("\r\n");
}

/* Refusals go to the log; the client's own mistakes count towards
   ERRORS_MAX (a client that keeps failing is a scanner or broken). */
static void refuse_(const char *r, int counts)
{
  reply(r);
  event("refused code=%.3s status=%.*s cmd=%s ip=%s", r, (int)strcspn(r + 4, " "), r + 4, s.verb, cf.ip);
  if (counts && ++s.errors >= ERRORS_MAX) {
    reply("421 4.7.0 Too many errors, closing connection");
    bye("errors");
  }
}
static void refuse(const char *r) { refuse_(r, 1); }

/* A read failed: a silent client, a gone one, or a broken TLS layer. */
static _Noreturn void read_fail(void)
{
  if (errno == ETIMEDOUT) {
    reply("421 4.4.2 timeout, closing connection");
    bye("timeout");
  }
  if (errno == EPROTO) event("tls error=\"%s\"", s.io.err);
  bye("read");
}

static void tx_reset(void)
{
  relaytx_reset(&tx);
  relay_tx_reset(&s.rl);
}

static void do_helo(const struct smtpd_cmd *c, int is_esmtp)
{
  if (!smtpd_helo_ok(c->arg, c->len)) {
    refuse(is_esmtp ? "501 5.5.4 Syntax: EHLO hostname" : "501 5.5.4 Syntax: HELO hostname");
    return;
  }
  tx_reset();
  if (buf_set(&s.helo, c->arg, c->len) == -1) die_sys(EXIT_TEMP, "unable to allocate", 0);
  s.is_helo = 1;
  s.is_esmtp = is_esmtp;
  if (!is_esmtp) {
    out("250 ");
    reply(cf.host);
    return;
  }
  buf_trunc(&scratch, 0);
  if (buf_printf(&scratch, "250-%s\r\n250-PIPELINING\r\n250-SIZE %llu\r\n250-8BITMIME\r\n"
                 "250-SMTPUTF8\r\n%s%s250 ENHANCEDSTATUSCODES\r\n", cf.host, cf.maxsize,
                 s.can_tls && !s.is_tls ? "250-STARTTLS\r\n" : "",
                 s.is_tls && cf.mode == MODE_RELAY ? "250-AUTH PLAIN LOGIN\r\n" : "") == -1)
    die_sys(EXIT_TEMP, "unable to allocate", 0);
  out(scratch.s);
}

static void do_mail(const struct smtpd_cmd *c)
{
  static struct smtpd_path pa = SMTPD_PATH_ZERO;
  int r;
  if (!s.is_helo) { refuse("503 5.5.1 Error: send HELO/EHLO first"); return; }
  if (tx.has_mail) { refuse("503 5.5.1 Error: nested MAIL command"); return; }
  if ((r = smtpd_path_parse(&pa, c->arg, c->len, 1, s.is_esmtp, 0)) != SMTPD_OK) {
    refuse(smtpd_path_reply(r, 1));
    return;
  }
  /* RFC 1870: a declared size over the limit is refused before any data. */
  if (pa.has_size && pa.size > cf.maxsize) {
    refuse("552 5.3.4 Message size exceeds fixed limit");
    return;
  }
  if (relaytx_mail(&tx, &pa) == -1) die_sys(EXIT_TEMP, "unable to allocate", 0);
  reply("250 2.1.0 Ok");
}

static void do_rcpt(const struct smtpd_cmd *c)
{
  static struct smtpd_path pa = SMTPD_PATH_ZERO;
  int r;
  if (!tx.has_mail) { refuse("503 5.5.1 Error: need MAIL command"); return; }
  tx.rcpt_tried = 1;
  if ((r = smtpd_path_parse(&pa, c->arg, c->len, 0, s.is_esmtp, tx.is_smtputf8)) != SMTPD_OK) {
    refuse(smtpd_path_reply(r, 0));
    return;
  }
  if (relay_rcpt(&s.rl, pa.addr.s)) { refuse(s.rl.no); return; }
  r = relaytx_rcpt(&tx, pa.addr.s);
  if (r == -1) die_sys(EXIT_TEMP, "unable to allocate", 0);
  if (r == 0) {                       /* RFC 5321 4.5.3.1.10: the client sends the rest later */
    refuse_("452 4.5.3 Too many recipients", 0);
    return;
  }
  reply("250 2.1.5 Ok");
}

static void do_data(const struct smtpd_cmd *c)
{
  struct envelope e;
  int r;
  if (c->len) { refuse("501 5.5.4 Syntax: DATA"); return; }
  if (!tx.has_mail) { refuse("503 5.5.1 Error: need MAIL command"); return; }
  if (!tx.nrcpt) {
    refuse(tx.rcpt_tried ? "554 5.5.1 Error: no valid recipients" : "503 5.5.1 Error: need RCPT command");
    return;
  }
  memset(&e, 0, sizeof e);
  relay_envelope(&s.rl, &e);
  e.client_ip = *cf.ip ? cf.ip : 0;
  e.helo = s.helo.s;
  if (relaytx_begin(&tx, &e, cf.injhow, cf.injsock, cf.inject, INJECT_TIMEOUT, &scratch) == -1) {
    warn_sys("unable to start ", cf.inject);
    refuse_("451 4.3.0 Temporary failure, try again", 0);
    tx_reset();
    return;
  }
  reply("354 End data with <CR><LF>.<CR><LF>");
  buf_trunc(&scratch, 0);
  r = smtpd_received(&scratch, relay_received(&s.rl, cf.received), s.helo.s, cf.rdns, cf.ip,
                     cf.host, smtpd_proto(s.is_esmtp, s.is_tls, s.rl.is_auth, tx.is_smtputf8), time(0));
  /* The message streams to queue-inject as it arrives.  On any refusal the
     envelope is never sent: queue-inject sees none and keeps nothing.  The
     rest of the data is still read, so the session stays in step. */
  r = relaytx_data(&tx, &s.io, r == -1 ? 0 : scratch.s, scratch.len, cf.maxsize, &scratch);
  if (r == 1) bye("eof-in-data");
  if (r == -1) read_fail();
  if (tx.why) {
    refuse_(tx.reply, 0);
    tx_reset();
    return;
  }
  r = relaytx_end(&tx);
  if (r == 0) {
    reply(tx.reply);
    s.nmsg++;
    if (cf.mode == MODE_MX)
      event("accepted id=%s bounce=1 tenant=%s comp=%s ip=%s rcpts=%zu size=%llu",
            tx.id, s.rl.mx_tenant, s.rl.mx_comp, cf.ip, tx.nrcpt, tx.size);
    else
      event("accepted id=%s tenant=%s comp=%s ip=%s user=%s rcpts=%zu size=%llu",
            tx.id, s.rl.tenant, s.rl.comp, cf.ip, s.rl.is_auth ? s.rl.user : "", tx.nrcpt, tx.size);
  } else {
    /* 5xx when queue-inject refused it for good; else our fault or
       queue-inject's, never the client's: 4xx, it retries. */
    event("inject %s why=\"%s\"", r == EXIT_PERM ? "refused" : "failed", tx.ic.why);
    refuse_(tx.reply, 0);
  }
  tx_reset();
}

static void wipe(struct buf *b)
{
  if (b->s) OPENSSL_cleanse(b->s, b->cap);
  b->len = 0;
}

/* AUTH PLAIN / LOGIN (RFC 4954, 4616), offered only under TLS.  The
   password lives in scratch/line only for the check and is wiped after. */
static void do_auth(const struct smtpd_cmd *c)
{
  enum relay_auth k;
  int e;
  if (cf.mode == MODE_MX) { refuse("503 5.5.1 Error: authentication not enabled"); return; }
  if (!s.is_esmtp) { refuse("503 5.5.1 Error: send EHLO first"); return; }
  if (!s.is_tls) { refuse("538 5.7.11 Encryption required for requested authentication mechanism"); return; }
  if (s.rl.is_auth) { refuse("503 5.5.1 Error: already authenticated"); return; }
  if (tx.has_mail) { refuse("503 5.5.1 Error: MAIL transaction in progress"); return; }
  k = relay_auth(&s.rl, &s.io, c->arg, c->len, &line, &scratch, &scratch2);
  e = errno;
  wipe(&scratch);
  wipe(&scratch2);
  wipe(&line);
  errno = e;
  switch (k) {
  case RELAY_AUTH_OK:
    reply("235 2.7.0 Authentication successful");
    event("auth user=%s tenant=%s comp=%s ip=%s", s.rl.user, s.rl.tenant, s.rl.comp, cf.ip);
    return;
  case RELAY_AUTH_NO: refuse(s.rl.no); return;
  case RELAY_AUTH_EOF: bye("eof");
  case RELAY_AUTH_WRITE: bye("write");
  case RELAY_AUTH_READ: read_fail();
  }
}

static void do_starttls(const struct smtpd_cmd *c)
{
  size_t dropped;
  if (c->len) { refuse("501 5.5.4 Syntax: STARTTLS"); return; }
  if (s.is_tls) { refuse("503 5.5.1 Error: TLS already active"); return; }
  if (!s.can_tls || (!s.io.ctx && tls_server_init(&s.io, cf.cert, cf.key) == -1)) {
    if (s.can_tls) warn("unable to load TLS certificate or key: ", s.io.err[0] ? s.io.err : strerror(errno));
    refuse_("454 4.7.0 TLS not available", 0);
    return;
  }
  reply("220 2.0.0 Ready to start TLS");
  if (tls_flush(&s.io) == -1) bye("write");
  /* Whatever came after STARTTLS in clear could be an attacker's injection
     (CVE-2011-0411 and kin): it is thrown away, never read as commands. */
  dropped = tls_pending(&s.io);
  tls_drop(&s.io);
  if (tls_start(&s.io, 0) == -1) {
    event("tls failed error=\"%s\" dropped=%zu", s.io.err[0] ? s.io.err : strerror(errno), dropped);
    bye("tls");
  }
  /* RFC 3207 4.2: forget everything learnt in clear. */
  s.is_tls = 1;
  s.is_helo = s.is_esmtp = 0;
  buf_trunc(&s.helo, 0);
  relay_restart(&s.rl);
  tx_reset();
  event("tls version=%s cipher=%s dropped=%zu", tls_version(&s.io), tls_cipher(&s.io), dropped);
}

static void simple(const struct smtpd_cmd *c)
{
  switch (c->verb) {
  case SMTPD_RSET:
    if (c->len) { refuse("501 5.5.4 Syntax: RSET"); return; }
    tx_reset();
    reply("250 2.0.0 Ok");
    return;
  case SMTPD_NOOP: reply("250 2.0.0 Ok"); return;
  case SMTPD_VRFY:                    /* RFC 5321 3.5.3: say nothing about anyone */
    if (!c->len) { refuse("501 5.5.4 Syntax: VRFY address"); return; }
    reply("252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
    return;
  case SMTPD_EXPN: refuse("502 5.5.1 Error: EXPN not available"); return;
  case SMTPD_HELP:
    reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
    return;
  default: refuse("500 5.5.2 Error: command not recognized"); return;
  }
}

static const char *const verb_name[] = {
  "UNKNOWN", "HELO", "EHLO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT",
  "VRFY", "EXPN", "HELP", "STARTTLS", "AUTH", "FORBIDDEN",
};

/* Before the greeting: tell the client to come back, log why, stop. */
static _Noreturn void unavailable(const char *what, const char *arg)
{
  if (s.has_client) {
    reply("421 4.3.0 Service temporarily unavailable, try again later");
    tls_flush(&s.io);
  }
  die(EXIT_TEMP, what, arg);
}

static unsigned long long knob(const char *name, unsigned long long def,
                               unsigned long long min, unsigned long long max)
{
  const char *v = getenv(name);
  char *end;
  unsigned long long u;
  if (!v || !*v) return def;
  errno = 0;
  u = strtoull(v, &end, 10);
  if (*v < '0' || *v > '9' || errno || *end || u < min || u > max) unavailable("bad value of ", name);
  return u;
}

/* The session on s.io, after the connection's checks: greeting, commands.
   Ends in bye(). */
static _Noreturn void session(void)
{
  relay_init(&s.rl, s.acc, cf.host, cf.mode == MODE_MX);
  if (relay_client(&s.rl, cf.ip)) event("client ip=%s tenant=%s comp=%s", cf.ip, s.rl.tenant, s.rl.comp);
  s.can_tls = access(cf.cert, R_OK) == 0 && access(cf.key, R_OK) == 0;

  out("220 ");
  out(cf.host);
  reply(" ESMTP");
  for (;;) {
    struct smtpd_cmd c;
    int r = tls_getline(&s.io, &line, SMTPD_AUTH_LINE_MAX);
    s.verb = "?";
    if (r == -1 && errno == E2BIG) { refuse("500 5.5.2 Line too long"); continue; }
    if (r == -1) read_fail();
    if (r == 0) bye("eof");
    if (smtpd_cmd_parse(&c, line.s, line.len) == -1) { refuse("500 5.5.2 Error: bad syntax"); continue; }
    s.verb = verb_name[c.verb];
    if (line.len > smtpd_line_max(c.verb)) { refuse("500 5.5.2 Line too long"); continue; }
    switch (c.verb) {
    case SMTPD_HELO: do_helo(&c, 0); break;
    case SMTPD_EHLO: do_helo(&c, 1); break;
    case SMTPD_MAIL: do_mail(&c); break;
    case SMTPD_RCPT: do_rcpt(&c); break;
    case SMTPD_DATA: do_data(&c); break;
    case SMTPD_STARTTLS: do_starttls(&c); break;
    case SMTPD_AUTH: do_auth(&c); break;
    case SMTPD_QUIT:
      reply("221 2.0.0 Bye");
      bye("quit");
    case SMTPD_FORBIDDEN:
      refuse_("421 4.7.0 Not an SMTP command, closing connection", 0);
      bye("forbidden");
    default: simple(&c); break;
    }
  }
}

/* -l: the access snapshot, loaded again only when the file changed (a
   new file from tenant_export_access, or a touched one). */
static void access_fresh(void)
{
  struct stat st;
  if (stat(cf.access, &st) == -1) {
    if (errno != ENOENT) unavailable("unable to stat ", cf.access);
    memset(&st, 0, sizeof st);        /* missing: empty, until it appears */
  }
  if (s.acc && access_unchanged(&cf.access_st, &st)) return;
  if (s.acc) access_free(s.acc);
  s.acc = 0;
  if (access_load(&s.acc, cf.access) == -1) unavailable("unable to load ", cf.access);
  cf.access_st = st;
}

/* -l: forget the session that ended; keep the buffers, the snapshot and
   nothing else (a password may have passed through the buffers). */
static void session_clear(void)
{
  struct access *acc = s.acc;
  struct buf helo = s.helo;
  injectc_abort(&tx.ic);
  tx_reset();
  wipe(&line);
  wipe(&scratch);
  wipe(&scratch2);
  buf_trunc(&helo, 0);
  memset(&s, 0, sizeof s);
  s.acc = acc;
  s.helo = helo;
}

/* -l: one connection, in a child of the listener. */
static void serve(int fd, void *arg)
{
  static char ip[64], lip[64], lport[8];
  (void)arg;
  if (setjmp(session_end)) {
    session_clear();
    return;
  }
  if (tls_init(&s.io, fd, fd, (int)cf.timeout) == -1) bye("setup");
  s.io.ctx = ctx_keep;
  s.io.is_server = ctx_keep != 0;
  s.has_client = 1;
  s.verb = "CONNECT";
  if (prefork_names(fd, ip, sizeof ip, lip, sizeof lip, lport, sizeof lport) == -1) bye("getpeername");
  cf.ip = ip;
  cf.rdns = 0;
  event("conn ip=%s local=%s:%s", ip, lip, lport);
  access_fresh();
  session();
}

/* -l, in the listener: every child is busy. */
static void too_busy(int fd, void *arg)
{
  static const char r[] = "421 4.7.0 Too many sessions, try later\r\n";
  char ip[64] = "", lip[64] = "", lport[8] = "";
  (void)arg;
  prefork_names(fd, ip, sizeof ip, lip, sizeof lip, lport, sizeof lport);
  if (write(fd, r, sizeof r - 1) == -1) { /* the client is gone: nothing to say */ }
  event("conn ip=%s local=%s:%s", ip, lip, lport);
  event("refused code=421 status=4.7.0 cmd=CONNECT ip=%s", ip);
  event("end reason=sessions msgs=0");
}

static void child_gone(pid_t pid, int st, void *arg)
{
  (void)arg;
  event("child pid=%ld status=%s%d", (long)pid, WIFSIGNALED(st) ? "signal" : "exit",
        WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

int main(int argc, char **argv)
{
  static char hostname[256];
  const char *home, *v, *t, *listen_on = 0;
  int opt;
  prog = "smtp-recv";
  cf.mode = MODE_RELAY;
  while ((opt = getopt(argc, argv, "l:m")) != -1) {
    switch (opt) {
    case 'l': listen_on = optarg; break;
    case 'm': cf.mode = MODE_MX; break;
    default: die(EXIT_PERM, USAGE, 0);
    }
  }
  if (optind != argc) die(EXIT_PERM, USAGE, 0);
  cf.is_listener = listen_on != 0;
  signal(SIGPIPE, SIG_IGN);
  if (!cf.is_listener) {
    if (tls_init(&s.io, 0, 1, 300) == -1) die_sys(EXIT_TEMP, "unable to set up fds 0 and 1", 0);
    s.has_client = 1;
  }
  s.verb = "CONNECT";
  cf.ip = (v = getenv("TCPREMOTEIP")) ? v : "";
  cf.rdns = getenv("TCPREMOTEHOST");
  home = (v = getenv("CMC_HOME")) && *v ? v : HOME_DEFAULT;
  if (!(cf.host = getenv("CMC_HOSTNAME")) || !*cf.host) {
    if (gethostname(hostname, sizeof hostname - 1) == -1) unavailable("unable to get the host name", 0);
    cf.host = hostname;
  }
  cf.maxsize = knob("CMC_SMTP_MAXSIZE", 26214400, 1, 1ULL << 40);
  tx.maxrcpt = (size_t)knob("CMC_SMTP_MAXRCPT", 1000, 1, ENVELOPE_MAXRCPT);
  cf.maxsessions = (unsigned long)knob("CMC_SMTP_MAXSESSIONS", 100, 1, 100000);
  cf.timeout = (unsigned long)knob("CMC_SMTP_TIMEOUT", 300, 1, 86400);
  s.io.timeout = (int)cf.timeout;
  v = getenv("CMC_RECEIVED");
  if (!v || !*v || strcmp(v, "abbreviated") == 0) cf.received = SMTPD_RCVD_SHORT;
  else if (strcmp(v, "normal") == 0) cf.received = SMTPD_RCVD_NORMAL;
  else if (strcmp(v, "none") == 0) cf.received = SMTPD_RCVD_NONE;
  else unavailable("bad value of CMC_RECEIVED: ", v);
  if (home_path(cf.cert, sizeof cf.cert, home, "etc/tls/cert.pem") == -1
      || home_path(cf.key, sizeof cf.key, home, "etc/tls/key.pem") == -1
      || home_path(cf.access, sizeof cf.access, home, "etc/access") == -1
      || home_path(cf.slots, sizeof cf.slots, home, cf.mode == MODE_MX ? "run/mx-slots" : "run/smtp-slots") == -1
      || home_path(cf.injsock, sizeof cf.injsock, home, "run/inject.sock") == -1
      || home_bin(cf.inject, sizeof cf.inject, getenv("CMC_BIN"), "queue-inject") == -1)
    unavailable("unable to make paths under ", home);
  v = getenv("CMC_INJECT");
  if (!v || !*v || strcmp(v, "auto") == 0) cf.injhow = INJECTC_AUTO;
  else if (strcmp(v, "socket") == 0) cf.injhow = INJECTC_SOCKET;
  else if (strcmp(v, "exec") == 0) cf.injhow = INJECTC_EXEC;
  else unavailable("bad value of CMC_INJECT: ", v);
  injectc_init(&tx.ic);

  if (cf.is_listener) {
    int r;
    if ((pf.lfd = prefork_listen(listen_on)) == -1) die_sys(EXIT_TEMP, "unable to listen on ", listen_on);
    /* The listener's children are the sessions: the slot files of the
       tcpserver mode are not used. */
    pf.max = cf.maxsessions;
    pf.max_use = CHILD_MAX_USE;
    pf.max_idle = CHILD_MAX_IDLE;
    pf.serve = serve;
    pf.busy = too_busy;
    pf.gone = child_gone;
    event("listen on=%s maxsessions=%lu", listen_on, cf.maxsessions);
    r = prefork_run(&pf);
    if (r == -1) die_sys(EXIT_TEMP, "unable to run the listener on ", listen_on);
    if (r == 0) event("stop on=%s", listen_on);
    return 0;
  }

  event("conn ip=%s local=%s:%s", cf.ip, (v = getenv("TCPLOCALIP")) ? v : "",
        (t = getenv("TCPLOCALPORT")) ? t : "");

  /* The slot lock is held until exit (and by nobody else: close-on-exec). */
  if (smtpd_slot_take(cf.slots, cf.maxsessions, (unsigned long)getpid()) == -1) {
    if (errno != EBUSY) unavailable("unable to take a session slot in ", cf.slots);
    refuse_("421 4.7.0 Too many sessions, try later", 0);
    bye("sessions");
  }
  if (access_load(&s.acc, cf.access) == -1) unavailable("unable to load ", cf.access);
  session();
}
