/*
 * error.h - mapping of LMDB and librdkafka return codes to eoc_err_t.
 *
 * Codes from the libraries eoc builds on are translated here, at the
 * boundary, so that no other module compares against MDB_* or
 * RD_KAFKA_RESP_ERR_* values and no public function returns them. The
 * detailed text of the original error (mdb_strerror, rd_kafka_err2str)
 * belongs in the log line of the caller; the mapping keeps only the class.
 *
 * Thread rules: pure functions, callable from any thread.
 */
#ifndef EOC_ERROR_H
#define EOC_ERROR_H

#include "eoc/eoc.h"

/**
 * Maps an LMDB return code: MDB_SUCCESS -> EOC_OK, MDB_NOTFOUND ->
 * EOC_ERR_NOT_FOUND, MDB_MAP_FULL -> EOC_ERR_MAP_FULL, MDB_VERSION_MISMATCH
 * and MDB_INVALID -> EOC_ERR_VERSION, ENOMEM -> EOC_ERR_NOMEM, EACCES and
 * EROFS -> EOC_ERR_READ_ONLY, any other errno value -> EOC_ERR_IO, any
 * other LMDB code -> EOC_ERR_STORE.
 */
eoc_err_t eoc__err_from_mdb(int mdb_rc);

/**
 * Maps an rd_kafka_resp_err_t (passed as int so that callers need not
 * include rdkafka.h): 0 -> EOC_OK, MSG_SIZE_TOO_LARGE -> EOC_ERR_TOO_LARGE,
 * _INVALID_ARG -> EOC_ERR_INVALID_ARG, _NOENT, _UNKNOWN_TOPIC,
 * _UNKNOWN_PARTITION and UNKNOWN_TOPIC_OR_PART -> EOC_ERR_NOT_FOUND,
 * _FATAL -> EOC_ERR_FATAL, anything else -> EOC_ERR_KAFKA.
 */
eoc_err_t eoc__err_from_kafka(int rd_kafka_resp_err);

#endif /* EOC_ERROR_H */
