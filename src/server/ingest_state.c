/* SPDX-License-Identifier: MIT */
/*
 * ingest_state.c - the durable half of the server's duplicate check: one
 * small file per agent, STATE_DIR/agents/AGENT_ID, holding the highest
 * contiguous seq of that agent whose spans are durable in the store.
 */
#include "server/ingest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int zt_ingest_state_init(const char *dir, char *err, size_t errsz)
{
	char path[4200];

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errsz, "cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/agents", dir) >= sizeof(path)) {
		snprintf(err, errsz, "state directory path too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errsz, "cannot create %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Agent ids are 32 hex digits (checked at Hello): safe as file names. */
uint64_t zt_ingest_state_load(const char *dir, const char *agent_id)
{
	char path[4200], buf[32];
	uint64_t v = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/agents/%s", dir, agent_id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%" SCNu64, &v) != 1)
		return 0; /* damaged: resent batches then fall to the store's duplicate rule */
	return v;
}

int zt_ingest_state_save(const char *dir, const char *agent_id, uint64_t seq)
{
	char path[4200], tmp[4210], buf[32];
	int fd, rc = 0, n;

	snprintf(path, sizeof(path), "%s/agents/%s", dir, agent_id);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", seq);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n)
		rc = -EIO;
	if (!rc && fdatasync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}
