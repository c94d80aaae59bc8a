/* unit-filter: the delivery-setting filters (lib/filter.c), table-driven:
   whole-value matching as Java's matches(), "To" as the envelope
   recipient, header names without regard to case, RFC 2047 values decoded
   to UTF-8 first, conditions OR-ed, the first matching filter of a list,
   and what is refused when a filter is saved (headers that may occur
   several times, patterns that do not compile, with PCRE2's reason). */
#include <string.h>
#include "tap.h"
#include "filter.h"

static const char msg[] =
  "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
  "Received: from c by d; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
  "From: \"User Name\" <user-name@example.com>\r\n"
  "To: Someone Else <else@example.org>\r\n"
  "Subject: =?UTF-8?B?5pel5pys6Kqe44Gu5Lu25ZCN?= campaign\r\n"
  "X-Priority: 1\r\n"
  "X-Jis: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=\r\n"
  "X-Folded: first part\r\n"
  "\tsecond part\r\n"
  "List-Id: <news.example.com>\r\n"
  "X-Empty:\r\n"
  "\r\n"
  "X-Body: not a header\r\n";

struct mcase {
  const char *name;
  const char *h[3], *p[3];           /* conditions, OR-ed */
  const char *rcpt;
  int want;
};

static const struct mcase mcases[] = {
  /* the guide's examples */
  { "guide: .+@example\\.com on To matches the envelope recipient",
    { "To" }, { ".+@example\\.com" }, "user@example.com", 1 },
  { "guide: the To: field is not what To means",
    { "To" }, { ".+@example\\.org" }, "user@example.com", 0 },
  { "guide: full address user-name@example\\.com",
    { "To" }, { "user-name@example\\.com" }, "user-name@example.com", 1 },
  { "guide: .*user-name@example\\.com.* on From with a display name",
    { "From" }, { ".*user-name@example\\.com.*" }, "x@y.test", 1 },
  { "guide: without .* the From value does not match as a whole",
    { "From" }, { "user-name@example\\.com" }, "x@y.test", 0 },
  /* whole-value semantics */
  { "a partial match is no match (matches(), not find())",
    { "To" }, { "example\\.com" }, "user@example.com", 0 },
  { "alternatives are tried to the end of the value",
    { "X-Priority" }, { "1|12|1" }, 0, 1 },
  { "a|ab matches ab as a whole",
    { "To" }, { "a@x|a@x\\.y" }, "a@x.y", 1 },
  { "no implicit prefix match", { "X-Priority" }, { "" "1.+" }, 0, 0 },
  { "To is compared in lower case", { "To" }, { "user@example\\.com" }, "User@Example.COM", 1 },
  { "(?i) works on header values", { "List-Id" }, { "(?i)<NEWS\\.example\\.com>" }, 0, 1 },
  { "values are case-sensitive by default", { "List-Id" }, { "<NEWS\\.example\\.com>" }, 0, 0 },
  /* header names, values */
  { "header names match without regard to case", { "x-PRIORITY" }, { "1" }, 0, 1 },
  { "Subject is decoded from RFC 2047 (UTF-8) first",
    { "Subject" }, { "日本語の件名 campaign" }, 0, 1 },
  { "a regex over decoded Japanese text", { "subject" }, { "日本語.*" }, 0, 1 },
  { "ISO-2022-JP words are decoded to UTF-8", { "X-Jis" }, { "テスト" }, 0, 1 },
  { "folded values are unfolded", { "X-Folded" }, { "first part\\s+second part" }, 0, 1 },
  { "a missing field matches nothing, not even .*", { "X-Missing" }, { ".*" }, 0, 0 },
  { "an empty field is the empty value", { "X-Empty" }, { "" "(?:)" }, 0, 1 },
  { "the body is not the header", { "X-Body" }, { ".*" }, 0, 0 },
  { "no recipient: To matches nothing", { "To" }, { ".*" }, 0, 0 },
  /* OR */
  { "several patterns OR-ed: the second matches",
    { "To", "To" }, { ".+@a\\.test", ".+@example\\.com" }, "u@example.com", 1 },
  { "several headers OR-ed", { "X-Priority", "From" }, { "5", ".*example.*" }, 0, 1 },
  { "none of several matches", { "To", "X-Priority" }, { ".+@a\\.test", "2" }, "u@example.com", 0 },
};

struct bad {
  const char *name, *h, *p, *want;   /* want: a part of the reason */
};

static const struct bad bads[] = {
  { "Received is refused", "Received", ".*", "Received may occur several times" },
  { "received in lower case is refused too", "received", ".*", "may occur several times" },
  { "X-Received is refused", "X-Received", ".*", "several times" },
  { "Resent-From is refused", "Resent-From", ".*", "several times" },
  { "ARC-Seal is refused", "ARC-Seal", ".*", "several times" },
  { "DKIM-Signature is refused", "DKIM-Signature", ".*", "several times" },
  { "Return-Path is refused", "Return-Path", ".*", "several times" },
  { "a header name with a colon", "X-A:", ".*", "without ':'" },
  { "a header name with a space", "X A", ".*", "without ':' and space" },
  { "an empty header name", "", ".*", "empty header name" },
  { "an unclosed group, with PCRE2's reason and offset", "Subject", "(abc",
    "pattern (abc: missing closing parenthesis at offset 4" },
  { "a bad quantifier", "Subject", "*a", "quantifier does not follow a repeatable item at offset 0" },
  { "an empty pattern", "Subject", "", "empty pattern" },
  { "a control character", "Subject", "a\tb", "control character at offset 1" },
  { "invalid UTF-8 in a pattern", "Subject", "\xff", "UTF-8 error" },
};

static int run(const struct mcase *c, struct filter_msg *fm)
{
  struct filter *f;
  struct buf err = BUF_ZERO;
  size_t n = 0;
  int r;
  while (n < 3 && c->h[n]) n++;
  if (filter_new(&f, c->h, c->p, n, &err) == -1) {
    printf("# %s\n", err.s ? err.s : "?");
    buf_free(&err);
    return -1;
  }
  filter_msg_rcpt(fm, c->rcpt);
  r = filter_match(f, fm);
  filter_free(f);
  buf_free(&err);
  return r;
}

int main(void)
{
  struct filter_msg fm;
  struct filter *list[4] = { 0, 0, 0, 0 }, *f;
  struct buf err = BUF_ZERO;
  size_t i;
  static const char *const lh[4] = { "To", "X-Priority", "From", "To" };
  static const char *const lp[4] = { ".+@other\\.test", "1", ".*example.*", ".*" };
  long w;
  plan((int)(sizeof mcases / sizeof mcases[0] + sizeof bads / sizeof bads[0]) + 14);
  filter_msg_init(&fm, msg, sizeof msg - 1, 0);
  for (i = 0; i < sizeof mcases / sizeof mcases[0]; i++)
    ok(run(&mcases[i], &fm) == mcases[i].want, mcases[i].name);

  for (i = 0; i < sizeof bads / sizeof bads[0]; i++) {
    int r;
    buf_trunc(&err, 0);
    r = filter_new(&f, &bads[i].h, &bads[i].p, 1, &err);
    if (r == 0) filter_free(f);
    if (r == 0 || !err.s || !strstr(err.s, bads[i].want))
      printf("# got: %s\n", err.s ? err.s : "(accepted)");
    ok(r == -1 && err.s && strstr(err.s, bads[i].want), bads[i].name);
  }

  /* a list: the first matching filter wins, in list order */
  for (i = 0; i < 4; i++) ok(filter_new(&list[i], &lh[i], &lp[i], 1, &err) == 0, "list filter compiles");
  filter_msg_rcpt(&fm, "u@example.com");
  w = filter_first(list, 4, &fm);
  ok(w == 1, "the first matching filter of the list wins (X-Priority before From and To)");
  filter_msg_rcpt(&fm, "u@other.test");
  ok(filter_first(list, 4, &fm) == 0, "another recipient of the same message: the To filter first");
  filter_free(list[1]);
  list[1] = 0;
  filter_msg_rcpt(&fm, "u@example.com");
  ok(filter_first(list, 4, &fm) == 2, "a removed entry is skipped");
  for (i = 0; i < 4; i++) filter_free(list[i]);
  filter_msg_free(&fm);

  /* names and limits */
  buf_trunc(&err, 0);
  ok(filter_name_ok("campaign 1", &err) == 1, "a filter name with a space is fine");
  ok(filter_name_ok("", &err) == 0, "an empty filter name is refused");
  ok(filter_name_ok("012345678901234567890123456789012345678901234567891", &err) == 0,
     "a filter name of 51 bytes is refused");
  {
    const char *h = "Subject", *p = "a";
    const char *hs[FILTER_COND_MAX + 1], *ps[FILTER_COND_MAX + 1];
    for (i = 0; i <= FILTER_COND_MAX; i++) { hs[i] = h; ps[i] = p; }
    buf_trunc(&err, 0);
    ok(filter_new(&f, hs, ps, FILTER_COND_MAX + 1, &err) == -1, "too many conditions are refused");
    ok(filter_new(&f, hs, ps, 0, &err) == -1, "no condition is refused");
  }
  /* catastrophic backtracking stops at the match limit: no match, no hang */
  {
    const char *h = "X-Long", *p = "(a+)+b";
    char big[200];
    memcpy(big, "X-Long: ", 8);
    memset(big + 8, 'a', 60);
    memcpy(big + 68, "\r\n\r\n", 5);
    ok(filter_new(&f, &h, &p, 1, &err) == 0, "a backtracking pattern compiles");
    filter_msg_init(&fm, big, strlen(big), 0);
    ok(filter_match(f, &fm) == 0, "and gives up at the match limit as no match");
    filter_msg_free(&fm);
    filter_free(f);
  }
  buf_free(&err);
  return done();
}
