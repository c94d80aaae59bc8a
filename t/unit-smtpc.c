/* unit-smtpc: the pure parts of lib/smtpc.c -- reply lines, EHLO
   keywords, dot-stuffing -- and one dialogue over a socketpair. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "tap.h"
#include "smtpc.h"

static int stuff(const char *in, size_t n, size_t chunk, const char *want)
{
  struct buf out = BUF_ZERO;
  struct smtpc_dot d = SMTPC_DOT_INIT;
  size_t off = 0;
  int r;
  while (off < n) {
    size_t c = n - off < chunk ? n - off : chunk;
    if (smtpc_dotstuff(&out, &d, in + off, c) == -1) return 0;
    off += c;
  }
  if (smtpc_dotstuff_end(&out, &d) == -1) return 0;
  r = out.len == strlen(want) && memcmp(out.s, want, out.len) == 0;
  if (!r) printf("# got [%.*s]\n", (int)out.len, out.s);
  buf_free(&out);
  return r;
}

int main(void)
{
  int code, last, sv[2];
  unsigned long long size;
  unsigned ext;
  const char *ehlo;
  struct smtpc c;
  struct buf t = BUF_ZERO;
  plan(32);

  ok(smtpc_reply_line("250 ok", 6, &code, &last) == 0 && code == 250 && last, "250 ok: last line");
  ok(smtpc_reply_line("250-ok", 6, &code, &last) == 0 && code == 250 && !last, "250-ok: more follow");
  ok(smtpc_reply_line("354", 3, &code, &last) == 0 && code == 354 && last, "bare code is a last line");
  ok(smtpc_reply_line("25", 2, &code, &last) == -1, "two digits: malformed");
  ok(smtpc_reply_line("250x", 4, &code, &last) == -1, "no separator: malformed");
  ok(smtpc_reply_line("650 x", 5, &code, &last) == -1, "first digit above 5: malformed");
  ok(smtpc_reply_line("2a0 x", 5, &code, &last) == -1, "letter in code: malformed");

  ehlo = "250-mx.example.com hello\n250-PIPELINING\n250-SIZE 1000000\n250-8bitmime\n"
         "250-STARTTLS\n250-SMTPUTF8\n250 ENHANCEDSTATUSCODES\n";
  ext = smtpc_ehlo_parse(ehlo, strlen(ehlo), &size);
  ok(ext == (SMTPC_EXT_PIPELINING | SMTPC_EXT_SIZE | SMTPC_EXT_8BITMIME | SMTPC_EXT_STARTTLS
             | SMTPC_EXT_SMTPUTF8 | SMTPC_EXT_ENHANCED), "EHLO keywords, any case");
  ok(size == 1000000, "SIZE value");
  ehlo = "250-STARTTLS is in the greeting\n250-SIZE\n250-PIPELININGX\n250 AUTH PLAIN\n";
  ext = smtpc_ehlo_parse(ehlo, strlen(ehlo), &size);
  ok(ext == SMTPC_EXT_SIZE && size == 0, "greeting line ignored, SIZE without value, no prefix match");
  ehlo = "250-x\n250 SIZE=99999999999999999999999\n";
  smtpc_ehlo_parse(ehlo, strlen(ehlo), &size);
  ok(size == 0, "overflowing SIZE value is no limit");

  ok(stuff("a\r\nb\r\n", 6, 100, "a\r\nb\r\n.\r\n"), "plain text: unchanged, end added");
  ok(stuff(".\r\n..\r\n.x\r\nx.\r\n", 15, 100, "..\r\n...\r\n..x\r\nx.\r\n.\r\n"), "dots at line starts doubled");
  ok(stuff(".a\r\n.b", 6, 1, "..a\r\n..b\r\n.\r\n"), "byte by byte: same, and a last line ended");
  ok(stuff("a\nb\rc\r\n", 7, 100, "a\r\nb\r\nc\r\n.\r\n"), "bare LF and bare CR become CRLF");
  ok(stuff("a\r", 2, 1, "a\r\n.\r\n"), "CR at the very end");
  ok(stuff("a\r\n", 3, 2, "a\r\n.\r\n"), "CRLF split across chunks");
  ok(stuff("", 0, 1, ".\r\n"), "empty message: just the end");
  ok(stuff("x\r\n.", 4, 100, "x\r\n..\r\n.\r\n"), "a last line of one dot");
  {
    struct buf out = BUF_ZERO;
    struct smtpc_dot d = SMTPC_DOT_INIT;
    smtpc_dotstuff(&out, &d, "\xff\x00.\r\n", 5);
    ok(out.len == 5 && memcmp(out.s, "\xff\x00.\r\n", 5) == 0, "8-bit bytes and NUL unchanged");
    buf_free(&out);
  }

  /* A dialogue with a scripted peer over a socketpair. */
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) return 1;
  smtpc_init(&c, 1);
  c.fd = sv[0];
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  {
    const char *srv = "220 hi\r\n250-x\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                      "550-5.1.1 first\r\n550 5.1.1 second\r\n";
    if (write(sv[1], srv, strlen(srv)) < 0) return 1;
  }
  ok(smtpc_reply(&c) == 220, "greeting read");
  ok(smtpc_ehlo(&c, "me.test") == 250, "EHLO 250");
  ok(c.ext == (SMTPC_EXT_PIPELINING | SMTPC_EXT_8BITMIME), "extensions from the reply");
  {
    char got[64];
    ssize_t r = read(sv[1], got, sizeof got);
    ok(r == 14 && memcmp(got, "EHLO me.test\r\n", 14) == 0, "EHLO sent with CRLF");
  }
  ok(smtpc_reply(&c) == 550, "multi-line 550");
  smtpc_reply_text(&c, &t);
  ok(!strcmp(t.s, "550-5.1.1 first 550 5.1.1 second"), "reply text joined on one line");
  {
    const char *bad = "250-a\r\n251 b\r\n";
    if (write(sv[1], bad, strlen(bad)) < 0) return 1;
  }
  ok(smtpc_reply(&c) == -1 && errno == EPROTO, "code changing inside a reply: EPROTO");
  ok(smtpc_reply(&c) == -1 && errno == ETIMEDOUT, "no reply within the timeout: ETIMEDOUT");
  {
    char longl[SMTPC_LINE_MAX + 10];
    memset(longl, 'x', sizeof longl);
    memcpy(longl, "250 ", 4);
    longl[sizeof longl - 2] = '\r';
    longl[sizeof longl - 1] = '\n';
    if (write(sv[1], longl, sizeof longl) < 0) return 1;
  }
  ok(smtpc_reply(&c) == -1 && errno == EMSGSIZE, "overlong reply line: EMSGSIZE");
  ok(smtpc_data(&c, ".x\r\ny", 5) == 0, "data sent");
  {
    char got[64];
    ssize_t r = read(sv[1], got, sizeof got);
    ok(r == 11 && memcmp(got, "..x\r\ny\r\n.\r\n", 11) == 0, "data dot-stuffed and ended on the wire");
  }
  close(sv[1]);
  ok(smtpc_reply(&c) == -1 && errno == ECONNRESET, "peer gone: ECONNRESET");
  smtpc_close(&c);
  buf_free(&t);
  return done();
}
