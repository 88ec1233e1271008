/* SPDX-License-Identifier: MIT */
/*
 * pg_pipeline.c - a libpq client in pipeline mode, for
 * tests/e2e/proto_postgresql.py: three extended-query batches, each ended by
 * its own Sync, all sent before any result is read (several Syncs in
 * flight); the second one fails (42P01). Prints one line per result.
 *
 *   pg_pipeline "host=127.0.0.1 port=... user=... password=... dbname=..."
 */
#include <stdio.h>
#include <libpq-fe.h>

int main(int argc, char **argv)
{
	const char *one[] = {"41"};
	int syncs = 0;

	if (argc != 2)
		return 2;
	PGconn *c = PQconnectdb(argv[1]);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "connect: %s", PQerrorMessage(c));
		return 1;
	}
	if (!PQenterPipelineMode(c) ||
	    !PQsendQueryParams(c, "SELECT $1::int + 1 AS pipelined_one", 1, NULL, one, NULL, NULL, 0) ||
	    !PQpipelineSync(c) ||
	    !PQsendQueryParams(c, "SELECT * FROM pipeline_missing_table", 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(c) ||
	    !PQsendQueryParams(c, "SELECT 'pipelined_three' AS x", 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(c)) {
		fprintf(stderr, "send: %s", PQerrorMessage(c));
		return 1;
	}
	while (syncs < 3) {
		PGresult *r = PQgetResult(c);
		if (!r)
			continue; /* the end of one query's results */
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC)
			syncs++;
		printf("%s\n", PQresStatus(st));
		PQclear(r);
	}
	PQexitPipelineMode(c);
	PQfinish(c);
	return 0;
}
