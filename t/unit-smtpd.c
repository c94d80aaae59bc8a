/* unit-smtpd: the SMTP server's protocol pieces (lib/smtpd.c): command
   lines, MAIL/RCPT paths and parameters, the DATA stream (end of data only
   at CRLF.CRLF, whatever the chunking), SASL decoding, Received, slots. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "smtpd.h"
#include "tap.h"

static int cmd(const char *line, enum smtpd_verb v, const char *arg)
{
  struct smtpd_cmd c;
  if (smtpd_cmd_parse(&c, line, strlen(line)) == -1) return 0;
  return c.verb == v && c.len == strlen(arg) && memcmp(c.arg, arg, c.len) == 0;
}

static int path(const char *arg, int is_mail, int utf8_ok, int want, const char *addr)
{
  struct smtpd_path pa = SMTPD_PATH_ZERO;
  int r = smtpd_path_parse(&pa, arg, strlen(arg), is_mail, 1, utf8_ok);
  int good = r == want && (r != SMTPD_OK || strcmp(pa.addr.s, addr) == 0);
  if (!good) printf("# %s: got %d addr '%s'\n", arg, r, pa.addr.s ? pa.addr.s : "(null)");
  smtpd_path_free(&pa);
  return good;
}

/* Feed s in chunks of size k; 1 if the output is want, the end of data
   was found and exactly rest bytes remained after it. */
static int data(const char *s, size_t n, size_t k, const char *want, size_t wantn, size_t rest)
{
  struct smtpd_data d;
  struct buf out = BUF_ZERO;
  size_t i = 0;
  int good;
  smtpd_data_init(&d);
  while (i < n && !d.is_done) {
    size_t c = n - i < k ? n - i : k;
    size_t used = smtpd_data_feed(&d, s + i, c, &out);
    i += used;
    if (used < c && !d.is_done) break;
  }
  good = d.is_done && n - i == rest && out.len == wantn && memcmp(out.s, want, wantn) == 0
         && d.size == wantn;
  buf_free(&out);
  return good;
}

static int data_all(const char *s, size_t n, const char *want, size_t wantn, size_t rest)
{
  size_t k;
  for (k = 1; k <= n + 1; k++)
    if (!data(s, n, k, want, wantn, rest)) return printf("# chunk %zu\n", k), 0;
  return 1;
}
#define D(s, w, rest) data_all(s, sizeof s - 1, w, sizeof w - 1, rest)

static int not_done(const char *s, size_t n)
{
  struct smtpd_data d;
  smtpd_data_init(&d);
  return smtpd_data_feed(&d, s, n, 0) == n && !d.is_done;
}
#define ND(s) not_done(s, sizeof s - 1)

int main(void)
{
  struct buf b = BUF_ZERO;
  struct smtpd_data d;
  const char *u, *p;
  char tmpl[] = "/tmp/unit-smtpd.XXXXXX", *dir;
  int fd1, fd2, fd3;
  char big[1200];

  plan(67);
  /* command lines */
  ok(cmd("EHLO client.test\r\n", SMTPD_EHLO, "client.test"), "EHLO with argument");
  ok(cmd("ehlo  client.test  \r\n", SMTPD_EHLO, "client.test"), "verb case, spaces trimmed");
  ok(cmd("QUIT\n", SMTPD_QUIT, ""), "bare LF ends a command too");
  ok(cmd("MAIL FROM:<a@b>", SMTPD_MAIL, "FROM:<a@b>"), "MAIL argument");
  ok(cmd("StartTLS\r\n", SMTPD_STARTTLS, ""), "STARTTLS");
  ok(cmd("BDAT 10\r\n", SMTPD_UNKNOWN, "10"), "BDAT is not offered");
  ok(cmd("GET / HTTP/1.0\r\n", SMTPD_FORBIDDEN, "/ HTTP/1.0"), "HTTP request is forbidden");
  ok(cmd("Host: x\r\n", SMTPD_FORBIDDEN, "x"), "HTTP header line is forbidden");
  ok(cmd("MAILFROM:<a@b>\r\n", SMTPD_UNKNOWN, ""), "verb glued to its argument is unknown");
  {
    struct smtpd_cmd c;
    ok(smtpd_cmd_parse(&c, "NOOP\0x\r\n", 8) == -1, "NUL in a command refused");
    ok(smtpd_cmd_parse(&c, "NOOP a\rb\r\n", 10) == -1, "bare CR in a command refused");
  }
  ok(smtpd_line_max(SMTPD_RCPT) == 1000 && smtpd_line_max(SMTPD_NOOP) == 512
     && smtpd_line_max(SMTPD_AUTH) == 12288, "line limits per verb");

  /* paths */
  ok(path("FROM:<a@b.test>", 1, 0, SMTPD_OK, "a@b.test"), "MAIL plain");
  ok(path("from: <a@b.test>", 1, 0, SMTPD_OK, "a@b.test"), "MAIL lenient space and case");
  ok(path("FROM:<>", 1, 0, SMTPD_OK, ""), "MAIL null sender");
  ok(path("TO:<>", 0, 0, SMTPD_EADDR, ""), "RCPT null refused");
  ok(path("FROM:a@b.test", 1, 0, SMTPD_OK, "a@b.test"), "MAIL without brackets");
  ok(path("TO:<@r1,@r2:x@y.test>", 0, 0, SMTPD_OK, "x@y.test"), "source route ignored");
  ok(path("TO:<\"a>b\"@y.test>", 0, 0, SMTPD_OK, "\"a>b\"@y.test"), "quoted > inside brackets");
  ok(path("TO:<irregular..pattern@y.test>", 0, 0, SMTPD_OK, "\"irregular..pattern\"@y.test"),
     "irregular local part quoted");
  ok(path("TO:<a@b.test", 0, 0, SMTPD_ESYNTAX, ""), "unclosed bracket");
  ok(path("FRM:<a@b.test>", 1, 0, SMTPD_ESYNTAX, ""), "FROM: missing");
  ok(path("FROM:<a@b.test>SIZE=1", 1, 0, SMTPD_ESYNTAX, ""), "parameter glued to path");
  ok(path("FROM:<a@b..test>", 1, 0, SMTPD_EADDR, "") && path("TO:<a@>", 0, 0, SMTPD_EADDR, ""),
     "malformed address");
  ok(path("FROM:<a@b.test> SIZE=1000 BODY=8BITMIME SMTPUTF8 AUTH=<>", 1, 0, SMTPD_OK, "a@b.test"),
     "all MAIL parameters");
  ok(path("FROM:<a@b.test> SIZE=99999999999999999999999", 1, 0, SMTPD_EVALUE, ""), "SIZE overflow");
  ok(path("FROM:<a@b.test> SIZE=12x", 1, 0, SMTPD_EVALUE, ""), "SIZE not a number");
  ok(path("FROM:<a@b.test> SIZE=1 SIZE=2", 1, 0, SMTPD_EVALUE, ""), "SIZE twice");
  ok(path("FROM:<a@b.test> BODY=BINARYMIME", 1, 0, SMTPD_EVALUE, ""), "BODY=BINARYMIME");
  ok(path("FROM:<a@b.test> SMTPUTF8=yes", 1, 0, SMTPD_EVALUE, ""), "SMTPUTF8 takes no value");
  ok(path("FROM:<a@b.test> RET=FULL", 1, 0, SMTPD_EPARAM, ""), "DSN not offered");
  ok(path("TO:<a@b.test> NOTIFY=NEVER", 0, 0, SMTPD_EPARAM, ""), "RCPT takes no parameter");
  ok(path("FROM:<j\xc3\xb6rg@b.test>", 1, 0, SMTPD_EUTF8, ""), "UTF-8 sender needs SMTPUTF8");
  ok(path("FROM:<j\xc3\xb6rg@b.test> SMTPUTF8", 1, 0, SMTPD_OK, "j\xc3\xb6rg@b.test"),
     "UTF-8 sender with SMTPUTF8");
  ok(path("TO:<j\xc3\xb6rg@b.test>", 0, 0, SMTPD_EUTF8, ""), "UTF-8 recipient needs SMTPUTF8");
  ok(path("TO:<j\xc3\xb6rg@b.test>", 0, 1, SMTPD_OK, "j\xc3\xb6rg@b.test"), "UTF-8 recipient allowed");
  {
    struct smtpd_path pa = SMTPD_PATH_ZERO;
    const char *a = "FROM:<a@b.test> SIZE=1000 BODY=8bitmime";
    ok(smtpd_path_parse(&pa, a, strlen(a), 1, 1, 0) == SMTPD_OK && pa.has_size && pa.size == 1000
       && pa.is_8bitmime && !pa.is_smtputf8, "parameters recorded");
    ok(smtpd_path_parse(&pa, a, strlen(a), 1, 0, 0) == SMTPD_EPARAM, "no parameters after HELO");
    smtpd_path_free(&pa);
  }
  ok(strncmp(smtpd_path_reply(SMTPD_EUTF8, 1), "553 5.6.7", 9) == 0, "SMTPUTF8 reply");

  /* DATA */
  ok(D("a\r\nb\r\n.\r\n", "a\r\nb\r\n", 0), "simple message");
  ok(D(".\r\n", "", 0), "empty message");
  ok(D("..x\r\n.\r\nQUIT\r\n", ".x\r\n", 6), "dot unstuffed; rest is the next command");
  ok(D("a\n.\nb\r.\rc\n.\r\nd\r\n.\r\n", "a\n.\nb\r.\rc\n.\r\nd\r\n", 0),
     "bare LF / CR never end the message (smuggling)");
  ok(D("a\r\n.\nb\r\n.\r\n", "a\r\n.\nb\r\n", 0), "CRLF . LF is text");
  ok(D("a\r\n.\rb\r\n.\r\n", "a\r\n.\rb\r\n", 0), "CRLF . CR is text");
  ok(D("a\n..\r\n.\r\n", "a\n..\r\n", 0), "dot after a bare LF is not unstuffed");
  ok(D("a\r\r\n.\r\n", "a\r\r\n", 0), "CR CR LF . CR LF ends");
  ok(ND("x\n.\n") && ND("x\r.\r") && ND("x\n.\r\n") && ND("x\r\n.\n") && ND("x\r.\r\n"),
     "no smuggling form ends the data");
  memset(big, 'x', sizeof big);
  smtpd_data_init(&d);
  smtpd_data_feed(&d, big, 998, 0);
  smtpd_data_feed(&d, "\r\n", 2, 0);
  ok(!d.is_long, "998-byte line is fine");
  smtpd_data_feed(&d, big, 999, 0);
  ok(d.is_long, "999-byte line is too long");
  smtpd_data_init(&d);
  smtpd_data_feed(&d, "..", 2, 0);
  smtpd_data_feed(&d, big, 997, 0);
  ok(!d.is_long && d.size == 998, "stuffed dot not counted");

  /* SASL */
  ok(smtpd_b64_decode(&b, "AHUxAHNlY3JldA==", 16) == 0 && b.len == 10
     && memcmp(b.s, "\0u1\0secret", 10) == 0, "base64 decode");
  ok(smtpd_plain_split(&b, &u, &p) == 0 && strcmp(u, "u1") == 0 && strcmp(p, "secret") == 0,
     "PLAIN split");
  ok(smtpd_b64_decode(&b, "dTEAdTEAc2VjcmV0", 16) == 0 && smtpd_plain_split(&b, &u, &p) == 0,
     "PLAIN authzid = user accepted");
  ok(smtpd_b64_decode(&b, "dTIAdTEAc2VjcmV0", 16) == 0 && smtpd_plain_split(&b, &u, &p) == -1,
     "PLAIN authzid of someone else refused");
  ok(smtpd_b64_decode(&b, "=", 1) == 0 && b.len == 0, "= is empty");
  ok(smtpd_b64_decode(&b, "abc", 3) == -1 && smtpd_b64_decode(&b, "ab=c", 4) == -1
     && smtpd_b64_decode(&b, "a b=", 4) == -1 && smtpd_b64_decode(&b, "a===", 4) == -1,
     "bad base64 refused");
  ok(smtpd_b64_decode(&b, "AHUx", 4) == 0 && smtpd_plain_split(&b, &u, &p) == -1, "PLAIN without password");
  ok(smtpd_user_ok("u1", 2) && !smtpd_user_ok("u 1", 3) && !smtpd_user_ok("", 0), "user names");
  ok(smtpd_helo_ok("[127.0.0.1]", 11) && !smtpd_helo_ok("a b", 3) && !smtpd_helo_ok("", 0)
     && !smtpd_helo_ok("\xc3\xa9", 2), "HELO names");

  /* Received */
  ok(strcmp(smtpd_proto(0, 0, 0, 0), "SMTP") == 0 && strcmp(smtpd_proto(1, 1, 1, 0), "ESMTPSA") == 0
     && strcmp(smtpd_proto(1, 1, 0, 1), "UTF8SMTPS") == 0, "protocol names");
  buf_trunc(&b, 0);
  ok(smtpd_received(&b, SMTPD_RCVD_SHORT, "h.test", 0, "1.2.3.4", "mx.test", "ESMTP", 0) == 0
     && strncmp(b.s, "Received: from h.test by mx.test; Thu, 01 Jan 1970 ", 51) == 0
     && b.s[b.len - 2] == '\r' && b.s[b.len - 1] == '\n', "abbreviated Received");
  buf_trunc(&b, 0);
  ok(smtpd_received(&b, SMTPD_RCVD_NORMAL, "h.test", "", "::1", "mx.test", "ESMTPS", 0) == 0
     && strncmp(b.s, "Received: from h.test (::1 [IPv6:::1])\r\n\tby mx.test with ESMTPS;\r\n\t", 67) == 0,
     "normal Received");
  buf_trunc(&b, 0);
  ok(smtpd_received(&b, SMTPD_RCVD_NONE, "h", 0, "1.2.3.4", "mx", "SMTP", 0) == 0 && b.len == 0,
     "no Received");

  /* slots */
  dir = mkdtemp(tmpl);
  ok(dir != 0, "temporary directory");
  {
    char sub[64];
    snprintf(sub, sizeof sub, "%s/slots", dir);
    fd1 = smtpd_slot_take(sub, 2, 7);
    fd2 = smtpd_slot_take(sub, 2, 7);
    fd3 = smtpd_slot_take(sub, 2, 7);
    ok(fd1 >= 0 && fd2 >= 0 && fd3 == -1 && errno == EBUSY, "two slots, third refused");
    close(fd1);
    fd3 = smtpd_slot_take(sub, 2, 0);
    ok(fd3 >= 0, "a freed slot is taken again");
    close(fd2);
    close(fd3);
    snprintf(sub, sizeof sub, "%s/slots/0", dir);
    unlink(sub);
    snprintf(sub, sizeof sub, "%s/slots/1", dir);
    unlink(sub);
    snprintf(sub, sizeof sub, "%s/slots", dir);
    rmdir(sub);
    rmdir(dir);
  }
  buf_free(&b);
  return done();
}
