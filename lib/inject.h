#ifndef INJECT_H
#define INJECT_H
/* inject.h: writing one message into the spool (doc/spool.md), the commit
   code of queue-inject, shared by its one-message form and its server
   form (queue-inject -d, which commits the messages of many sessions in
   groups).  Order of calls:

     inject_open     claim an id, create tmp/ID (O_EXCL)
     inject_head     the checked envelope, with Q (the id) and S set
     inject_feed...  the message as it arrives, normalised to CRLF; the
                     header is held back until it ends, so that Date and
                     Message-ID can be added there when missing
     inject_end      last line end, added fields, everything written
     inject_sync     fsync tmp/ID and close it
     inject_link     link tmp/ID to new/ID (never replacing), unlink tmp/ID
     (caller)        fsync new/ once, for one message or for a group:
                     only after that may the id be reported (the commit)

   inject_abort at any step before the commit removes what was made
   (tmp/ID, and new/ID if linked), so a refusal or failure leaves nothing.
   A module: returns 0/-1 with errno (EFBIG message over its limit, EINVAL
   envelope with a Q field or bad host name, else the system's errno);
   never exits or prints. */
#include <stddef.h>
#include "buf.h"
#include "envelope.h"
#include "spool.h"

#define INJECT_HOST_MAX 255          /* host name in an added Message-ID */
#define INJECT_FLUSH (64 * 1024)     /* normalised bytes held before a write() */

struct inject {
  int dirfd;                         /* spool/, the caller's */
  int fd;                            /* tmp/ID while open, else -1 */
  int is_made, is_linked;            /* tmp/ID exists; new/ID exists */
  int has_head;                      /* inject_head was called */
  char id[SPOOL_ID_MAX + 1];
  char tmpname[SPOOL_ID_MAX + 8], newname[SPOOL_ID_MAX + 8];
  const char *host;                  /* for Message-ID: the caller's string */
  unsigned long long max, in;        /* limit and count of raw message bytes */
  unsigned long long msglen;         /* normalised message bytes so far */
  struct buf out;                    /* bytes not yet written to fd */
  /* the header scan (while in_header nothing is written: offsets are in out) */
  int in_header, line_start, name_state, saw_cr, last;
  size_t line_off, namelen, nlines;
  char name[12];
  int has_msgid, has_date;
};

/* Parse and check an envelope given by a client (wire form p[0..n)):
   what only queue-inject may set (Q) is refused, and so are bytes after
   its end.  0, or -1 with a reason in *why: errno ENOMEM temporary,
   EINVAL permanent. */
int inject_envelope(struct envelope *e, const char *p, size_t n, const char **why);
/* Make j empty (no files, no memory), so that inject_abort and inject_done
   are safe on it. */
void inject_init(struct inject *j);
/* Claim a fresh id and create tmp/ID under the spool dirfd.  host: the
   name for an added Message-ID (letters, digits, ".-_"; checked only if
   it is needed).  max: raw message bytes allowed. */
int inject_open(struct inject *j, int dirfd, const char *host, unsigned long long max);
/* The envelope: e must not have an id (EINVAL); Q is set to the id and S
   to now unless present; e is left as it was. */
int inject_head(struct inject *j, const struct envelope *e);
/* Message bytes, any line ends.  -1 EFBIG past max (permanent), or a
   write error (temporary). */
int inject_feed(struct inject *j, const char *p, size_t n);
/* The message is complete: write everything out. */
int inject_end(struct inject *j);
/* fsync and close tmp/ID. */
int inject_sync(struct inject *j);
/* Close tmp/ID after the caller synced j->fd itself (a group of files
   synced together: injectsync.h). */
int inject_close(struct inject *j);
/* link tmp/ID to new/ID and unlink tmp/ID.  After this the caller syncs
   new/ (fsync_at(dirfd, "new")) before it reports the id. */
int inject_link(struct inject *j);
/* Undo: close, remove tmp/ID and new/ID if this call made them.  Keeps
   errno.  Safe to call twice and after a commit is abandoned. */
void inject_abort(struct inject *j);
/* Forget a committed message (close, free; the files stay). */
void inject_done(struct inject *j);
#endif
