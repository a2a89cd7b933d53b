/*
 * error.c - error texts, the version string and the LMDB code mapper.
 *
 * All data here is static and read-only, so every function is safe from
 * any thread.
 */
#include "error.h"

#include "log.h"
#include "util.h"

#include <errno.h>

#include <lmdb.h>

/* Indexed by eoc_err_t; every code has a distinct, static text. */
static const char *const err_text[] = {
    [EOC_OK] = "success",
    [EOC_ERR_INVALID_ARG] = "invalid argument",
    [EOC_ERR_CONFIG] = "configuration error",
    [EOC_ERR_NOMEM] = "out of memory",
    [EOC_ERR_NOT_FOUND] = "not found",
    [EOC_ERR_MAP_FULL] = "store is full (raise store.map.size)",
    [EOC_ERR_STORE] = "store error",
    [EOC_ERR_IO] = "I/O error",
    [EOC_ERR_VERSION] = "store written by an incompatible version",
    [EOC_ERR_LOCKED] = "resource is locked by another process",
    [EOC_ERR_KAFKA] = "Kafka error",
    [EOC_ERR_TOO_LARGE] = "message too large",
    [EOC_ERR_INVALID_ID] = "invalid message ID",
    [EOC_ERR_STATE] = "operation not valid in the current state",
    [EOC_ERR_READ_ONLY] = "store is read-only",
    [EOC_ERR_FATAL] = "fatal error, the worker stopped",
};

_Static_assert(COUNTOF(err_text) == EOC_ERR__COUNT, "err_text must have one entry per eoc_err_t");

const char *eoc_strerror(eoc_err_t err)
{
    if ((unsigned)err >= (unsigned)EOC_ERR__COUNT || err_text[err] == NULL)
        return "unknown error";
    return err_text[err];
}

const char *eoc_version(void)
{
    return EOC_VERSION_STR;
}

eoc_err_t eoc__err_from_mdb(int mdb_rc)
{
    switch (mdb_rc) {
    case MDB_SUCCESS:
        return EOC_OK;
    case MDB_NOTFOUND:
        return EOC_ERR_NOT_FOUND;
    case MDB_MAP_FULL:
        return EOC_ERR_MAP_FULL;
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
        return EOC_ERR_VERSION;
    case ENOMEM:
        return EOC_ERR_NOMEM;
    case EACCES:
    case EROFS:
        return EOC_ERR_READ_ONLY;
    default:
        /* LMDB's own codes are negative; positive ones are errno values. */
        return mdb_rc > 0 ? EOC_ERR_IO : EOC_ERR_STORE;
    }
}

eoc_err_t eoc__err_from_mdb_logged(const eoc_log_t *log, int mdb_rc, const char *what)
{
    if (log && mdb_rc != MDB_NOTFOUND)
        eoc__log(log, mdb_rc == MDB_MAP_FULL ? EOC_LOG_ERR : EOC_LOG_WARNING, "store: %s: %s%s",
                 what, mdb_strerror(mdb_rc),
                 mdb_rc == MDB_MAP_FULL ? " (raise store.map.size or let the relay drain)" : "");
    return eoc__err_from_mdb(mdb_rc);
}
