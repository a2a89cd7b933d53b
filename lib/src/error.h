/*
 * error.h - mapping of LMDB return codes to eoc_err_t.
 *
 * No public function returns an LMDB or librdkafka code. The store's files
 * (store_int.h) work with MDB_* codes inside and map them here when they
 * return; the worker and the relay look at librdkafka's codes where they
 * decide something (a fatal error, a message too large) and report eoc_err_t
 * values. The detailed text of the original error (mdb_strerror,
 * rd_kafka_err2str) belongs in the log line of the caller; the mapping
 * keeps only the class.
 *
 * Thread rules: pure functions, callable from any thread.
 */
#ifndef EOC_ERROR_H
#define EOC_ERROR_H

#include "eoc/eoc.h"
#include "log.h"

/**
 * Maps an LMDB return code: MDB_SUCCESS -> EOC_OK, MDB_NOTFOUND ->
 * EOC_ERR_NOT_FOUND, MDB_MAP_FULL -> EOC_ERR_MAP_FULL, MDB_VERSION_MISMATCH
 * and MDB_INVALID -> EOC_ERR_VERSION, ENOMEM -> EOC_ERR_NOMEM, EACCES and
 * EROFS -> EOC_ERR_READ_ONLY, any other errno value -> EOC_ERR_IO, any
 * other LMDB code -> EOC_ERR_STORE.
 */
eoc_err_t eoc__err_from_mdb(int mdb_rc);

/** eoc__err_from_mdb, after logging to `log` (NULL: nothing) which
 *  operation failed and why (MDB_NOTFOUND is not logged). */
eoc_err_t eoc__err_from_mdb_logged(const eoc_log_t *log, int mdb_rc, const char *what);

#endif /* EOC_ERROR_H */
