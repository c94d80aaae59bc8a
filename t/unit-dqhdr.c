/* unit-dqhdr: header fields for delivery events (lib/dqhdr.c): field
   lookup and unfolding, From addresses, RFC 2047 decoding with iconv,
   cleaning of control bytes and invalid UTF-8. */
#include <string.h>
#include "tap.h"
#include "dqhdr.h"

static int dec(const char *in, const char *want)
{
  struct buf o = BUF_ZERO;
  int r;
  if (dqhdr_decode(in, strlen(in), &o) == -1) return 0;
  r = o.s && !strcmp(o.s, want);
  if (!r) printf("# got [%s] want [%s]\n", o.s ? o.s : "(null)", want);
  buf_free(&o);
  return r;
}

static int addr(const char *in, const char *want)
{
  struct buf o = BUF_ZERO;
  int r;
  if (dqhdr_addr(in, strlen(in), &o) == -1) return 0;
  buf_addc(&o, 0);
  r = !strcmp(o.s, want);
  if (!r) printf("# got [%s]\n", o.s);
  buf_free(&o);
  return r;
}

int main(void)
{
  const char *msg =
    "Received: x\r\nFROM: \"Name, Jr\" <a@example.com>\r\nSubject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=\r\n"
    " =?UTF-8?Q?_and_more?=\r\nMessage-ID:\r\n   <id@example.com>\r\nX-Api-Data: k=v\tw\r\n"
    "\r\nSubject: body, not header\r\n";
  struct dqhdr h = DQHDR_ZERO;
  struct buf v = BUF_ZERO;
  plan(22);

  ok(dqhdr_field(msg, strlen(msg), "subject", &v) == 1, "field found, name in any case");
  ok(!strcmp(v.s, "=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?= =?UTF-8?Q?_and_more?="), "unfolded, trimmed");
  buf_trunc(&v, 0);
  ok(dqhdr_field(msg, strlen(msg), "X-Missing", &v) == 0, "absent field: 0");
  ok(dqhdr_field("A: 1\r\n\r\nB: 2\r\n", 14, "B", &v) == 0, "fields after the header are not fields");
  ok(dqhdr_parse(&h, msg, strlen(msg)) == 0, "parsed");
  ok(!strcmp(h.from.s, "a@example.com"), "From: the address in angle brackets");
  ok(!strcmp(h.subject.s, "日本語 and more"), "Subject: ISO-2022-JP and UTF-8 words decoded, space between dropped");
  ok(!strcmp(h.message_id.s, "<id@example.com>"), "Message-ID folded onto the next line");
  ok(!strcmp(h.api_data.s, "k=v w"), "X-Api-Data: TAB made a space");
  ok(dqhdr_parse(&h, "Subject: x\r\n", 12) == 0 && !strcmp(h.from.s, "") && !strcmp(h.message_id.s, ""),
     "missing fields: empty strings");

  ok(dec("plain text", "plain text"), "no encoded word: unchanged");
  ok(dec("=?utf-8?b?5pel5pys?= x =?utf-8?q?=E8=AA=9E?=", "日本 x 語"), "text between words stays");
  ok(dec("=?UTF-8?B?5pel?=  =?UTF-8?B?5pys?=", "日本"), "white space between adjacent words dropped");
  ok(dec("=?UTF-8?B?5pc=?= =?UTF-8?B?pQ==?=", "日"), "a character split over two words is joined");
  ok(dec("=?iso-8859-1?q?caf=E9?=", "café"), "ISO-8859-1 Q");
  ok(dec("=?Shift_JIS?B?k/qWe4zq?=", "日本語"), "Shift_JIS B");
  ok(dec("=?utf-8*ja?Q?a_b?=", "a b"), "RFC 2231 language tag ignored");
  ok(dec("=?no-such-charset?Q?abc?=", "abc"), "unknown charset: the bytes, cleaned");
  ok(dec("=?utf-8?Q?bad=ZZ?= end", "=?utf-8?Q?bad=ZZ?= end"), "undecodable word left as it is");
  ok(dec("=?utf-8?B?/w==?=", "?"), "invalid UTF-8 in a word becomes ?");
  ok(dec("raw \xe6\x97\xa5 \xff\x01 bytes", "raw 日 ?  bytes"), "raw UTF-8 kept, bad byte ?, control byte space");
  ok(addr("a@b.example (comment (nested)) ", "a@b.example")
     && addr("\"x y\"@b.example", "\"x y\"@b.example") && addr("<>", ""), "From forms");
  dqhdr_free(&h);
  buf_free(&v);
  return done();
}
