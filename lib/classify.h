#ifndef CLASSIFY_H
#define CLASSIFY_H
/* classify.h: an SMTP reply (or a bounce's diagnostic) to an error status
   (DESIGN.md section 5).  The rules are data: classify_load() reads the
   rule files of a directory (templates/classify/ in the tree,
   $CMC_HOME/etc/classify when installed) and compiles them once; every
   call after that only matches.  Nothing is global: the caller keeps the
   struct classify and passes it in.  A loaded struct classify is never
   changed by the calls below, so one can serve any number of callers.

   Files of the directory, each line "KEY<TAB>VALUE", '#' starts a comment:
     local     optional; rules like those of `rules', tried first
     rules     STATUS<TAB>PCRE2 pattern, caseless, first match wins; a line
               "@enhanced" is where the enhanced-status table is consulted
     enhanced  X.Y.Z<TAB>STATUS, the RFC 3463 table; the class digit may be
               'X' for "4 or 5"
     stages    STAGE<TAB>PCRE2 pattern: names the SMTP stage (conn, helo,
               mail, rcpt, data) from the text around a diagnostic
   Patterns run over the normalised subject
     "stage=S code=NNN enh=X.Y.Z action=A type=T text=TEXT"
   (unknown values are "-"; TEXT is the reply with white space collapsed
   and repeated continuation prefixes "550-5.7.1 " removed). */
#include <stddef.h>

#define CLASSIFY_RULES_MAX 4096      /* patterns per directory */
#define CLASSIFY_LINE_MAX  4096      /* bytes per rule line */
#define CLASSIFY_FILE_MAX  (1 << 20) /* bytes per rule file */
#define CLASSIFY_TEXT_MAX  4096      /* bytes of reply text looked at */

/* Error statuses. */
#define CLASSIFY_SUCCESS        0    /* 2xx: not an error */
#define CLASSIFY_HOST_UNKNOWN   1
#define CLASSIFY_USER_UNKNOWN   2
#define CLASSIFY_RETRY_TIMEOUT  3
#define CLASSIFY_POLICY         4
#define CLASSIFY_MAILBOX_FULL   5
#define CLASSIFY_FORWARDING     6
#define CLASSIFY_SERVER_ERROR   7
#define CLASSIFY_TOO_LARGE      8
#define CLASSIFY_BAD_ADDRESS    9
#define CLASSIFY_OTHER          99   /* permanent, nothing more known */

struct classify;

struct classify_in {
  int code;                  /* SMTP reply code; 0: look for one in text */
  const char *enhanced;      /* "5.1.1"; 0 or "": look in text, then status */
  const char *text;          /* the reply text or diagnostic (may hold the code) */
  const char *stage;         /* "conn" "helo" "mail" "rcpt" "data"; 0: from context */
  const char *context;       /* text around the diagnostic (bounce), or 0 */
  const char *action;        /* DSN Action ("failed", "delayed"), or 0 */
  const char *dtype;         /* DSN Diagnostic-Code type ("smtp", "x-unix"), or 0 */
  const char *status;        /* DSN Status field, or 0 */
};

struct classify_out {
  int status;                /* CLASSIFY_* */
  int code;                  /* reply code used, 0 if none */
  char enhanced[16];         /* enhanced status used, "" if none */
  char stage[8];             /* stage used, "" if unknown */
  char why[64];              /* what decided: "rules:LINE", "enhanced:5.1.1", "default" */
};

/* Load the rule files of dir.  0 and *c set; -1 with errno (ENOENT, EINVAL
   for a bad line, ENOMEM) and a message in err ("rules:12: ..."). */
int classify_load(struct classify **c, const char *dir, char *err, size_t errn);
void classify_free(struct classify *c);

/* Classify.  0 and *out filled; -1 ENOMEM. */
int classify(const struct classify *c, const struct classify_in *in, struct classify_out *out);

/* The common call, for an SMTP client's reply (deliver's worker results):
   code 250..599, enhanced "X.Y.Z" or 0, the reply text (the code prefix may
   be left in).  Returns the status: 0 for 2xx; for 4xx the status it
   would have if it were permanent (e.g. 3 for a connection time-out, so a
   retry decision can use it); 99 when nothing is known; -1 ENOMEM. */
int classify_reply(const struct classify *c, int code, const char *enhanced, const char *text);
/* The same, when the SMTP stage of the reply is known ("rcpt", "data", ...). */
int classify_reply_at(const struct classify *c, const char *stage, int code,
                      const char *enhanced, const char *text);

/* Find a reply code and an enhanced status in text; 0 / "" if none. */
void classify_codes(const char *text, int *code, char enhanced[16]);
/* Readable name of a status ("user unknown"). */
const char *classify_name(int status);
#endif
