#ifndef DQ_H
#define DQ_H
/* dq.h: deliver's queue state -- one message in the spool's queue/ and the
   state of each of its recipients -- as deliver keeps it in memory and in
   table "queue" (key: the spool id; value: the record below), plus the
   pieces deliver and its workers share: the result lines a worker writes,
   the retry schedule and the classification of SMTP replies.

   Record (dull: NUL-terminated decimal/text fields, in this order):
     "1"  ID  TENANT  COMPOSITION  SENDER  FLAGS("8" 8bitmime, "u" smtputf8)
     ACCEPTED  CLIENT-IP  USER  FROM  SUBJECT  MESSAGE-ID  API-DATA  NRCPT
     then per recipient: ADDRESS  STATE(P|K|D)  ATTEMPTS  FIRST  NEXT

   Result line (worker -> deliver, one per recipient, TAB-separated):
     ID  INDEX  K|Z|D  ERROR  REMOTE  LOCAL-IP  REPLY  LF
   K succeeded, Z deferred, D failed with ERROR (event.h ERR_*; 0 for K;
   for Z the status the reply would have were it final, or 0);
   REMOTE "host [ip]" or ""; REPLY one line. */
#include <stddef.h>
#include "buf.h"
#include "spool.h"

#define DQ_PENDING 'P'
#define DQ_SUCCEEDED 'K'
#define DQ_FAILED 'D'
#define DQ_DEFERRED 'Z'                  /* a result, never a stored state */

#define DQ_RETRY_PERIOD_DEFAULT (72 * 3600)
#define DQ_RETRY_INTERVAL_DEFAULT 300
#define DQ_RETRY_INTERVAL_CAP 3600       /* doubling stops here (or at the interval) */
#define DQ_RESULT_MAX 4096               /* one result line, LF included */
#define DQ_REPLY_MAX 2000                /* bytes of reply text kept */

struct dq_rcpt {
  char *addr;
  char state;                            /* DQ_PENDING, DQ_SUCCEEDED, DQ_FAILED */
  int busy;                              /* in a worker now (memory only) */
  unsigned attempts;
  long long first;                       /* first attempt, 0 before it */
  long long next;                        /* no attempt before this time */
  /* Delivery settings of this recipient (lib/dsetrun.h), memory only,
     valid when the message's dsgen is the settings' serial: */
  unsigned char prio;                    /* 1..99 */
  unsigned short speed, hold, unsub;     /* speed, window, unsubscribe filter + 1; 0 none */
};

struct dq_msg {
  char id[SPOOL_ID_MAX + 1];
  char *tenant, *comp, *sender, *client_ip, *user;
  char *from, *subject, *message_id, *api_data;
  long long accepted;
  int is_8bitmime, is_smtputf8;
  size_t nrcpt;
  struct dq_rcpt *r;
  struct dq_msg *prev, *next;            /* deliver's list, oldest first */
  unsigned refs;                         /* worker jobs naming it (memory only) */
  int gone;                              /* out of the list, freed at refs 0 */
  unsigned dsgen;                        /* settings serial it was classified at; 0 never */
};

/* All strings copied; rcpt states start pending, next = 0 (now). */
struct dq_msg *dq_msg_new(const char *id, const char *tenant, const char *comp,
                          const char *sender, const char *client_ip, const char *user,
                          long long accepted, int is_8bitmime, int is_smtputf8,
                          const char *const *rcpt, size_t nrcpt);
void dq_msg_free(struct dq_msg *m);
int dq_msg_sethdr(struct dq_msg *m, const char *from, const char *subject,
                  const char *message_id, const char *api_data);
int dq_msg_final(const struct dq_msg *m);       /* 1 if no recipient is pending */

int dq_encode(struct buf *out, const struct dq_msg *m);
/* A new message from a record; 0 with errno EINVAL (malformed) or ENOMEM. */
struct dq_msg *dq_decode(const char *p, size_t n);

/* Retry: the time of the next attempt after attempt number attempts
   (1 = the first) failed for now at time now, or -1 when the retry period
   counted from accepted is over.  The interval doubles from interval on
   each attempt up to DQ_RETRY_INTERVAL_CAP (or interval if larger); the
   last attempt is made when the period ends. */
long long dq_retry_next(long long period, long long interval, long long accepted,
                        long long now, unsigned attempts);

/* The decision on one SMTP reply: DQ_SUCCEEDED (2xx), DQ_DEFERRED (4xx
   and anything unexpected) or DQ_FAILED with *err set (5xx: ERR_OTHER).
   The worker then gives every 4xx/5xx its detailed status with the
   classification rules (lib/classify.h; decide() in lib/dqwork.c). */
int dq_classify(int code, const char *reply, int *err);

struct dq_result {
  const char *id;
  size_t idx;
  char kind;                             /* K, Z, D */
  int err;
  const char *remote, *local_ip, *reply;
};
/* Append one result line; tabs, CR and LF in the strings become spaces,
   the reply is cut at DQ_REPLY_MAX.  0 or -1. */
int dq_result_put(struct buf *out, const struct dq_result *r);
/* Parse line[0..n) (no LF), NULs written in place of TABs.  0 or -1 EINVAL. */
int dq_result_parse(struct dq_result *r, char *line, size_t n);
#endif
