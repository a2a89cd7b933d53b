/*
 * msgid - how a record's message ID is found: a header, a JSON field of the
 * value, the Kafka key, or the record's position topic/partition/offset.
 * A strategy is parsed once from its text form ("header:NAME",
 * "json:FIELD[.FIELD...]", "key", "position") and then applied per record.
 */
#ifndef EOC_MSGID_H
#define EOC_MSGID_H

#include "eoc/eoc.h"

#include <librdkafka/rdkafka.h>

typedef struct eoc__msgid {
    enum { EOC__MSGID_HEADER, EOC__MSGID_JSON, EOC__MSGID_KEY, EOC__MSGID_POSITION } kind;
    char *arg; /* header name or dotted JSON path; owned */
} eoc__msgid_t;

/** Parses `spec`; EOC_ERR_CONFIG with errstr on a bad spec. Free with _clear. */
eoc_err_t eoc__msgid_parse(eoc__msgid_t *st, const char *spec, char *errstr, size_t errstr_size);
void eoc__msgid_clear(eoc__msgid_t *st);

/** Outcome of an extraction. Every status past MISSING is an invalid ID
 * (dead-lettered as invalid_id); eoc__msgid_status_text says which. */
typedef enum {
    EOC__ID_FOUND,
    EOC__ID_MISSING,
    EOC__ID_INVALID,     /* empty */
    EOC__ID_TOO_LONG,    /* longer than EOC_ID_MAX */
    EOC__ID_NOT_JSON,    /* json: the value is not JSON */
    EOC__ID_NOT_OBJECT,  /* json: the value is JSON but not an object */
    EOC__ID_NOT_INTEGER, /* json: a number that is not an integer literal */
    EOC__ID_BAD_TYPE     /* json: neither a string nor a number */
} eoc__id_status_t;

/** Why an ID is missing or invalid, for the dead letter's eoc-error. */
const char *eoc__msgid_status_text(eoc__id_status_t st);

/**
 * Finds the ID of `msg`. On EOC__ID_FOUND, *id and *len point either into the
 * message or into `buf` (EOC_ID_MAX + 1 bytes, owned by the caller). IDs are
 * bytes with a length (a JSON "\u0000" is one of them). For json: see
 * msgid.c (from_json) for how strings and numbers become IDs.
 */
eoc__id_status_t eoc__msgid_extract(const eoc__msgid_t *st, const rd_kafka_message_t *msg,
                                    char *buf, const char **id, size_t *len);

/** Writes the position form topic/partition/offset into buf; returns length. */
size_t eoc__msgid_position(const rd_kafka_message_t *msg, char *buf);

/**
 * The ID of something derived from the record whose ID is `base`: an
 * output (suffix "<n>") or a dead letter (suffix "dlq"). Writes into out
 * (EOC_ID_MAX + 1 bytes) and returns the length, which is never more than
 * EOC_ID_MAX, so the next eoc worker of a chain accepts it:
 *   - "<base>/<suffix>" when that fits in EOC_ID_MAX bytes;
 *   - else "<head>~<h>/<suffix>": h is the XXH3-128 digest of all of base
 *     (32 lower-case hex digits), head the longest start of base that fills
 *     the rest (cut back to a UTF-8 boundary).
 * Deterministic; two different long bases collide only if their 128-bit
 * digests do.
 */
size_t eoc__id_derive(char *out, const char *base, size_t base_len, const char *suffix,
                      size_t suffix_len);

#endif
