/* unit-classify: the rule engine on the shipped rules (templates/classify,
   found from argv[0]) with a table of SMTP replies, the reply-code and
   enhanced-status finder, the stage, local rules, and bad rule files. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "classify.h"
#include "tap.h"

static const struct {
  int code;
  const char *enh;
  const char *text;
  int want;
} replies[] = {
  { 550, "5.1.1", "<x@example.com>: Recipient address rejected: User unknown in local recipient table", 2 },
  { 550, 0, "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown", 2 },
  { 0, 0, "550 5.1.1 <x@example.com>... User Unknown", 2 },
  { 550, 0, "550 sorry, no mailbox here by that name (#5.1.1 - chkusr)", 2 },
  { 552, "5.2.2", "Mailbox full", 5 },
  { 0, 0, "552 5.2.2 Mailbox full", 5 },
  { 452, "4.2.2", "The email account that you tried to reach is over quota", 5 },
  { 0, 0, "452 4.3.1 Insufficient system storage", 5 },
  { 554, "5.7.1", "rejected by policy", 4 },
  { 0, 0, "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", 4 },
  { 0, 0, "550 5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.", 4 },
  { 0, 0, "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints", 4 },
  { 0, 0, "550 5.7.1 Message rejected as spam by Content Filtering.", 4 },
  { 552, "5.3.4", "Message size exceeds fixed limit", 8 },
  { 0, 0, "552 5.3.4 Message size exceeds fixed maximum message size (10485760)", 8 },
  { 553, "5.1.3", "bad address syntax", 9 },
  { 0, 0, "501 5.1.3 Bad recipient address syntax", 9 },
  { 550, "5.1.2", "host unknown", 1 },
  { 0, 0, "550 5.1.2 <x@nowhere.example>... Host unknown (Name server: nowhere.example: host not found)", 1 },
  { 0, 0, "Host or domain name not found. Name service error for name=nowhere.example type=A: Host not found", 1 },
  { 0, "5.4.7", "delivery time expired", 3 },
  { 0, 0, "5.4.7 delivery time expired", 3 },
  { 0, 0, "connect to mx.example.com[192.0.2.1]:25: Connection timed out", 3 },
  { 421, "4.4.2", "mx.example.com: connection timed out", 3 },
  { 0, 0, "554 5.7.1 <x@example.com>: Relay access denied", 7 },
  { 0, 0, "550 5.7.27 Host does not accept mail (null MX)", 7 },
  { 0, 0, "451 4.3.0 Error: queue file write error", 7 },
  { 0, 0, "550 5.2.1 The email account that you tried to reach is disabled.", 99 },
  { 0, 0, "554 5.6.0 Message contains invalid MIME headers", 99 },
  { 550, 0, "frobnication of the widget failed", 99 },
  { 554, "5.9.9", "something odd", 99 },
  { 0, 0, "this is no reply at all", 99 },
  { 250, "2.0.0", "Ok: queued as 4E6A2C0", 0 },
  { 0, 0, "250 2.1.5 Ok", 0 },
};

static const struct {
  const char *text;
  int code;
  const char *enh;
} codes[] = {
  { "550 5.1.1 <a@b>... User unknown", 550, "5.1.1" },
  { "550-5.7.26 Unauthenticated email from example.jp is not accepted", 550, "5.7.26" },
  { "host 192.0.2.153 said: 550 5.1.1 <a@b>: Recipient address rejected", 550, "5.1.1" },
  { "Out: 220 mx ESMTP Out: 250 2.0.0 Ok Out: 451 4.3.0 Error", 451, "4.3.0" },
  { "#550 5.2.3 RESOLVER.RST.RecipSizeLimit; message too large", 550, "5.2.3" },
  { "sorry (#5.1.1 - chkusr)", 0, "5.1.1" },
  { "SIZE=222: host mx [192.0.2.22]: 550 NN-222 refused", 550, "" },
  { "connect to 10.4.4.1:25 timed out", 0, "" },
  { "", 0, "" },
};

static char dir[PATH_MAX];

static int put(const char *d, const char *name, const char *body)
{
  char path[PATH_MAX];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", d, name);
  if (!(f = fopen(path, "w"))) return -1;
  fputs(body, f);
  return fclose(f);
}

static int load_with(const char *rules, const char *local, struct classify **c, char *err, size_t n)
{
  char d[] = "/tmp/unit-classify.XXXXXX", path[PATH_MAX];
  int r, e;
  if (!mkdtemp(d)) return -1;
  put(d, "rules", rules);
  put(d, "enhanced", "X.1.1\t2\nX.2.2\t5\n");
  if (local) put(d, "local", local);
  r = classify_load(c, d, err, n);
  e = errno;
  snprintf(path, sizeof path, "%s/rules", d); unlink(path);
  snprintf(path, sizeof path, "%s/enhanced", d); unlink(path);
  snprintf(path, sizeof path, "%s/local", d); unlink(path);
  rmdir(d);
  errno = e;
  return r;
}

int main(int argc, char **argv)
{
  struct classify *c, *c2;
  char err[256], name[600];
  size_t i;
  const char *slash = strrchr(argv[0], '/');
  (void)argc;
  snprintf(dir, sizeof dir, "%.*s/../templates/classify",
           slash ? (int)(slash - argv[0]) : 1, slash ? argv[0] : ".");
  plan((int)(sizeof replies / sizeof replies[0]) + 2 * (int)(sizeof codes / sizeof codes[0]) + 20);

  ok(classify_load(&c, dir, err, sizeof err) == 0, "the shipped rules load");
  if (!c) { printf("Bail out! %s\n", err); return 1; }

  for (i = 0; i < sizeof replies / sizeof replies[0]; i++) {
    int got = classify_reply(c, replies[i].code, replies[i].enh, replies[i].text);
    snprintf(name, sizeof name, "%d %s %.60s -> %d (got %d)", replies[i].code,
             replies[i].enh ? replies[i].enh : "-", replies[i].text, replies[i].want, got);
    ok(got == replies[i].want, name);
  }

  for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    int code;
    char enh[16];
    classify_codes(codes[i].text, &code, enh);
    snprintf(name, sizeof name, "code of '%.50s' is %d (got %d)", codes[i].text, codes[i].code, code);
    ok(code == codes[i].code, name);
    snprintf(name, sizeof name, "enhanced of '%.50s' is '%s' (got '%s')", codes[i].text, codes[i].enh, enh);
    ok(!strcmp(enh, codes[i].enh), name);
  }

  /* the stage: the same words, before and after DATA */
  ok(classify_reply_at(c, "rcpt", 550, 0, "550 <a@b>: User unknown") == 2, "user unknown at RCPT is 2");
  ok(classify_reply_at(c, "data", 550, 0, "550 <a@b>: User unknown") == 4, "user unknown after DATA is 4 (a filter)");
  ok(classify_reply_at(c, "mail", 553, "5.1.8", "sender domain does not exist") == 4, "a refusal at MAIL is about the sender");
  {
    struct classify_in in;
    struct classify_out out;
    memset(&in, 0, sizeof in);
    in.text = "550 5.0.0 User unknown";
    in.context = "host mx.example.com said: 550 5.0.0 User unknown (in reply to end of DATA command)";
    ok(classify(c, &in, &out) == 0 && !strcmp(out.stage, "data") && out.status == 4,
       "the stage comes from the text around the diagnostic");
    memset(&in, 0, sizeof in);
    in.text = "";
    in.action = "delayed";
    in.status = "4.4.7";
    ok(classify(c, &in, &out) == 0 && out.status == 3 && !strcmp(out.enhanced, "4.4.7"),
       "a delayed DSN with 4.4.7 and no text is a retry time-out");
    memset(&in, 0, sizeof in);
    in.text = "550 5.1.1 unknown";
    in.status = "5.0.0";
    ok(classify(c, &in, &out) == 0 && !strcmp(out.enhanced, "5.1.1"), "the text's enhanced status beats Status: 5.0.0");
    memset(&in, 0, sizeof in);
    in.text = "550 5.0.0 rejected";
    in.status = "5.2.2";
    ok(classify(c, &in, &out) == 0 && !strcmp(out.enhanced, "5.2.2"), "Status: 5.2.2 beats a text that says 5.0.0");
    memset(&in, 0, sizeof in);
    in.text = "mailer error";
    in.dtype = "x-unix";
    ok(classify(c, &in, &out) == 0 && out.status == 7 && out.why[0], "x-unix mailer error is 7 and says why");
  }
  classify_free(c);

  /* local rules come first, may use the names `rules' defines; the
     prefilter never hides a match, whatever the case */
  ok(load_with("@define\tfb\tfoo(?:bar)?baz|qux\n8\tsize\\-limit\\.\n2\t@fb\n", "5\t^stage=rcpt\\b\t@fb\n", &c2, err, sizeof err) == 0,
     "rules with @define and a local file load");
  ok(classify_reply(c2, 552, 0, "552 Size-LIMIT. exceeded") == 8, "a plain phrase matches, case ignored");
  ok(classify_reply(c2, 552, 0, "552 sizeXlimit. exceeded") == 99, "an escaped dot in a phrase is a dot");
  ok(classify_reply_at(c2, "rcpt", 550, 0, "FOOBARBAZ") == 5, "a local rule wins");
  ok(classify_reply_at(c2, "data", 550, 0, "x FooBaz y") == 2, "the shipped rule after it");
  ok(classify_reply_at(c2, "data", 550, 0, "QuX") == 2, "each alternative of a split pattern");
  ok(classify_reply_at(c2, "data", 550, 0, "foo baz") == 99, "no match, no table entry: 99");
  classify_free(c2);

  errno = 0;
  ok(load_with("2\tuser unknown\n4\tbad (pattern\n", 0, &c2, err, sizeof err) == -1 && errno == EINVAL
     && strstr(err, "rules:2"), "a bad pattern is refused with its line");
  ok(load_with("2\t@nosuchname\n", 0, &c2, err, sizeof err) == -1 && errno == EINVAL,
     "an undefined name is refused");
  ok(load_with("10\tsuppressed\n", 0, &c2, err, sizeof err) == -1 && errno == EINVAL,
     "a status that rules may not give is refused");
  ok(classify_load(&c2, "/nonexistent/classify", err, sizeof err) == -1 && errno == ENOENT,
     "a missing directory is ENOENT");
  return done();
}
