/* SPDX-License-Identifier: MIT */
/*
 * bpf/events.h - the one header shared by the kernel programs and user space.
 *
 * Every record that crosses the BPF ring buffer (and every record in a
 * `ztrace record` file) starts with struct zt_event_hdr. Fields are
 * fixed-width, naturally aligned, explicitly padded and free of pointers, so
 * the layout is the same for clang -target bpf and for the host compiler.
 * Any change to a layout bumps ZT_ABI_VERSION; record files carry it.
 *
 * Variable-size data record (type ZT_EV_DATA):
 *
 *   0                   hdr.size
 *   +-------------------+-----------------------------+
 *   | struct zt_data_ev |  payload[cap_len] (prefix)  |
 *   +-------------------+-----------------------------+
 *   cap_len <= bytes; cap_len < bytes means the payload was cut at the
 *   configured capture size (ZT_DF_TRUNCATED is then set).
 */
#ifndef ZT_EVENTS_H
#define ZT_EVENTS_H

#ifdef __bpf__
/* vmlinux.h provides __u8..__u64 */
#else
#include <linux/types.h>
#endif

#define ZT_ABI_VERSION 1

/* Upper bound of the per-syscall payload capture; the run-time cap
 * (rodata, default ZT_PAYLOAD_DEFAULT) may be set anywhere in 0..MAX.
 * Must stay a power of two: the BPF side masks offsets with MAX-1. */
#define ZT_PAYLOAD_MAX 4096
#define ZT_PAYLOAD_DEFAULT 1024
/* Ring bytes pending before the kernel wakes the agent; below that the
 * agent drains on a timer of ZT_DRAIN_MS. */
#define ZT_WAKEUP_BYTES (512u << 10)
#define ZT_DRAIN_MS 50
#define ZT_COMM_LEN 16

enum zt_event_type {
	ZT_EV_DATA = 1,       /* struct zt_data_ev: one socket syscall's data */
	ZT_EV_SOCK_STATE = 2, /* struct zt_sock_ev: TCP state change */
	ZT_EV_PROC_EXEC = 3,  /* struct zt_proc_ev: a process exec'd */
	ZT_EV_PROC_EXIT = 4,  /* struct zt_proc_ev: a thread-group leader exited */
};

/* Which syscall produced a data event (for display and for tests). */
enum zt_syscall {
	ZT_SYS_READ = 1,
	ZT_SYS_WRITE,
	ZT_SYS_READV,
	ZT_SYS_WRITEV,
	ZT_SYS_RECVFROM,
	ZT_SYS_SENDTO,
	ZT_SYS_RECVMSG,
	ZT_SYS_SENDMSG,
	ZT_SYS_RECVMMSG,
	ZT_SYS_SENDMMSG,
	ZT_SYS_TLS_READ,  /* a TLS library's read (ZT_DF_TLS) */
	ZT_SYS_TLS_WRITE, /* a TLS library's write (ZT_DF_TLS) */
	ZT_SYS__COUNT,
};

enum zt_dir {
	ZT_DIR_EGRESS = 0,  /* the process wrote/sent the bytes */
	ZT_DIR_INGRESS = 1, /* the process read/received the bytes */
};

/* zt_data_ev.flags */
enum zt_data_flags {
	ZT_DF_TRUNCATED = 1u << 0, /* cap_len < bytes: payload cut at the cap */
	ZT_DF_HAS_SEQ = 1u << 1,   /* tcp_seq is valid (TCP only) */
	ZT_DF_EOF = 1u << 2,       /* ingress read returned 0: peer closed */
	ZT_DF_IOV_TRUNC = 1u << 3, /* more iovecs than the gatherer walks */
	ZT_DF_MMSG = 1u << 4,      /* one message of a sendmmsg/recvmmsg batch */
	/* Not a process's syscall but packets seen at a network tap (the pcap
	 * source, src/agent/pcap_source.h): the session gives the spans the
	 * NIC tap sides. The kernel programs never set it; record files
	 * carry only what the kernel wrote. A new flag bit changes no layout:
	 * ZT_ABI_VERSION stays. */
	ZT_DF_NIC = 1u << 5,
	/* no payload on purpose: every byte lies inside a message body user
	 * space said it does not read (zt_sock_lbl.skip_seq) */
	ZT_DF_SKIPPED = 1u << 6,
	/* TLS plaintext read by a uprobe on a TLS library (OpenSSL's
	 * SSL_read/SSL_write[_ex], Node's static OpenSSL, Go's crypto/tls
	 * (*Conn).Read/Write), not a syscall's bytes. The socket identity
	 * (sk, sock_ino, fd, addresses, ports) and tcp_seq are those of the
	 * ciphertext syscall the library made under the call on that thread
	 * (or goroutine), so client and server spans still link by TCP seq;
	 * `syscall` says which library call (ZT_SYS_TLS_*), `tls_lib` which
	 * stack (enum zt_tls_lib). Once a socket carries TLS plaintext its
	 * ciphertext syscalls are not parsed. */
	ZT_DF_TLS = 1u << 7,
};

/* zt_data_ev.tls_lib (with ZT_DF_TLS) */
enum zt_tls_lib {
	ZT_TLS_NONE = 0,
	ZT_TLS_OPENSSL = 1, /* libssl.so (1.1, 3.x) */
	ZT_TLS_NODE = 2,    /* the OpenSSL linked into the node binary */
	ZT_TLS_GO = 3,      /* Go crypto/tls */
};

/* Drop and loss counters, one slot each in the per-CPU array map
 * `zt_counters`. User space sums the CPUs. */
enum zt_counter {
	ZT_CNT_EVENTS = 0,      /* records written to the ring buffer */
	ZT_CNT_RING_FULL,       /* records lost: ring buffer full */
	ZT_CNT_MAP_FULL,        /* syscalls lost: in-flight map full */
	ZT_CNT_PAYLOAD_TRUNC,   /* payloads cut at the capture cap */
	ZT_CNT_IOV_TRUNC,       /* iovec arrays longer than ZT_IOV_MAX */
	ZT_CNT_MMSG_TRUNC,      /* mmsg batches longer than ZT_MMSG_MAX */
	ZT_CNT_QUIET,           /* syscalls not captured: socket marked quiet (below) */
	ZT_CNT_UNIX,            /* syscalls on Unix-domain sockets: not traced */
	ZT_CNT_SKIPPED,         /* syscalls inside a known message body: payload not copied */
	ZT_CNT_TLS_EVENTS,      /* TLS plaintext records written (ZT_DF_TLS; also in EVENTS) */
	ZT_CNT_TLS_CIPHER,      /* ciphertext syscalls of TLS sockets not captured (the plaintext is) */
	ZT_CNT_TLS_UNBOUND,     /* TLS plaintext dropped: no socket could be bound to the call */
	ZT_CNT__COUNT,
};

#define ZT_IOV_MAX 12 /* iovecs gathered per syscall */
#define ZT_MMSG_MAX 8 /* messages reported per sendmmsg/recvmmsg */

struct zt_event_hdr {
	__u32 type;  /* enum zt_event_type */
	__u32 size;  /* whole record, header and payload included */
	__u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) when recorded */
	__u32 pid;   /* thread-group id */
	__u32 tid;
	char comm[ZT_COMM_LEN]; /* comm of the thread-group leader */
};

struct zt_data_ev {
	struct zt_event_hdr hdr;
	__u64 enter_ns; /* syscall entry */
	__u64 exit_ns;  /* syscall exit (== hdr.ts_ns) */
	__u64 sk;       /* kernel struct sock address: identity while open */
	__u64 sock_ino; /* socket inode: tells a reused sk address apart */
	__u64 bytes;    /* bytes the syscall transferred (this message) */
	__u32 netns;    /* network namespace inode */
	__s32 fd;
	__u32 tcp_seq;  /* seq of the first byte (write_seq / copied_seq at entry) */
	__u32 flags;    /* enum zt_data_flags */
	__u32 cap_len;  /* payload bytes that follow */
	__u16 family;   /* AF_INET or AF_INET6 (addresses are always v6-form) */
	__u16 l4;       /* IPPROTO_TCP or IPPROTO_UDP */
	__u16 lport;    /* local port, host order */
	__u16 rport;    /* remote port, host order */
	__u8 dir;       /* enum zt_dir */
	__u8 syscall;   /* enum zt_syscall */
	__u8 tls_lib;   /* enum zt_tls_lib, with ZT_DF_TLS */
	__u8 _pad[5];
	__u8 laddr[16]; /* local address, IPv4 as ::ffff:a.b.c.d */
	__u8 raddr[16]; /* remote address, IPv4 as ::ffff:a.b.c.d */
	/* __u8 payload[cap_len] follows */
};

/* TCP states as in include/net/tcp_states.h */
#define ZT_TCP_ESTABLISHED 1
#define ZT_TCP_SYN_SENT 2
#define ZT_TCP_SYN_RECV 3
#define ZT_TCP_CLOSE 7

struct zt_sock_ev {
	struct zt_event_hdr hdr;
	__u64 sk;
	__u32 oldstate;
	__u32 newstate;
	__u16 family;
	__u16 lport; /* host order */
	__u16 rport; /* host order */
	__u16 _pad;
	__u8 laddr[16];
	__u8 raddr[16];
};

struct zt_proc_ev {
	struct zt_event_hdr hdr; /* hdr.comm: the new comm after exec */
	__u32 ppid;
	__u32 _pad;
};

#define ZT_ASSERT_SIZE(t, n) _Static_assert(sizeof(t) == (n), #t " size is ABI")

/* Value of the kernel's `zt_socks` map (LRU hash keyed by the struct sock
 * address, zt_data_ev.sk): labels of an established TCP socket, cached so
 * each syscall reads only the sequence number. User space also writes it:
 * once a connection's first bytes match no known protocol it sets `quiet`,
 * and the kernel stops capturing that socket's data (ZT_CNT_QUIET), saving
 * the payload copy and ring record of traffic nobody parses. `sock_ino`
 * guards against the kernel reusing the struct sock for another socket. */
struct zt_sock_lbl {
	__u64 sock_ino;
	__u32 netns;
	__u16 family;
	__u16 lport;
	__u16 rport;
	__u8 quiet;
	__u8 skip;          /* bit d: skip_seq[d] is set (below) */
	/* Set by the kernel once a TLS library call (bpf/tls.bpf.h) made a
	 * syscall on this socket: its ciphertext syscalls are no longer
	 * captured (ZT_CNT_TLS_CIPHER), its plaintext is. Setting it clears
	 * `quiet` (the handshake matched no protocol); a later `quiet` from
	 * user space then stops the plaintext too. */
	__u8 tls;
	__u8 _pad[3];
	__u8 laddr[16];
	__u8 raddr[16];
	/* Body skipping: user space knows that the bytes of direction d before
	 * TCP seq skip_seq[d] are a message body no parser reads (an HTTP body
	 * of known length...). A syscall whose bytes all lie before it is
	 * reported with its byte count and no payload (ZT_CNT_SKIPPED): bulk
	 * transfers cost no 1 KiB copy per syscall. Not recorded in files. */
	__u32 skip_seq[2];
};
ZT_ASSERT_SIZE(struct zt_event_hdr, 40);
ZT_ASSERT_SIZE(struct zt_data_ev, 40 + 40 + 24 + 8 + 8 + 32);
ZT_ASSERT_SIZE(struct zt_sock_ev, 40 + 8 + 8 + 8 + 32);
ZT_ASSERT_SIZE(struct zt_proc_ev, 48);
ZT_ASSERT_SIZE(struct zt_sock_lbl, 64); /* a map value shared with user space, never recorded */

#define ZT_EVENT_MAX_SIZE (sizeof(struct zt_data_ev) + ZT_PAYLOAD_MAX)

#endif /* ZT_EVENTS_H */
