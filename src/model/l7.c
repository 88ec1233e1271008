/* SPDX-License-Identifier: MIT */
#include "model/l7.h"

#include <strings.h>

static const char *const l7_names[ZT_L7__COUNT] = {
	[ZT_L7_UNKNOWN] = "unknown",
#define X(id, name) [ZT_L7_##id] = name,
	ZT_L7_LIST(X)
#undef X
};

const char *zt_l7_name(unsigned id)
{
	return id < ZT_L7__COUNT ? l7_names[id] : "unknown";
}

enum zt_l7 zt_l7_from_name(const char *name)
{
	for (unsigned i = 1; name && i < ZT_L7__COUNT; i++)
		if (strcasecmp(name, l7_names[i]) == 0)
			return (enum zt_l7)i;
	return ZT_L7_UNKNOWN;
}
