/* postgres_floor.c: the floor tornado::postgres is measured against in
 * `make bench-postgres`: the same queries on one connection with libpq's
 * pipeline mode, in plain C, with no framework: poll(2), PQsendQueryPrepared,
 * PQpipelineSync (one Sync per query, as the pool sends), PQconsumeInput,
 * PQgetResult. What is left of the time is libpq's and the server's.
 *
 *   postgres_floor DSN IN_FLIGHT SECONDS
 *
 * Keeps IN_FLIGHT queries in the pipeline for SECONDS (sending a new one as
 * each answer comes), each "SELECT id, randomnumber FROM world WHERE id = $1"
 * with a random id from 1 to 10,000 (the table bench-postgres makes), and
 * prints "queries N seconds S" on stdout.
 */
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char* kQuery = "SELECT id, randomnumber FROM world WHERE id = $1";

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(PGconn* conn, const char* what) {
    fprintf(stderr, "postgres_floor: %s: %s", what, PQerrorMessage(conn));
    exit(1);
}

static void send_one(PGconn* conn) {
    char id[16];
    snprintf(id, sizeof id, "%d", 1 + rand() % 10000);
    const char* values[1] = {id};
    if (PQsendQueryPrepared(conn, "world", 1, values, NULL, NULL, 0) != 1 ||
        PQpipelineSync(conn) != 1) {
        die(conn, "send");
    }
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: postgres_floor DSN IN_FLIGHT SECONDS\n");
        return 2;
    }
    int in_flight = atoi(argv[2]);
    double seconds = atof(argv[3]);
    PGconn* conn = PQconnectdb(argv[1]);
    if (PQstatus(conn) != CONNECTION_OK) die(conn, "connect");
    PGresult* prepared = PQprepare(conn, "world", kQuery, 1, NULL);
    if (PQresultStatus(prepared) != PGRES_COMMAND_OK) die(conn, "prepare");
    PQclear(prepared);
    if (PQsetnonblocking(conn, 1) != 0 || PQenterPipelineMode(conn) != 1) die(conn, "pipeline");

    for (int i = 0; i < in_flight; ++i) send_one(conn);
    long answered = 0, checksum = 0;
    int outstanding = in_flight;
    double start = now(), end = start + seconds;
    int sending = 1;
    while (outstanding > 0) {
        int flushing = PQflush(conn);
        if (flushing < 0) die(conn, "flush");
        struct pollfd ready = {PQsocket(conn), (short)(POLLIN | (flushing ? POLLOUT : 0)), 0};
        if (poll(&ready, 1, 5000) <= 0) die(conn, "poll");
        if ((ready.revents & POLLIN) && PQconsumeInput(conn) != 1) die(conn, "read");
        while (!PQisBusy(conn)) {
            PGresult* result = PQgetResult(conn);
            if (result == NULL) continue; /* the end of one query's results */
            ExecStatusType status = PQresultStatus(result);
            if (status == PGRES_TUPLES_OK) {
                /* Read the row, as the framework's client does. */
                checksum += atoi(PQgetvalue(result, 0, 0)) + atoi(PQgetvalue(result, 0, 1));
                PQclear(result);
                continue;
            }
            PQclear(result);
            if (status != PGRES_PIPELINE_SYNC) die(conn, "query");
            ++answered;
            --outstanding;
            if (sending && now() >= end) sending = 0;
            if (sending) {
                send_one(conn);
                ++outstanding;
            }
            if (outstanding == 0) break;
        }
    }
    printf("queries %ld seconds %.6f checksum %ld\n", answered, now() - start, checksum);
    PQfinish(conn);
    return 0;
}
