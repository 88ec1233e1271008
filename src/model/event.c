/* SPDX-License-Identifier: MIT */
#include "model/event.h"

#include <errno.h>

int zt_event_check(const void *rec, size_t len, const char **why)
{
	const struct zt_event_hdr *h = rec;

	if (len < sizeof(*h)) {
		*why = "record shorter than an event header";
		return -EINVAL;
	}
	if (h->size != len) {
		*why = "event size field disagrees with the record length";
		return -EINVAL;
	}
	switch (h->type) {
	case ZT_EV_DATA: {
		const struct zt_data_ev *d = rec;
		if (len < sizeof(*d)) {
			*why = "data event shorter than its fixed part";
			return -EINVAL;
		}
		if (d->cap_len > ZT_PAYLOAD_MAX || d->cap_len != len - sizeof(*d)) {
			*why = "data event payload length is inconsistent";
			return -EINVAL;
		}
		if (d->cap_len > d->bytes || d->dir > ZT_DIR_INGRESS) {
			*why = "data event has more payload than bytes, or a bad direction";
			return -EINVAL;
		}
		return 0;
	}
	case ZT_EV_SOCK_STATE:
		if (len != sizeof(struct zt_sock_ev)) {
			*why = "socket state event has the wrong size";
			return -EINVAL;
		}
		return 0;
	case ZT_EV_PROC_EXEC:
	case ZT_EV_PROC_EXIT:
		if (len != sizeof(struct zt_proc_ev)) {
			*why = "process event has the wrong size";
			return -EINVAL;
		}
		return 0;
	default:
		*why = "unknown event type";
		return -EINVAL;
	}
}
