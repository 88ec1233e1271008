/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * ztrace.bpf.c - kernel side of ztrace: capture and label, nothing more.
 *
 * Socket syscalls (read/write/readv/writev/recvfrom/sendto/recvmsg/sendmsg/
 * recvmmsg/sendmmsg) are traced with syscall tracepoints: on entry we resolve
 * the fd to a TCP/UDP socket and remember the arguments and the TCP sequence
 * number (write_seq for egress, copied_seq for ingress: the sequence number of
 * the first byte this call moves); on exit, when bytes moved, we copy a
 * bounded payload prefix and emit one struct zt_data_ev per message.
 * Protocol inference, pairing and everything else happen in user space.
 *
 * Only tracepoints: kprobes/fentry may be unavailable (see README).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/events.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define MSG_PEEK 2

/* Set by user space between open and load. */
const volatile __u32 self_tgid = 0;
const volatile __u32 payload_cap = ZT_PAYLOAD_DEFAULT;
/* The capture path (see bpf/README.md). User space alone decides it
 * (choose_capture_path in src/agent/bpf_source.c): fast only where the kernel
 * has bpf_rdonly_cast and task storage, unless --capture-path says compat.
 * Being a load-time constant, the verifier removes the other path as dead
 * code, so a kernel without the fast path's kfunc and map type still loads
 * these programs. */
const volatile bool use_fast_path = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} zt_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZT_CNT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} zt_counters SEC(".maps");

/* How the user buffer of an in-flight syscall is described. */
enum buf_kind {
	BK_BUF = 0,  /* (buf, len) */
	BK_IOV = 1,  /* (struct iovec *, iovcnt) */
	BK_MSG = 2,  /* struct user_msghdr * */
	BK_MMSG = 3, /* (struct mmsghdr *, vlen) */
};

/* Arguments and socket labels of one syscall between entry and exit. */
struct inflight {
	__u64 enter_ns;
	__u64 sk;
	__u64 ino;
	__u64 ubuf;  /* user pointer, meaning per kind */
	__u64 ucnt;  /* len / iovcnt / vlen */
	__u64 uaddr; /* user struct sockaddr * of the peer (sendto/recvfrom), or 0 */
	__u32 netns;
	__s32 fd;
	__u32 seq;
	__u32 flags;
	__u16 family;
	__u16 l4;
	__u16 lport;
	__u16 rport;
	__u8 sys;
	__u8 dir;
	__u8 live; /* task-storage slot holds a syscall in flight */
	__u8 skip; /* skip_seq is set for this direction (zt_sock_lbl) */
	/* fast path: the thread has made a TLS library call (tls_call_begin
	 * set it when it gave the thread its zt_tls_thr entry); only then
	 * does a syscall look that entry up. Kept across syscalls. */
	__u8 tls_thr;
	__u8 _pad[3];
	__u32 skip_seq;
	__u8 laddr[16];
	__u8 raddr[16];
};

/* Where a syscall's entry state waits for its exit: task local storage on
 * the fast path (a pointer per thread, no hash update/delete per syscall:
 * ~0.4 us less per call measured), else a hash by pid_tgid. User space does
 * not create zt_task_io on the compat path and shrinks zt_inflight to one
 * entry on the fast path. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} zt_task_io SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct inflight);
} zt_inflight SEC(".maps");

/* Per-CPU scratch where a record is built before bpf_ringbuf_output(). The
 * payload area is twice the maximum so that masked offsets plus bounded
 * lengths provably stay inside it. */
struct scratch {
	struct zt_data_ev ev;
	__u8 payload[ZT_PAYLOAD_MAX * 2];
	__u32 nrec; /* data records this CPU wrote (wakeup_flag_every) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} zt_scratch SEC(".maps");

/* Kernels >= 6.2 have the bpf_rdonly_cast kfunc: with it and a BTF task
 * pointer, socket lookup is plain loads instead of a dozen
 * bpf_probe_read_kernel calls (measured ~470 ns -> see bench/). Weak, so
 * that older kernels, where only the compat path runs, still load. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&zt_counters, &which);
	if (v)
		*v += 1;
}

static __always_inline void fill_hdr(struct zt_event_hdr *h, __u32 type, __u32 size)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->type = type;
	h->size = size;
	h->ts_ns = bpf_ktime_get_ns();
	h->pid = id >> 32;
	h->tid = (__u32)id;
	if (use_fast_path)
		__builtin_memcpy(h->comm, bpf_get_current_task_btf()->group_leader->comm, sizeof(h->comm));
	else /* the helper call only here: a call the fast path does not use still runs */
		BPF_CORE_READ_INTO(&h->comm, (struct task_struct *)bpf_get_current_task(), group_leader, comm);
}

static __always_inline void v4_mapped(__u8 out[16], __u32 be_addr)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(out + 12, &be_addr, 4);
}

/* fd of the current task -> struct sock, or NULL when fd is not a socket. */
static __always_inline struct sock *fd_to_sock(int fd, __u64 *ino)
{
	struct file *f = NULL;

	if (fd < 0)
		return NULL;
	if (use_fast_path) {
		struct task_struct *task = bpf_get_current_task_btf();
		struct fdtable *fdt = task->files->fdt;
		struct inode *inode;
		struct socket *sock;

		if ((unsigned int)fd >= fdt->max_fds)
			return NULL;
		if (bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]) || !f)
			return NULL;
		f = bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file));
		inode = f->f_inode;
		if (!inode || (inode->i_mode & S_IFMT) != S_IFSOCK)
			return NULL;
		sock = bpf_rdonly_cast(f->private_data, bpf_core_type_id_kernel(struct socket));
		*ino = inode->i_ino;
		return sock->sk;
	} else {
		struct task_struct *task = (void *)bpf_get_current_task();
		struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
		struct file **fds;
		struct inode *inode;
		struct socket *sock;

		if ((unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
			return NULL;
		fds = BPF_CORE_READ(fdt, fd);
		if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
			return NULL;
		inode = BPF_CORE_READ(f, f_inode);
		if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFSOCK)
			return NULL;
		sock = BPF_CORE_READ(f, private_data);
		*ino = BPF_CORE_READ(inode, i_ino);
		return BPF_CORE_READ(sock, sk);
	}
}

/* Labels a TCP or UDP inet socket; returns 0 when it is one we trace. */
static __always_inline int label_sock(struct sock *sk, struct inflight *io)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);

	if (family != AF_INET && family != AF_INET6) {
		/* not traced (yet): counted so that `up` can say how much */
		if (family == AF_UNIX)
			count(ZT_CNT_UNIX);
		return -1;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return -1;
	io->family = family;
	io->l4 = proto;
	io->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	io->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	io->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (family == AF_INET) {
		v4_mapped(io->laddr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		v4_mapped(io->raddr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
	} else {
		BPF_CORE_READ_INTO(&io->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&io->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	return 0;
}

/* Labels of established TCP sockets, cached by struct sock address so that
 * each syscall reads only the sequence number from the socket: the labels
 * take about a dozen kernel reads. An entry is dropped when the socket
 * closes (zt_sock_state) and checked against the inode, which changes when
 * the kernel reuses the struct sock. UDP sockets are not cached: their peer
 * may change with connect(). User space marks sockets `quiet` (events.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock * */
	__type(value, struct zt_sock_lbl);
} zt_socks SEC(".maps");

/* What label_sock_cached found: a socket to trace, none we trace, or one
 * whose data is not captured (quiet; or TLS, whose plaintext comes from the
 * library probes, tls.bpf.h). Quiet and TLS sockets are labelled too: a TLS
 * library's syscalls on them still bind its calls. */
enum lbl_status { LBL_NONE = -1, LBL_OK = 0, LBL_QUIET = 1, LBL_TLS = 2 };

static __always_inline int label_sock_cached(struct sock *sk, struct inflight *io)
{
	__u64 key = (__u64)sk;
	struct zt_sock_lbl *l = bpf_map_lookup_elem(&zt_socks, &key);
	int st = LBL_OK;

	if (l && l->sock_ino == io->ino) {
		st = l->quiet ? LBL_QUIET : l->tls ? LBL_TLS : LBL_OK;
		io->family = l->family;
		io->l4 = IPPROTO_TCP;
		io->skip = (l->skip >> (io->dir & 1)) & 1;
		io->skip_seq = l->skip_seq[io->dir & 1];
		io->lport = l->lport;
		io->rport = l->rport;
		io->netns = l->netns;
		__builtin_memcpy(io->laddr, l->laddr, 16);
		__builtin_memcpy(io->raddr, l->raddr, 16);
	} else {
		if (label_sock(sk, io))
			return LBL_NONE;
		if (io->l4 == IPPROTO_TCP && io->rport) {
			struct zt_sock_lbl n = {
				.sock_ino = io->ino,
				.netns = io->netns,
				.family = io->family,
				.lport = io->lport,
				.rport = io->rport,
			};
			__builtin_memcpy(n.laddr, io->laddr, 16);
			__builtin_memcpy(n.raddr, io->raddr, 16);
			bpf_map_update_elem(&zt_socks, &key, &n, BPF_ANY);
		}
	}
	if (io->l4 == IPPROTO_TCP) {
		if (use_fast_path) {
			struct tcp_sock *tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
			io->seq = io->dir == ZT_DIR_EGRESS ? tp->write_seq : tp->copied_seq;
		} else {
			struct tcp_sock *tp = (void *)sk;
			io->seq = io->dir == ZT_DIR_EGRESS ? BPF_CORE_READ(tp, write_seq)
							   : BPF_CORE_READ(tp, copied_seq);
		}
		io->flags |= ZT_DF_HAS_SEQ;
	}
	return st;
}

/* Peer address from a user sockaddr (unconnected UDP). */
static __always_inline void read_peer(struct zt_data_ev *ev, __u64 uaddr)
{
	struct sockaddr_in6 sa = {};

	if (!uaddr || bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr))
		return;
	if (sa.sin6_family == AF_INET) {
		struct sockaddr_in *s4 = (void *)&sa;
		v4_mapped(ev->raddr, s4->sin_addr.s_addr);
		ev->rport = bpf_ntohs(s4->sin_port);
	} else if (sa.sin6_family == AF_INET6) {
		__builtin_memcpy(ev->raddr, &sa.sin6_addr, 16);
		ev->rport = bpf_ntohs(sa.sin6_port);
	}
}

static __always_inline __u32 want_bytes(__u64 n)
{
	__u32 cap = payload_cap;

	if (cap > ZT_PAYLOAD_MAX)
		cap = ZT_PAYLOAD_MAX;
	return n < cap ? (__u32)n : cap;
}

/* Gathers up to `want` bytes from an iovec array into s->payload. With
 * pairs (a constant: readv/writev only), the iovecs are read two at a time,
 * one helper call less for the common pair (nginx's header and body in one
 * writev). Not for sendmsg/recvmmsg: inside recvmmsg's message loop the
 * verifier's walk grew past its limit (E2BIG at load). */
static __always_inline __u32 gather_iov(struct scratch *s, const struct iovec *iovp, __u64 iovcnt, __u32 want,
					__u32 *flags, bool pairs)
{
	struct iovec pair[2] = {};
	__u32 off = 0;

	for (int i = 0; i < ZT_IOV_MAX; i++) {
		struct iovec iov;
		__u64 take;

		if (i >= iovcnt || off >= want)
			break;
		if (pairs) {
			if (!(i & 1) &&
			    bpf_probe_read_user(pair, iovcnt - i >= 2 ? sizeof(pair) : sizeof(pair[0]), &iovp[i]))
				break;
			iov = pair[i & 1];
		} else if (bpf_probe_read_user(&iov, sizeof(iov), &iovp[i])) {
			break;
		}
		take = iov.iov_len;
		if (take > want - off)
			take = want - off;
		if (take > ZT_PAYLOAD_MAX)
			take = ZT_PAYLOAD_MAX;
		off &= ZT_PAYLOAD_MAX - 1;
		if (bpf_probe_read_user(&s->payload[off], take, iov.iov_base))
			break;
		off += take;
	}
	if (iovcnt > ZT_IOV_MAX && off < want) {
		*flags |= ZT_DF_IOV_TRUNC;
		count(ZT_CNT_IOV_TRUNC);
	}
	return off;
}

/* User space is woken only once ZT_WAKEUP_BYTES wait in the ring; below
 * that it drains the ring on a short timer (zt_bpf_source_poll). A wakeup
 * per event costs an irq_work (an IPI, a VM exit on virtual machines) and a
 * context switch per syscall: measured at several microseconds each. */
static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&zt_events, BPF_RB_AVAIL_DATA) >= ZT_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP
										    : BPF_RB_NO_WAKEUP;
}

/* The ring's fill is looked at on every ZT_WAKEUP_EVERY-th data record of
 * a CPU, not on each: the query (a helper call reading the producer and
 * consumer positions, one written by the other CPUs, one by the agent) was
 * ~10% of a data record's cost in the kernel. 16 records of a CPU are at
 * most 16 * (4 KiB + header), far below ZT_WAKEUP_BYTES: the wakeup comes
 * as early as it did, give or take that. */
#define ZT_WAKEUP_EVERY 16
static __always_inline __u64 wakeup_flag_every(struct scratch *s)
{
	if (++s->nrec % ZT_WAKEUP_EVERY)
		return BPF_RB_NO_WAKEUP;
	return wakeup_flag();
}

static __always_inline void output(struct scratch *s, __u32 caplen)
{
	__u32 size;

	if (caplen > ZT_PAYLOAD_MAX)
		caplen = ZT_PAYLOAD_MAX;
	s->ev.cap_len = caplen;
	if (caplen < s->ev.bytes) {
		s->ev.flags |= ZT_DF_TRUNCATED;
		count(ZT_CNT_PAYLOAD_TRUNC);
	}
	size = sizeof(struct zt_data_ev) + caplen;
	s->ev.hdr.size = size;
	if (bpf_ringbuf_output(&zt_events, s, size, wakeup_flag_every(s)))
		count(ZT_CNT_RING_FULL);
	else
		count(ZT_CNT_EVENTS);
}

#include "bpf/tls.bpf.h"

static __always_inline int on_enter(__u8 sys, __u8 dir, int fd, __u64 ubuf, __u64 ucnt, __u64 uaddr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct inflight stack_io = {};
	struct inflight *io = &stack_io;
	struct sock *sk;
	__u64 ino = 0;
	int st;

	if ((id >> 32) == self_tgid)
		return 0;
	sk = fd_to_sock(fd, &ino);
	if (!sk)
		return 0;
	/* The fast path labels straight into the thread's task-storage slot:
	 * no inflight zeroed on the stack and copied into the slot afterwards
	 * (~120 bytes each way per traced syscall). The slot is created for
	 * any thread using an inet or Unix socket, not only traced ones: one
	 * slot per such thread. What the labels below do not always write is
	 * reset here; live stays 0 until the entry is complete. */
	if (use_fast_path) {
		io = bpf_task_storage_get(&zt_task_io, bpf_get_current_task_btf(), 0,
					  BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!io) {
			count(ZT_CNT_MAP_FULL);
			return 0;
		}
		io->live = 0;
		io->flags = 0;
		io->seq = 0;
		io->skip = 0;
		io->skip_seq = 0;
	}
	io->ino = ino;
	io->dir = dir;
	st = label_sock_cached(sk, io);
	if (st == LBL_NONE)
		return 0;
	/* a TLS library's ciphertext: bound to its call, not captured. On the
	 * fast path only a thread that made a TLS library call has a
	 * zt_tls_thr entry to look up: the hash lookup (a miss for every
	 * other thread) was ~100 ns of each traced syscall. */
	if (tls_enabled && (!use_fast_path || io->tls_thr) && tls_on_syscall(sk, io, fd, sys, ubuf, ucnt))
		return 0;
	if (st == LBL_QUIET) {
		count(ZT_CNT_QUIET);
		return 0;
	}
	if (st == LBL_TLS) {
		count(ZT_CNT_TLS_CIPHER);
		return 0;
	}
	io->enter_ns = bpf_ktime_get_ns();
	io->sk = (__u64)sk;
	io->fd = fd;
	io->sys = sys;
	io->ubuf = ubuf;
	io->ucnt = ucnt;
	io->uaddr = uaddr;
	if (use_fast_path)
		io->live = 1;
	else if (bpf_map_update_elem(&zt_inflight, &id, io, BPF_ANY))
		count(ZT_CNT_MAP_FULL);
	return 0;
}

/* kind is a constant of each exit program (ZT_SYSCALL): only its own
 * branch below is compiled into it, so the verifier walks one buffer kind,
 * not four. */
static __always_inline int on_exit(long ret, enum buf_kind kind)
{
	__u64 id = 0;
	struct inflight *io;
	struct zt_data_ev *ev;
	struct scratch *s;
	__u32 zero = 0;

	if (!use_fast_path) /* the key of zt_inflight; a helper call the fast path does without */
		id = bpf_get_current_pid_tgid();
	if (use_fast_path) {
		io = bpf_task_storage_get(&zt_task_io, bpf_get_current_task_btf(), 0, 0);
		if (!io || !io->live)
			return 0;
	} else {
		io = bpf_map_lookup_elem(&zt_inflight, &id);
		if (!io)
			return 0;
	}
	s = bpf_map_lookup_elem(&zt_scratch, &zero);
	if (!s || ret < 0)
		goto out;
	/* A zero-byte TCP read is the peer's FIN: the end of a body delimited
	 * by close. Zero-byte writes and datagrams carry nothing. */
	if (ret == 0 && !(io->dir == ZT_DIR_INGRESS && io->l4 == IPPROTO_TCP && kind != BK_MMSG))
		goto out;

	ev = &s->ev;
	fill_hdr(&ev->hdr, ZT_EV_DATA, 0);
	ev->enter_ns = io->enter_ns;
	ev->exit_ns = ev->hdr.ts_ns;
	ev->sk = io->sk;
	ev->sock_ino = io->ino;
	ev->netns = io->netns;
	ev->fd = io->fd;
	ev->tcp_seq = io->seq;
	ev->flags = io->flags | (ret == 0 ? ZT_DF_EOF : 0);
	ev->family = io->family;
	ev->l4 = io->l4;
	ev->lport = io->lport;
	/* An unbound UDP socket gets its port from the kernel during its
	 * first sendto/sendmsg/sendmmsg (autobind): the entry saw port 0. */
	if (io->l4 == IPPROTO_UDP && !ev->lport) {
		struct sock *usk = (struct sock *)io->sk;
		ev->lport = BPF_CORE_READ(usk, __sk_common.skc_num);
	}
	ev->rport = io->rport;
	ev->dir = io->dir;
	ev->syscall = io->sys;
	/* the per-CPU scratch is shared with the TLS probes */
	ev->tls_lib = ZT_TLS_NONE;
	__builtin_memset(ev->_pad, 0, sizeof(ev->_pad));
	__builtin_memcpy(ev->laddr, io->laddr, 16);
	__builtin_memcpy(ev->raddr, io->raddr, 16);

	/* all of it inside a body user space said it does not read */
	if (io->skip && io->l4 == IPPROTO_TCP && ret > 0 && kind != BK_MMSG &&
	    (__s32)(io->seq + (__u32)ret - io->skip_seq) <= 0) {
		ev->bytes = ret;
		ev->flags |= ZT_DF_SKIPPED;
		ev->cap_len = 0;
		ev->hdr.size = sizeof(struct zt_data_ev);
		if (bpf_ringbuf_output(&zt_events, s, sizeof(struct zt_data_ev), wakeup_flag_every(s)))
			count(ZT_CNT_RING_FULL);
		else
			count(ZT_CNT_SKIPPED);
		goto out;
	}
	if (kind == BK_BUF) {
		__u32 n = want_bytes(ret);
		ev->bytes = ret;
		if (io->l4 == IPPROTO_UDP && io->rport == 0)
			read_peer(ev, io->uaddr);
		if (n > ZT_PAYLOAD_MAX)
			n = ZT_PAYLOAD_MAX;
		if (bpf_probe_read_user(s->payload, n, (void *)io->ubuf))
			n = 0;
		output(s, n);
	} else if (kind == BK_IOV) {
		ev->bytes = ret;
		output(s, gather_iov(s, (void *)io->ubuf, io->ucnt, want_bytes(ret), &ev->flags, true));
	} else if (kind == BK_MSG) {
		struct user_msghdr msg;
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)io->ubuf))
			goto out;
		ev->bytes = ret;
		if (io->l4 == IPPROTO_UDP && io->rport == 0)
			read_peer(ev, (__u64)msg.msg_name);
		output(s, gather_iov(s, msg.msg_iov, msg.msg_iovlen, want_bytes(ret), &ev->flags, false));
	} else {
		/* sendmmsg/recvmmsg: ret messages; one record each. */
		struct mmsghdr *vec = (void *)io->ubuf;
		__u16 rport0 = ev->rport;
		for (int i = 0; i < ZT_MMSG_MAX; i++) {
			struct mmsghdr mm;
			if (i >= ret)
				break;
			if (bpf_probe_read_user(&mm, sizeof(mm), &vec[i]))
				break;
			ev->bytes = mm.msg_len;
			ev->flags = io->flags | ZT_DF_MMSG;
			ev->rport = rport0;
			if (io->l4 == IPPROTO_UDP && rport0 == 0)
				read_peer(ev, (__u64)mm.msg_hdr.msg_name);
			output(s, gather_iov(s, mm.msg_hdr.msg_iov, mm.msg_hdr.msg_iovlen, want_bytes(mm.msg_len),
					     &ev->flags, false));
		}
		if (ret > ZT_MMSG_MAX)
			count(ZT_CNT_MMSG_TRUNC);
	}
out:
	if (use_fast_path)
		io->live = 0;
	else
		bpf_map_delete_elem(&zt_inflight, &id);
	return 0;
}

#define ARG(n) (ctx->args[n])

/* (name, syscall id, direction, buffer kind, user buf arg, count arg, peer sockaddr arg or -1) */
#define ZT_SYSCALL(name, sys, dir, kind, bufarg, cntarg, addrarg, skip)                                     \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                                         \
	int zt_enter_##name(struct trace_event_raw_sys_enter *ctx)                                          \
	{                                                                                                   \
		if (skip)                                                                                   \
			return 0;                                                                           \
		return on_enter(sys, dir, (int)ARG(0), ARG(bufarg), ARG(cntarg),                            \
				(addrarg) >= 0 ? ARG((addrarg) & 7) : 0);                                   \
	}                                                                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                          \
	int zt_exit_##name(struct trace_event_raw_sys_exit *ctx)                                            \
	{                                                                                                   \
		return on_exit(ctx->ret, kind);                                                             \
	}

/* MSG_PEEK reads are skipped: the same bytes are read again for real. */
ZT_SYSCALL(read, ZT_SYS_READ, ZT_DIR_INGRESS, BK_BUF, 1, 2, -1, 0)
ZT_SYSCALL(write, ZT_SYS_WRITE, ZT_DIR_EGRESS, BK_BUF, 1, 2, -1, 0)
ZT_SYSCALL(readv, ZT_SYS_READV, ZT_DIR_INGRESS, BK_IOV, 1, 2, -1, 0)
ZT_SYSCALL(writev, ZT_SYS_WRITEV, ZT_DIR_EGRESS, BK_IOV, 1, 2, -1, 0)
ZT_SYSCALL(recvfrom, ZT_SYS_RECVFROM, ZT_DIR_INGRESS, BK_BUF, 1, 2, 4, ARG(3) & MSG_PEEK)
ZT_SYSCALL(sendto, ZT_SYS_SENDTO, ZT_DIR_EGRESS, BK_BUF, 1, 2, 4, 0)
ZT_SYSCALL(recvmsg, ZT_SYS_RECVMSG, ZT_DIR_INGRESS, BK_MSG, 1, 2, -1, ARG(2) & MSG_PEEK)
ZT_SYSCALL(sendmsg, ZT_SYS_SENDMSG, ZT_DIR_EGRESS, BK_MSG, 1, 2, -1, 0)
ZT_SYSCALL(recvmmsg, ZT_SYS_RECVMMSG, ZT_DIR_INGRESS, BK_MMSG, 1, 2, -1, ARG(3) & MSG_PEEK)
ZT_SYSCALL(sendmmsg, ZT_SYS_SENDMMSG, ZT_DIR_EGRESS, BK_MMSG, 1, 2, -1, 0)

SEC("tracepoint/sock/inet_sock_set_state")
int zt_sock_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct zt_sock_ev ev = {};
	/* read once: clang may otherwise address ctx at a computed offset,
	 * which the verifier rejects */
	__u32 newstate = *(volatile int *)&ctx->newstate;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (newstate != ZT_TCP_ESTABLISHED && newstate != ZT_TCP_CLOSE)
		return 0;
	fill_hdr(&ev.hdr, ZT_EV_SOCK_STATE, sizeof(ev));
	/* Often runs in softirq: the current task is unrelated. */
	ev.hdr.pid = ev.hdr.tid = 0;
	__builtin_memset(ev.hdr.comm, 0, sizeof(ev.hdr.comm));
	ev.sk = (__u64)ctx->skaddr;
	if (newstate == ZT_TCP_CLOSE)
		bpf_map_delete_elem(&zt_socks, &ev.sk);
	ev.oldstate = ctx->oldstate;
	ev.newstate = newstate;
	ev.family = ctx->family;
	ev.lport = ctx->sport;
	ev.rport = ctx->dport;
	if (ctx->family == AF_INET) {
		__u32 a = 0;
		bpf_probe_read_kernel(&a, 4, ctx->saddr);
		v4_mapped(ev.laddr, a);
		bpf_probe_read_kernel(&a, 4, ctx->daddr);
		v4_mapped(ev.raddr, a);
	} else {
		/* ctx may not be read at a variable offset: copy through a helper */
		bpf_probe_read_kernel(ev.laddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(ev.raddr, 16, ctx->daddr_v6);
	}
	if (bpf_ringbuf_output(&zt_events, &ev, sizeof(ev), wakeup_flag()))
		count(ZT_CNT_RING_FULL);
	else
		count(ZT_CNT_EVENTS);
	return 0;
}

static __always_inline int proc_event(__u32 type)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct zt_proc_ev ev = {};

	fill_hdr(&ev.hdr, type, sizeof(ev));
	ev.ppid = BPF_CORE_READ(task, real_parent, tgid);
	/* an exec wakes user space at once: the new program's TLS libraries
	 * must be probed before it makes its first TLS call (few, cheap) */
	if (bpf_ringbuf_output(&zt_events, &ev, sizeof(ev),
			       type == ZT_EV_PROC_EXEC && tls_enabled ? BPF_RB_FORCE_WAKEUP : wakeup_flag()))
		count(ZT_CNT_RING_FULL);
	else
		count(ZT_CNT_EVENTS);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int zt_proc_exec(void *ctx)
{
	return proc_event(ZT_EV_PROC_EXEC);
}

SEC("tracepoint/sched/sched_process_exit")
int zt_proc_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	/* Threads exit too; only the group leader's exit ends the process. */
	if ((id >> 32) != (__u32)id)
		return 0;
	return proc_event(ZT_EV_PROC_EXIT);
}

/* TLS plaintext of Go's crypto/tls (uprobes attached by src/agent/gotls.c) */
#include "bpf/gotls.bpf.h"
