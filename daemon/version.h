/*
 * version: rumprund's and rrctl's version, the one place it is written.
 *
 * openapi.yaml's info.version says the same (tests/e2e/test_contract.py
 * checks it through GET /v1/info).
 */
#ifndef VERSION_H
#define VERSION_H

#define RUMPRUND_VERSION "0.1.0"

#endif
