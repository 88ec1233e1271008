/* SPDX-License-Identifier: MIT */
/*
 * ch_server.h - a clickhouse-server of the test's own (Debian's
 * clickhouse-server, 18.16): a generated config in a temp dir (data, logs,
 * its ports), started once per test binary, stopped at exit. The store
 * suites run every backend-neutral case against SQLite and against it.
 *
 * If the server cannot start, the ClickHouse half is skipped with the reason
 * printed; under CI (CI=true) that is a failure instead: CI installs it.
 */
#ifndef ZT_TEST_CH_SERVER_H
#define ZT_TEST_CH_SERVER_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define CH_TEST_PASSWORD "s3cret-pw"

struct ch_server {
	pid_t pid;
	int http_port, tcp_port, inter_port;
	char dir[128];
	char why[256]; /* why it did not start */
};

static size_t ch_srv_discard(char *d, size_t s, size_t n, void *u)
{
	(void)d;
	(void)u;
	return s * n;
}

/* SQL over HTTP to the test server (setup and teardown: CREATE/DROP). 0 ok. */
static int ch_srv_sql(const struct ch_server *cs, const char *sql)
{
	char url[128];
	long status = 0;
	CURL *c = curl_easy_init();
	CURLcode rc;

	if (!c)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", cs->http_port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, sql);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ch_srv_discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return rc == CURLE_OK && status == 200 ? 0 : -1;
}

static int ch_srv_ping(const struct ch_server *cs)
{
	return ch_srv_sql(cs, "SELECT 1");
}

static int ch_srv_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Starts (or restarts, same dir and ports) the server; 0 when it answers. */
static int ch_server_start(struct ch_server *cs)
{
	char path[256], conf[2048], bin[] = "/usr/sbin/clickhouse-server";

	if (access(bin, X_OK) != 0) {
		snprintf(cs->why, sizeof(cs->why), "%s is not installed (scripts/setup.sh installs it)", bin);
		return -1;
	}
	if (!cs->dir[0]) {
		char tmpl[] = "/tmp/ztrace-ch-XXXXXX";
		if (!mkdtemp(tmpl)) {
			snprintf(cs->why, sizeof(cs->why), "mkdtemp: %s", strerror(errno));
			return -1;
		}
		snprintf(cs->dir, sizeof(cs->dir), "%s", tmpl);
		snprintf(conf, sizeof(conf),
			 "<?xml version=\"1.0\"?>\n<yandex>\n"
			 " <logger><level>warning</level><log>%s/server.log</log><errorlog>%s/err.log</errorlog>"
			 "<size>10M</size><count>1</count></logger>\n"
			 " <http_port>%d</http_port><tcp_port>%d</tcp_port><interserver_http_port>%d</interserver_http_port>\n"
			 " <listen_host>127.0.0.1</listen_host>\n"
			 " <path>%s/data/</path><tmp_path>%s/data/tmp/</tmp_path>"
			 "<user_files_path>%s/data/user_files/</user_files_path>"
			 "<format_schema_path>%s/data/format_schemas/</format_schema_path>\n"
			 " <users_config>users.xml</users_config><default_profile>default</default_profile>"
			 "<default_database>default</default_database>\n"
			 " <mark_cache_size>268435456</mark_cache_size><uncompressed_cache_size>268435456</uncompressed_cache_size>\n"
			 " <timezone>UTC</timezone>\n</yandex>\n",
			 cs->dir, cs->dir, cs->http_port, cs->tcp_port, cs->inter_port, cs->dir, cs->dir, cs->dir, cs->dir);
		snprintf(path, sizeof(path), "%s/config.xml", cs->dir);
		if (ch_srv_write(path, conf))
			return -1;
		snprintf(path, sizeof(path), "%s/users.xml", cs->dir);
		if (ch_srv_write(path,
				 "<?xml version=\"1.0\"?>\n<yandex>\n"
				 " <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>\n"
				 " <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>"
				 "<profile>default</profile><quota>default</quota></default>"
				 /* a user with a password, for ?user=&password_file= */
				 "<zt><password>" CH_TEST_PASSWORD "</password><networks><ip>127.0.0.1</ip></networks>"
				 "<profile>default</profile><quota>default</quota></zt></users>\n"
				 " <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>"
				 "<result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>"
				 "</interval></default></quotas>\n</yandex>\n"))
			return -1;
	}
	if (ch_srv_ping(cs) == 0) {
		snprintf(cs->why, sizeof(cs->why), "port %d is taken by another server", cs->http_port);
		return -1;
	}
	snprintf(path, sizeof(path), "--config-file=%s/config.xml", cs->dir);
	cs->pid = fork();
	if (cs->pid < 0) {
		snprintf(cs->why, sizeof(cs->why), "fork: %s", strerror(errno));
		return -1;
	}
	if (cs->pid == 0) {
		char out[256];
		int fd;

		/* a test that crashes takes its server with it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(out, sizeof(out), "%s/stdout.log", cs->dir);
		fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (chdir(cs->dir) != 0)
			_exit(127);
		execl(bin, bin, path, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) { /* 30 s: it starts in 1-3 s */
		int st;
		if (ch_srv_ping(cs) == 0)
			return 0;
		if (waitpid(cs->pid, &st, WNOHANG) == cs->pid) {
			snprintf(cs->why, sizeof(cs->why), "clickhouse-server exited at start (see %s/stdout.log, err.log)",
				 cs->dir);
			cs->pid = 0;
			return -1;
		}
		usleep(100000);
	}
	snprintf(cs->why, sizeof(cs->why), "clickhouse-server did not answer within 30 s (see %s)", cs->dir);
	kill(cs->pid, SIGKILL);
	waitpid(cs->pid, NULL, 0);
	cs->pid = 0;
	return -1;
}

/* Stops it (SIGTERM, then SIGKILL after 10 s); the data stays for a restart. */
static void ch_server_stop(struct ch_server *cs)
{
	if (cs->pid <= 0)
		return;
	kill(cs->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(cs->pid, NULL, WNOHANG) == cs->pid) {
			cs->pid = 0;
			return;
		}
		usleep(100000);
	}
	kill(cs->pid, SIGKILL);
	waitpid(cs->pid, NULL, 0);
	cs->pid = 0;
}

/* Stops it and removes its dir. */
static void ch_server_destroy(struct ch_server *cs)
{
	char cmd[256];

	ch_server_stop(cs);
	if (cs->dir[0] && strncmp(cs->dir, "/tmp/ztrace-ch-", 15) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cs->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", cs->dir);
	}
	cs->dir[0] = '\0';
}

/* 1: run the ClickHouse half; 0: skip it (reason printed); exits under CI. */
static int ch_server_or_skip(struct ch_server *cs, const char *suite)
{
	if (ch_server_start(cs) == 0) {
		printf("[ clickhouse ] %s: clickhouse-server on 127.0.0.1:%d (%s)\n", suite, cs->http_port, cs->dir);
		return 1;
	}
	if (getenv("CI") && strcmp(getenv("CI"), "true") == 0) {
		fprintf(stderr, "FAIL %s: ClickHouse backend not tested: %s (CI must run it)\n", suite, cs->why);
		ch_server_destroy(cs);
		exit(1);
	}
	printf("SKIP %s on ClickHouse: %s\n", suite, cs->why);
	ch_server_destroy(cs);
	return 0;
}

#endif /* ZT_TEST_CH_SERVER_H */
