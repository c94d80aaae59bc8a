/* mail-sink: an SMTP server for one connection on fd 0/1 (run it under
   tcpserver), the demo destination and the receiving server of the tests
   (doc/programs/mail-sink.md).  Accepted messages go maildir-style to
   DIR/tmp -> DIR/new (bytes as received, dot-stuffing removed), their
   envelope to DIR/env/NAME; DIR/log gets one line per connection and per
   message.  Replies depend on the recipient's local part (rules, -r).
   Environment: TCPREMOTEIP.  Exit 0 after QUIT or EOF, 100 usage, 111 trouble. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "buf.h"
#include "die.h"
#include "io.h"

#define USAGE "usage: mail-sink -d dir [-s size] [-l linemax] [-U] [-c cert -k key] " \
              "[-h name] [-g 'CODE TEXT'] [-r 'PREFIX=REPLY']..."
#define CMD_LINE_MAX 1000           /* a command line, CRLF included */
#define DATA_LINE_DEFAULT 1000      /* -l: a message line, CRLF included */
#define SIZE_DEFAULT 26214400ULL    /* -s: message bytes */
#define RCPT_MAX 1000               /* recipients per message */
#define RULES_MAX 64
#define ERRORS_MAX 20               /* bad commands before we hang up */
#define IDLE_TIMEOUT 120            /* seconds without input */
#define SLOW_SECONDS 2

/* What a recipient's local part makes us do. */
enum act { ACT_RCPT, ACT_DATA, ACT_DROP, ACT_SLOW };
struct rule { const char *prefix; enum act act; const char *reply; };
static struct rule rules[RULES_MAX + 8];
static size_t nrules;
static const struct rule builtin[] = {
  { "defer", ACT_RCPT, "451 4.2.0 mailbox busy, try again later" },
  { "reject", ACT_RCPT, "550 5.1.1 user unknown" },
  { "unknown", ACT_RCPT, "550 5.1.1 user unknown" },
  { "full", ACT_RCPT, "552 5.2.2 mailbox full" },
  { "drop", ACT_DROP, 0 },
  { "datadefer", ACT_DATA, "451 4.3.0 try again later" },
  { "datareject", ACT_DATA, "554 5.6.0 message refused" },
  { "slow", ACT_SLOW, 0 },
};

static SSL_CTX *ctx;
static SSL *ssl;
static char ibuf[16384], obuf[16384];
static size_t ipos, ilen, olen;
static char *line;                  /* one input line, up to linemax bytes */
static size_t linemax = DATA_LINE_DEFAULT;

static const char *dir, *remoteip, *hostname;
static int logfd = -1, no_utf8;

static void flush(void)
{
  size_t off = 0;
  while (off < olen) {
    ssize_t w;
    if (ssl) {
      int r = SSL_write(ssl, obuf + off, (int)(olen - off));
      if (r <= 0) die(EXIT_TEMP, "unable to write to the TLS client", 0);
      w = r;
    } else {
      w = write(1, obuf + off, olen - off);
      if (w == -1 && errno == EINTR) continue;
      if (w == -1) die_sys(EXIT_TEMP, "unable to write to the client", 0);
    }
    off += (size_t)w;
  }
  olen = 0;
}

static void out(const char *s)
{
  size_t n = strlen(s);
  while (n) {
    size_t k = sizeof obuf - olen;
    if (k == 0) { flush(); continue; }
    if (k > n) k = n;
    memcpy(obuf + olen, s, k);
    olen += k;
    s += k;
    n -= k;
  }
}
static void reply(const char *s) { out(s); out("\r\n"); }

/* Refill ibuf; 0 at EOF.  Replies are flushed first: pipelined commands
   already buffered are answered in one write. */
static int fill(void)
{
  ssize_t r;
  flush();
  alarm(IDLE_TIMEOUT);
  if (ssl) {
    int k = SSL_read(ssl, ibuf, sizeof ibuf);
    if (k <= 0) return 0;
    r = k;
  } else {
    r = read_retry(0, ibuf, sizeof ibuf);
    if (r == -1) die_sys(EXIT_TEMP, "unable to read from the client", 0);
    if (r == 0) return 0;
  }
  ipos = 0;
  ilen = (size_t)r;
  return 1;
}

/* One line into line[], LF included.  1 got one (*len; *too_long: it had
   more than max bytes, the rest was skipped; *is_crlf: it ended in CRLF,
   known even when cut), 0 EOF. */
static int get_line(size_t max, size_t *len, int *too_long, int *is_crlf)
{
  char prev = 0;
  *len = 0;
  *too_long = 0;
  for (;;) {
    const char *lf;
    size_t n;
    if (ipos == ilen && !fill()) return 0;
    lf = memchr(ibuf + ipos, '\n', ilen - ipos);
    n = lf ? (size_t)(lf + 1 - (ibuf + ipos)) : ilen - ipos;
    if (!*too_long) {
      if (*len + n > max) *too_long = 1;
      else {
        memcpy(line + *len, ibuf + ipos, n);
        *len += n;
      }
    }
    if (lf) {
      *is_crlf = (lf > ibuf + ipos ? lf[-1] : prev) == '\r';
      ipos += n;
      return 1;
    }
    prev = ibuf[ilen - 1];
    ipos += n;
  }
}

static void log_line(const char *s)
{
  if (write_all(logfd, s, strlen(s)) == -1) warn_sys("unable to write ", "log");
}

/* The rule for a recipient: user rules first, then the built-in ones. */
static const struct rule *rule_for(const char *addr)
{
  const char *at = strrchr(addr, '@');
  size_t n = at ? (size_t)(at - addr) : strlen(addr), i;
  if (n && addr[0] == '"') { addr++; n--; }
  for (i = 0; i < nrules; i++) {
    size_t k = strlen(rules[i].prefix);
    if (k <= n && strncasecmp(addr, rules[i].prefix, k) == 0) return &rules[i];
  }
  return 0;
}

static int reply_ok(const char *s)
{
  return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9'
         && s[2] >= '0' && s[2] <= '9' && (s[3] == ' ' || s[3] == 0)
         && !strpbrk(s, "\r\n");
}

/* -r 'PREFIX=CODE TEXT' | 'PREFIX=data CODE TEXT' | 'PREFIX=drop' | 'PREFIX=slow' */
static void rule_add(char *arg)
{
  char *eq = strchr(arg, '=');
  struct rule *r;
  if (!eq || nrules == RULES_MAX) die(EXIT_PERM, "bad or too many rules: ", arg);
  *eq++ = 0;
  r = &rules[nrules++];
  r->prefix = arg;
  if (!strcmp(eq, "drop")) r->act = ACT_DROP;
  else if (!strcmp(eq, "slow")) r->act = ACT_SLOW;
  else if (!strncmp(eq, "data ", 5) && reply_ok(eq + 5)) { r->act = ACT_DATA; r->reply = eq + 5; }
  else if (reply_ok(eq)) { r->act = ACT_RCPT; r->reply = eq; }
  else die(EXIT_PERM, "bad rule reply: ", eq);
}

/* "<path> params": path (quotes respected) into *path, params after it.
   0 ok, -1 syntax error.  s is modified. */
static int parse_path(char *s, char **path, char **params)
{
  char *p;
  int quoted = 0;
  while (*s == ' ') s++;
  if (*s != '<') return -1;
  for (p = ++s; *p; p++) {
    if (quoted && *p == '\\' && p[1]) { p++; continue; }
    if (*p == '"') quoted = !quoted;
    else if (*p == '>' && !quoted) break;
  }
  if (*p != '>') return -1;
  *p++ = 0;
  if (*p && *p != ' ') return -1;
  while (*p == ' ') p++;
  *path = s;
  *params = p;
  return 0;
}

static int is_utf8(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80) return 1;
  return 0;
}

/* The transaction in progress. */
static int has_helo, has_mail, is_smtputf8, nrcpt;
static unsigned long long maxsize = SIZE_DEFAULT;
static struct buf env = BUF_ZERO, helo = BUF_ZERO;
static const struct rule *datarule;
static int is_slow;
static unsigned msgcount;

static void tx_reset(void)
{
  has_mail = is_smtputf8 = nrcpt = 0;
  datarule = 0;
  is_slow = 0;
  env.len = 0;
}

static void envline(const char *a, const char *b, const char *c)
{
  if (buf_adds(&env, a) == -1 || buf_adds(&env, b) == -1 || buf_adds(&env, c) == -1)
    die_sys(EXIT_TEMP, "unable to allocate memory", 0);
}

/* Write the file atomically: DIR/sub/.name.tmp, fsync, rename.  0 or -1. */
static int put_file(const char *sub, const char *name, const char *p, size_t n)
{
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name) >= (int)sizeof path)
    return errno = ENAMETOOLONG, -1;
  return file_write_atomic(path, p, n, 0644);
}

static int fsync_dir_sub(const char *sub)
{
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", dir, sub) >= (int)sizeof path)
    return errno = ENAMETOOLONG, -1;
  return fsync_dir(path);
}

/* Buffered writing of the message file. */
static char wbuf[65536];
static size_t wlen;
static int wfd = -1, werr;
static void wput(const char *p, size_t n)
{
  if (werr) return;
  if (wlen + n > sizeof wbuf) {
    if (write_all(wfd, wbuf, wlen) == -1) { werr = errno; return; }
    wlen = 0;
  }
  if (n > sizeof wbuf) {
    if (write_all(wfd, p, n) == -1) werr = errno;
    return;
  }
  memcpy(wbuf + wlen, p, n);
  wlen += n;
}

static void data(void)
{
  char name[128], tmp[4200], dst[4200], logmsg[256];
  unsigned long long size = 0;
  struct timeval tv;
  size_t len;
  int too_long, is_long = 0, after_crlf = 1, is_crlf, stuffed;
  const char *err = 0;

  gettimeofday(&tv, 0);
  snprintf(name, sizeof name, "%lld.M%06ldP%ldQ%u", (long long)tv.tv_sec, (long)tv.tv_usec,
           (long)getpid(), ++msgcount);
  snprintf(tmp, sizeof tmp, "%s/tmp/%s", dir, name);
  snprintf(dst, sizeof dst, "%s/new/%s", dir, name);
  wfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  werr = wfd == -1 ? errno : 0;
  wlen = 0;
  reply("354 go ahead, end with <CRLF>.<CRLF>");
  for (;;) {
    if (!get_line(linemax, &len, &too_long, &is_crlf)) {
      if (wfd != -1) { close(wfd); unlink(tmp); }
      exit(0);                                  /* the client went away */
    }
    if (too_long) { is_long = 1; after_crlf = is_crlf; continue; }
    /* Only CRLF "." CRLF ends the data: a bare LF never does (no smuggling). */
    if (after_crlf && len == 3 && !memcmp(line, ".\r\n", 3)) break;
    stuffed = after_crlf && line[0] == '.';
    after_crlf = is_crlf;
    len -= (size_t)stuffed;
    size += len;
    if (size > maxsize || is_long) continue;
    wput(line + stuffed, len);
  }
  if (!werr && wlen && write_all(wfd, wbuf, wlen) == -1) werr = errno;
  if (!werr && fsync(wfd) == -1) werr = errno;
  if (wfd != -1 && close(wfd) == -1 && !werr) werr = errno;

  if (is_long) err = "500 5.5.2 line too long";
  else if (size > maxsize) err = "552 5.3.4 message too big";
  else if (werr) { errno = werr; warn_sys("unable to write ", tmp); err = "451 4.3.0 local error"; }
  else if (datarule) err = datarule->reply;
  if (is_slow) {
    flush();
    sleep(SLOW_SECONDS);
  }
  if (err) {
    unlink(tmp);
    reply(err);
    tx_reset();
    return;
  }
  envline("helo ", helo.len ? helo.s : "", "\n");
  envline("tls ", ssl ? "yes" : "no", "\n");
  envline("ip ", remoteip, "\n");
  /* The envelope is in env/ before the message shows in new/, so whoever
     sees new/NAME finds env/NAME too. */
  if (put_file("env", name, env.s, env.len) == -1
      || rename(tmp, dst) == -1 || fsync_dir_sub("new") == -1) {
    warn_sys("unable to store ", name);
    unlink(tmp);
    reply("451 4.3.0 local error");
    tx_reset();
    return;
  }
  snprintf(logmsg, sizeof logmsg, "msg name=%s rcpts=%d\n", name, nrcpt);
  log_line(logmsg);
  out("250 2.0.0 ok ");
  reply(name);
  tx_reset();
}

static void mail(char *arg)
{
  char *path, *params, *p;
  if (!has_helo) { reply("503 5.5.1 send EHLO or HELO first"); return; }
  if (has_mail) { reply("503 5.5.1 nested MAIL command"); return; }
  if (parse_path(arg, &path, &params) == -1) { reply("501 5.5.4 syntax: MAIL FROM:<address>"); return; }
  is_smtputf8 = 0;
  for (p = params; *p;) {
    char *word = p, *end = strchr(p, ' ');
    if (end) { *end = 0; p = end + 1; while (*p == ' ') p++; }
    else p += strlen(p);
    if (!strncasecmp(word, "SIZE=", 5)) {
      char *e;
      unsigned long long n;
      errno = 0;
      n = strtoull(word + 5, &e, 10);
      if (errno || *e || !word[5] || word[5] == '-') { reply("501 5.5.4 bad SIZE"); return; }
      if (n > maxsize) { reply("552 5.3.4 message too big"); return; }
    } else if (!strcasecmp(word, "BODY=7BIT") || !strcasecmp(word, "BODY=8BITMIME")) {
    } else if (!strcasecmp(word, "SMTPUTF8") && !no_utf8) {
      is_smtputf8 = 1;
    } else { reply("555 5.5.4 unsupported parameter"); return; }
  }
  if (is_utf8(path) && !is_smtputf8) { reply("553 5.6.7 address needs SMTPUTF8"); return; }
  has_mail = 1;
  env.len = 0;
  envline("MAIL FROM:<", path, ">\n");
  reply("250 2.1.0 sender ok");
}

static void rcpt(char *arg)
{
  char *path, *params;
  const struct rule *r;
  if (!has_mail) { reply("503 5.5.1 need MAIL first"); return; }
  if (parse_path(arg, &path, &params) == -1 || !*path) { reply("501 5.5.4 syntax: RCPT TO:<address>"); return; }
  if (*params) { reply("555 5.5.4 unsupported parameter"); return; }
  if (is_utf8(path) && !is_smtputf8) { reply("553 5.6.7 address needs SMTPUTF8"); return; }
  if (nrcpt == RCPT_MAX) { reply("452 4.5.3 too many recipients"); return; }
  r = rule_for(path);
  if (r && r->act == ACT_DROP) { flush(); exit(0); }   /* hang up, no answer */
  if (r && r->act == ACT_RCPT && r->reply[0] != '2') { reply(r->reply); return; }
  if (r && r->act == ACT_DATA && !datarule) datarule = r;
  if (r && r->act == ACT_SLOW) is_slow = 1;
  nrcpt++;
  envline("RCPT TO:<", path, ">\n");
  reply(r && r->act == ACT_RCPT ? r->reply : "250 2.1.5 recipient ok");
}

static void ehlo(const char *name, int is_extended)
{
  char size[64];
  tx_reset();
  if (!*name) { reply("501 5.5.4 give your name"); return; }
  if (buf_set(&helo, name, strlen(name)) == -1) die_sys(EXIT_TEMP, "unable to allocate memory", 0);
  has_helo = 1;
  if (!is_extended) { out("250 "); reply(hostname); return; }
  out("250-");
  out(hostname);
  out(" hello [");
  out(remoteip);
  reply("]");
  reply("250-PIPELINING");
  reply("250-8BITMIME");
  if (!no_utf8) reply("250-SMTPUTF8");
  snprintf(size, sizeof size, "250-SIZE %llu", maxsize);
  reply(size);
  if (ctx && !ssl) reply("250-STARTTLS");
  reply("250 ENHANCEDSTATUSCODES");
}

static void starttls(const char *arg)
{
  if (!ctx || ssl) { reply("502 5.5.1 STARTTLS not offered"); return; }
  if (*arg) { reply("501 5.5.4 no parameters allowed"); return; }
  reply("220 2.0.0 ready to start TLS");
  flush();
  /* Whatever the client pipelined after STARTTLS was sent in clear:
     forget it, or it would be taken as sent under TLS. */
  ipos = ilen = 0;
  if (!(ssl = SSL_new(ctx)) || !SSL_set_rfd(ssl, 0) || !SSL_set_wfd(ssl, 1))
    die(EXIT_TEMP, "unable to set up TLS", 0);
  alarm(IDLE_TIMEOUT);
  if (SSL_accept(ssl) != 1) {
    ERR_print_errors_fp(stderr);
    die(EXIT_TEMP, "TLS handshake failed", 0);
  }
  has_helo = 0;                  /* RFC 3207: start over from EHLO */
  tx_reset();
}

static int verb(const char *s, const char *v, const char **arg)
{
  size_t n = strlen(v);
  if (strncasecmp(s, v, n)) return 0;
  if (s[n] != 0 && s[n] != ' ') return 0;
  *arg = s + n;
  while (**arg == ' ') (*arg)++;
  return 1;
}

int main(int argc, char **argv)
{
  const char *greeting = 0, *cert = 0, *key = 0, *arg, *sub[] = { "tmp", "new", "env" };
  char path[4096], hostbuf[256], logmsg[512];
  size_t len, i;
  int opt, too_long, is_crlf, errors = 0, is_refused;

  prog = "mail-sink";
  signal(SIGPIPE, SIG_IGN);
  while ((opt = getopt(argc, argv, "d:s:l:Uc:k:h:g:r:")) != -1) {
    char *e;
    switch (opt) {
    case 'd': dir = optarg; break;
    case 's':
      errno = 0;
      maxsize = strtoull(optarg, &e, 10);
      if (errno || *e || optarg[0] == '-' || !optarg[0]) die(EXIT_PERM, "bad size: ", optarg);
      break;
    case 'l': {
      unsigned long n;
      errno = 0;
      n = strtoul(optarg, &e, 10);
      if (errno || *e || n < CMD_LINE_MAX || n > 1048576) die(EXIT_PERM, "bad line limit: ", optarg);
      linemax = n;
      break;
    }
    case 'U': no_utf8 = 1; break;
    case 'c': cert = optarg; break;
    case 'k': key = optarg; break;
    case 'h': hostname = optarg; break;
    case 'g':
      if (!reply_ok(optarg)) die(EXIT_PERM, "bad greeting: ", optarg);
      greeting = optarg;
      break;
    case 'r': rule_add(optarg); break;
    default: die(EXIT_PERM, USAGE, 0);
    }
  }
  if (!dir || optind != argc || (!cert != !key)) die(EXIT_PERM, USAGE, 0);
  for (i = 0; i < sizeof builtin / sizeof builtin[0]; i++) rules[nrules++] = builtin[i];
  if (!hostname) {
    if (gethostname(hostbuf, sizeof hostbuf) == -1) die_sys(EXIT_TEMP, "unable to get host name", 0);
    hostbuf[sizeof hostbuf - 1] = 0;
    hostname = hostbuf;
  }
  remoteip = getenv("TCPREMOTEIP");
  if (!remoteip || !*remoteip || strpbrk(remoteip, " \r\n")) remoteip = "unknown";
  if (!(line = malloc(linemax + 1))) die_sys(EXIT_TEMP, "unable to allocate memory", 0);

  for (i = 0; i < sizeof sub / sizeof sub[0]; i++) {
    if (snprintf(path, sizeof path, "%s/%s", dir, sub[i]) >= (int)sizeof path)
      die(EXIT_PERM, "directory name too long: ", dir);
    if (mkdir_p(path, 0755) == -1) die_sys(EXIT_TEMP, "unable to create ", path);
  }
  if (snprintf(path, sizeof path, "%s/log", dir) >= (int)sizeof path)
    die(EXIT_PERM, "directory name too long: ", dir);
  logfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (logfd == -1) die_sys(EXIT_TEMP, "unable to open ", path);

  if (cert) {
    if (!(ctx = SSL_CTX_new(TLS_server_method()))
        || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
      ERR_print_errors_fp(stderr);
      die(EXIT_TEMP, "unable to load TLS certificate and key: ", cert);
    }
  }

  snprintf(logmsg, sizeof logmsg, "conn ip=%s time=%lld\n", remoteip, (long long)time(0));
  log_line(logmsg);

  if (greeting) reply(greeting);
  else { out("220 "); out(hostname); reply(" ESMTP mail-sink"); }
  if (greeting && greeting[0] == '4') { flush(); return 0; }
  /* RFC 5321 3.1: after a 554 greeting, wait for QUIT and refuse the rest. */
  is_refused = greeting && greeting[0] != '2';

  while (get_line(CMD_LINE_MAX, &len, &too_long, &is_crlf)) {
    if (too_long) {
      reply("500 5.5.2 line too long");
      if (++errors >= ERRORS_MAX) break;
      continue;
    }
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    line[len] = 0;
    if (memchr(line, 0, len)) { reply("500 5.5.2 NUL in command"); continue; }
    if (verb(line, "QUIT", &arg)) { reply("221 2.0.0 bye"); flush(); return 0; }
    if (is_refused) reply("503 5.5.1 no service here");
    else if (verb(line, "EHLO", &arg)) ehlo(arg, 1);
    else if (verb(line, "HELO", &arg)) ehlo(arg, 0);
    else if (!strncasecmp(line, "MAIL FROM:", 10)) mail(line + 10);
    else if (!strncasecmp(line, "RCPT TO:", 8)) rcpt(line + 8);
    else if (verb(line, "DATA", &arg)) {
      if (*arg) reply("501 5.5.4 no parameters allowed");
      else if (!has_mail) reply("503 5.5.1 need MAIL first");
      else if (!nrcpt) reply("554 5.5.1 no valid recipients");
      else data();
    } else if (verb(line, "RSET", &arg)) { tx_reset(); reply("250 2.0.0 ok"); }
    else if (verb(line, "NOOP", &arg)) reply("250 2.0.0 ok");
    else if (verb(line, "STARTTLS", &arg)) starttls(arg);
    else if (verb(line, "VRFY", &arg) || verb(line, "EXPN", &arg) || verb(line, "HELP", &arg))
      reply("502 5.5.1 not implemented");
    else {
      reply("500 5.5.1 unknown command");
      if (++errors >= ERRORS_MAX) break;
    }
  }
  if (errors >= ERRORS_MAX) { reply("421 4.7.0 too many errors"); flush(); }
  return 0;
}
