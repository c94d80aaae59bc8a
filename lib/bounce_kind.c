/* bounce_kind.c: what kind of message a parsed bounce is (for bounce.c,
   see bounce_kind.h): a failure, a success notice, an auto-reply, a
   feedback report or none of these, from its DSN actions and statuses,
   its From and Subject (word lists in several languages) and its header
   fields; and whether a returned message looks like a bounce itself. */
#include <string.h>
#include "bounce.h"
#include "bounce_kind.h"
#include "bounce_mime.h"
#include "bounce_text.h"

static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int has_any(const char *s, const char *const *words)
{
  char low[256];
  size_t i;
  for (i = 0; s[i] && i + 1 < sizeof low; i++) low[i] = (char)lc((unsigned char)s[i]);
  low[i] = 0;
  for (i = 0; words[i]; i++)
    if (strstr(low, words[i])) return 1;
  return 0;
}

static const char *const daemon_from[] = {
  "mailer-daemon", "mailer_daemon", "postmaster", "post_master", "mail delivery",
  "mail-delivery", "mail.delivery", "maildelivery", "mail deliver", "mdaemon", "mailerdaemon",
  "delivery subsystem", "mail system", "mail administrator", "mailadmin", "bounce",
  "mail router", "mailer@", "-admin@", "smtp gateway", 0
};
static const char *const bounce_subject[] = {
  "undeliver", "undelivered", "delivery fail", "delivery status", "delivery notification",
  "failure notice", "failure notification", "returned mail", "returning message", "mail delivery",
  "delivery problem", "could not be delivered", "not delivered", "non-delivery", "nondelivery",
  "delivery error", "mail error", "system error", "delivery has failed", "message delivery",
  "unable to deliver", "rejected", "bounce", "failed", "error", "loop", "notification", "ndn",
  "\xe9\x85\x8d\xe4\xbf\xa1", /* 配信 */ "\xe3\x82\xa8\xe3\x83\xa9\xe3\x83\xbc", /* エラー */
  "\xe4\xb8\x8d\xe9\x81\x94", /* 不達 */ "\xe5\xb1\x8a\xe3\x81\x8d\xe3\x81\xbe\xe3\x81\x9b", /* 届きませ */
  0
};
static const char *const autoreply_subject[] = {
  "auto:", "automatic reply", "auto reply", "autoreply", "auto-reply", "auto response",
  "autoresponse", "auto-response", "out of office", "out of the office", "vacation",
  "away from", "abwesenheit", "absence", "automatische antwort", "r\xc3\xa9ponse automatique",
  "\xe8\x87\xaa\xe5\x8b\x95\xe5\xbf\x9c\xe7\xad\x94", /* 自動応答 */
  "\xe8\x87\xaa\xe5\x8b\x95\xe8\xbf\x94\xe4\xbf\xa1", /* 自動返信 */
  "\xe4\xb8\x8d\xe5\x9c\xa8", /* 不在 */ 0
};

void bounce_kind_decide(struct bounce *b)
{
  int i, failed = 0, ok = 0, daemon, bsubj, looks, autor;
  if (b->is_feedback) { b->kind = BOUNCE_FEEDBACK; b->nrcpt = 0; return; }
  for (i = 0; i < b->nrcpt; i++) {
    const char *a = b->rcpt[i].action, *s = b->rcpt[i].status;
    if (!strcmp(a, "delivered") || !strcmp(a, "relayed") || !strcmp(a, "expanded")
        || (s[0] == '2' && s[1] == '.'))
      ok++;
    else
      failed++;
  }
  if (b->nrcpt && !failed) { b->kind = BOUNCE_DELIVERED; b->nrcpt = 0; return; }
  if (failed && b->is_report) { b->kind = BOUNCE_FAILURE; return; }
  daemon = has_any(b->from, daemon_from);
  bsubj = has_any(b->subject, bounce_subject);
  looks = daemon || bsubj || b->failed[0] || (b->is_report && !b->is_feedback);
  autor = b->autoreply_hdr || has_any(b->subject, autoreply_subject);
  if (autor && !daemon && !bsubj) { b->kind = BOUNCE_AUTOREPLY; b->nrcpt = 0; return; }
  if (b->autosub && !looks) { b->kind = BOUNCE_AUTOREPLY; b->nrcpt = 0; return; }
  if (!looks && !(b->null_sender && failed)) { b->kind = BOUNCE_OTHER; b->nrcpt = 0; return; }
  b->kind = b->nrcpt ? BOUNCE_FAILURE : BOUNCE_OTHER;
}

/* Drop delivered entries from a mixed report. */
void bounce_kind_keep_failed(struct bounce *b)
{
  int i, o = 0;
  for (i = 0; i < b->nrcpt; i++) {
    const char *a = b->rcpt[i].action, *s = b->rcpt[i].status;
    if (!strcmp(a, "delivered") || !strcmp(a, "relayed") || !strcmp(a, "expanded")
        || (s[0] == '2' && s[1] == '.'))
      continue;
    if (o != i) b->rcpt[o] = b->rcpt[i];
    o++;
  }
  b->nrcpt = o;
}

const char *bounce_kind_name(enum bounce_kind k)
{
  switch (k) {
  case BOUNCE_FAILURE: return "bounce";
  case BOUNCE_AUTOREPLY: return "auto-reply";
  case BOUNCE_FEEDBACK: return "feedback-report";
  case BOUNCE_DELIVERED: return "delivered";
  default: return "not-a-bounce";
  }
}

/* Does the message at p look like a bounce from its header alone? */
int bounce_kind_looks(const char *p, size_t n)
{
  const char *hp = p, *end = p + mime_header_end(p, n);
  struct mime_field f;
  char v[256];
  int k = 0;
  while (k++ < 200 && mime_field_next(&hp, end, &f)) {
    bounce_text_line(v, sizeof v, f.val, f.vlen);
    if ((mime_field_is(&f, "from") && has_any(v, daemon_from))
        || (mime_field_is(&f, "subject") && has_any(v, bounce_subject))
        || (mime_field_is(&f, "content-type") && bounce_text_find(v, strlen(v), "delivery-status") >= 0))
      return 1;
  }
  return 0;
}
