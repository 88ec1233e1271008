/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * tls.bpf.h - TLS plaintext from uprobes on TLS libraries. Included by
 * ztrace.bpf.c (it uses its maps, scratch record and output path, and its
 * syscall tracepoints call tls_on_syscall()); not a program of its own.
 *
 * OpenSSL (libssl.so 1.1 and 3.x, and the copy linked into node): uprobes
 * on SSL_write, SSL_read, SSL_write_ex, SSL_read_ex at entry save the SSL
 * pointer, the buffer and (the _ex forms) the pointer to the length per
 * thread (zt_tls_thr); uretprobes at return take the length and emit one
 * struct zt_data_ev with ZT_DF_TLS and the captured plaintext (the same
 * capture cap as syscalls). Which library: the attach cookie (enum
 * zt_tls_lib), set by user space per attached file (src/agent/uprobe_tls.c).
 *
 * BINDING: a plaintext record carries the identity, labels and TCP seq of
 * the socket whose ciphertext it is. Found in this order:
 *
 *  1. The syscall the library makes under the call. Between a call's entry
 *     and its return, the thread's TCP socket syscalls (the tracepoints of
 *     ztrace.bpf.c) are the library's own ciphertext I/O: the first one
 *     gives the call its socket and its seq (write_seq / copied_seq at that
 *     syscall's entry, the first ciphertext byte the call moved; for a
 *     read, the last 5-byte record-header read's: the record the plaintext
 *     came from, after records the call consumed first), and none
 *     of them is emitted as data (ZT_CNT_TLS_CIPHER). This is OpenSSL on a
 *     socket BIO: nginx, curl, python, most C programs.
 *  2. A read without a syscall under it: the socket remembered for the SSL
 *     object (zt_tls_ssl, by tgid and SSL pointer, refreshed by every call
 *     bound otherwise, dropped once that socket closed: SSL addresses are
 *     reused) when the thread's last read syscall was on it, else that
 *     last read's socket (rule 3). Served from OpenSSL's buffer, or a
 *     library whose ciphertext goes through a memory BIO (Node: libuv
 *     reads the socket, then calls SSL_read on the same thread).
 *  3. A write without a syscall under it (Node: libuv writes the
 *     ciphertext right after SSL_write returns) waits, one per thread, in
 *     zt_tls_pend until the thread's next write syscall, which gives it its
 *     socket and is not captured.
 *  The seq of a read's plaintext is that of its own record among those
 *  the read brought (tls_read_seq: their headers are read once from the
 *  read's buffer and claimed in order by the calls; a plaintext made of
 *  several records is emitted as one record per TLS record), and a
 *  write's that of its record in the write's buffer (tls_rec_offset): such
 *  buffers often hold other records (a TLS 1.3 client's Finished before
 *  its first request, a server's session tickets before its first
 *  response, an h2 SETTINGS ack before the next HEADERS). For OpenSSL
 *  without read-ahead (5-byte header reads, then the body) a read takes
 *  the seq of its last header read.
 *
 * LIMITS: rules 2 and 3 trust the thread's order of syscalls. A library
 * that hands its ciphertext to another thread, or a thread that writes to
 * another socket between SSL_write and the ciphertext write, binds wrong or
 * not at all (a write still pending when the thread's next SSL_write comes
 * is counted in ZT_CNT_TLS_UNBOUND, as is a read with nothing to bind). The
 * record walk knows AEAD ciphers only (every TLS 1.3 suite, TLS 1.2 GCM and
 * ChaCha20): with CBC suites, memory-BIO plaintexts take their buffer's
 * seq, which may not link. A call whose return probe never runs (the
 * thread died in it) leaves the thread "in a call": its syscalls are taken
 * as ciphertext for at most TLS_CALL_STALE_NS, then traced normally again.
 *
 * Once a socket has been bound by any rule it is marked TLS in
 * zt_socks (zt_sock_lbl.tls): its ciphertext syscalls outside library
 * calls (the handshake's, Node's) are not captured either.
 *
 * For other stacks (Go's crypto/tls: bpf/gotls.bpf.h): call
 * tls_call_begin() at the function's entry on the thread that runs it and
 * tls_call_end() at its return(s) with the byte count; both key on the
 * thread (pid_tgid), and the syscalls between them bind as rule 1 says.
 */
#ifndef ZT_TLS_BPF_H
#define ZT_TLS_BPF_H

/* Set by user space before load: false when `--no-tls` (then the
 * syscall paths skip the per-thread lookup entirely). */
const volatile bool tls_enabled = false;

#define TLS_CALL_STALE_NS (30ULL * 1000000000ULL)
#define TLS_RQ 8 /* records of one read remembered */

/* A socket as a TLS record needs it: identity and labels. */
struct tls_sock {
	__u64 sk;
	__u64 ino;
	__u32 netns;
	__s32 fd;
	__u16 family;
	__u16 lport;
	__u16 rport;
	__u16 _pad;
	__u8 laddr[16];
	__u8 raddr[16];
};

/* Per thread (pid_tgid): the library call in flight, and the thread's
 * last read syscall (rules 2 and 3 above). Created at the thread's first
 * library call; threads that never make one have no entry, and their
 * syscalls pay one failed lookup. */
struct tls_thr {
	__u64 ssl;      /* the library's connection object (SSL *), per tgid */
	__u64 buf;      /* user buffer of the call */
	__u64 lenp;     /* _ex: size_t * that receives the length, else 0 */
	__u64 enter_ns;
	__u8 active;    /* a call is in flight */
	__u8 dir;       /* enum zt_dir */
	__u8 lib;       /* enum zt_tls_lib */
	__u8 bound;     /* rule 1: sock and seq are set */
	__u8 last_ok;   /* last_in is set */
	__u8 pend;      /* a write waits in zt_tls_pend for its socket (rule 3) */
	__u8 rec_ok;    /* rec_seq is set */
	__u8 _pad[1];
	__u32 rec_seq;  /* rule 1, reads: seq of the last record-header read */
	__u32 seq;      /* rule 1: seq of the first syscall under the call */
	__u32 last_seq; /* copied_seq at the entry of the last read syscall */
	__u64 pend_ssl; /* the SSL pointer of the pending write */
	__u64 last_buf; /* user buffer of the last read syscall (read/recvfrom), or 0 */
	/* The records the last read brought (their headers, read once while
	 * the buffer is intact: OpenSSL reuses it), claimed in order by the
	 * calls that return their plaintext (tls_read_seq). */
	__u8 rq_ok;  /* rq_* describe last_buf */
	__u8 rq_n;   /* records */
	__u8 rq_i;   /* the first not claimed yet */
	__u8 _pad3[5];
	__u32 rq_seq[TLS_RQ];
	__u16 rq_len[TLS_RQ]; /* record length after the header, 0: not application data */
	__u64 call_buf; /* rule 1, reads: buffer of the first read under the call */
	struct tls_sock sock;    /* rule 1 */
	struct tls_sock last_in; /* the socket of the thread's last read syscall */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct tls_thr);
} zt_tls_thr SEC(".maps");

struct tls_ssl_key {
	__u64 ssl;
	__u32 tgid;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tls_ssl_key);
	__type(value, struct tls_sock);
} zt_tls_ssl SEC(".maps");

/* A write whose socket is not known yet (rule 3): the record as built at
 * return, a prefix of struct scratch, socket fields filled at the
 * thread's next write syscall. */
struct tls_pend {
	struct zt_data_ev ev;
	__u8 payload[ZT_PAYLOAD_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct tls_pend);
} zt_tls_pend SEC(".maps");

static __always_inline void tls_sock_of(struct tls_sock *so, __u64 sk, const struct inflight *io, int fd)
{
	so->sk = sk;
	so->ino = io->ino;
	so->netns = io->netns;
	so->fd = fd;
	so->family = io->family;
	so->lport = io->lport;
	so->rport = io->rport;
	so->_pad = 0;
	__builtin_memcpy(so->laddr, io->laddr, 16);
	__builtin_memcpy(so->raddr, io->raddr, 16);
}

static __always_inline void tls_fill_sock(struct zt_data_ev *ev, const struct tls_sock *so)
{
	ev->sk = so->sk;
	ev->sock_ino = so->ino;
	ev->netns = so->netns;
	ev->fd = so->fd;
	ev->family = so->family;
	ev->l4 = IPPROTO_TCP;
	ev->lport = so->lport;
	ev->rport = so->rport;
	__builtin_memcpy(ev->laddr, so->laddr, 16);
	__builtin_memcpy(ev->raddr, so->raddr, 16);
}

/* The socket carries TLS: its ciphertext syscalls stop being captured.
 * The first marking clears `quiet` (set when the handshake matched no
 * protocol in user space). */
static __always_inline void tls_mark(const struct tls_sock *so)
{
	__u64 key = so->sk;
	struct zt_sock_lbl *l = bpf_map_lookup_elem(&zt_socks, &key);

	if (l && l->sock_ino == so->ino) {
		if (!l->tls) {
			l->tls = 1;
			l->quiet = 0;
		}
		return;
	}
	if (!so->rport)
		return;
	struct zt_sock_lbl n = {
		.sock_ino = so->ino,
		.netns = so->netns,
		.family = so->family,
		.lport = so->lport,
		.rport = so->rport,
		.tls = 1,
	};
	__builtin_memcpy(n.laddr, so->laddr, 16);
	__builtin_memcpy(n.raddr, so->raddr, 16);
	bpf_map_update_elem(&zt_socks, &key, &n, BPF_ANY);
}

/* user space quieted the socket after its plaintext matched no protocol */
static __always_inline bool tls_quiet(const struct tls_sock *so)
{
	__u64 key = so->sk;
	struct zt_sock_lbl *l = bpf_map_lookup_elem(&zt_socks, &key);

	return l && l->sock_ino == so->ino && l->tls && l->quiet;
}

/* The socket is still the one remembered: its labels are cached under
 * the same inode (the cache entry goes when the socket closes). */
static __always_inline bool tls_sock_live(const struct tls_sock *so)
{
	__u64 key = so->sk;
	struct zt_sock_lbl *l = bpf_map_lookup_elem(&zt_socks, &key);

	return l && l->sock_ino == so->ino;
}

static __always_inline void tls_remember(__u64 ssl, const struct tls_sock *so)
{
	struct tls_ssl_key k = {.ssl = ssl, .tgid = bpf_get_current_pid_tgid() >> 32};

	bpf_map_update_elem(&zt_tls_ssl, &k, so, BPF_ANY);
}

static __always_inline __u32 tls_write_seq(__u64 sk)
{
	struct tcp_sock *tp = (void *)sk;
	return BPF_CORE_READ(tp, write_seq);
}

/* Where the record carrying n plaintext bytes starts in a ciphertext
 * buffer of avail bytes (offset), or -1. A memory BIO's reads and writes
 * carry several records: a TLS 1.3 client's Finished goes out with its
 * first request, a server's session tickets with its first response. The
 * records are walked by their headers; the first application-data record
 * whose length is n plus an AEAD overhead (16: TLS 1.2 ChaCha20; 17: TLS
 * 1.3; 24: TLS 1.2 GCM) is taken. CBC ciphers, or a buffer no longer the
 * caller's, find none: the caller then takes the buffer's own seq. */
#define TLS_REC_WALK 8
static __always_inline int tls_rec_offset(__u64 buf, __u32 avail, __u64 n, __u32 from, __u32 *reclen)
{
	__u32 off = from;

	if (!buf)
		return -1;
	for (int i = 0; i < TLS_REC_WALK; i++) {
		__u8 h[5];
		__u32 rl;

		if (off + 5 > avail || bpf_probe_read_user(h, sizeof(h), (void *)(buf + off)))
			break;
		rl = ((__u32)h[3] << 8) | h[4];
		if (h[0] == 23 && (rl == n + 16 || rl == n + 17 || rl == n + 24)) {
			*reclen = 5 + rl;
			return (int)off;
		}
		off += 5 + rl;
	}
	return -1;
}

/* A read whose plaintext came from several records (an h2 client's
 * SETTINGS ack and its next HEADERS, written by two calls, returned by one
 * read from one read-ahead buffer): where each record starts in the
 * ciphertext and its plaintext length. The plaintext is then emitted as
 * one record per TLS record, each with its own seq, as the writer's calls
 * were: a message starting in the second record gets that record's seq. */
#define TLS_SPLIT_MAX 4
struct tls_split {
	__u32 k; /* records (0: not split) */
	__u32 seq[TLS_SPLIT_MAX];
	__u32 len[TLS_SPLIT_MAX];
};

/* Reads the record headers of the last read's buffer (the bytes up to
 * copied_seq now) into rq_*. */
static __always_inline void tls_rq_snap(struct tls_thr *t)
{
	struct tcp_sock *tp = (void *)t->last_in.sk;
	__u32 avail = BPF_CORE_READ(tp, copied_seq) - t->last_seq, off = 0;
	int i;

	t->rq_ok = 1;
	t->rq_i = 0;
	for (i = 0; i < TLS_RQ; i++) {
		__u8 h[5];

		if (off + 5 > avail || bpf_probe_read_user(h, sizeof(h), (void *)(t->last_buf + off)))
			break;
		t->rq_seq[i] = t->last_seq + off;
		t->rq_len[i] = h[0] == 23 ? (((__u16)h[3] << 8) | h[4]) : 0;
		off += 5 + (((__u32)h[3] << 8) | h[4]);
	}
	t->rq_n = (__u8)i;
}

/* The AEAD overheads (16: TLS 1.2 ChaCha20; 17: TLS 1.3; 24: TLS 1.2 GCM) */
static __always_inline __u32 tls_ovh(int j)
{
	return j == 0 ? 17 : j == 1 ? 24 : 16;
}

/* The seq of a read's plaintext (n bytes) when the thread's last read
 * syscall was on its socket: that read brought its record, maybe after
 * others (a TLS 1.3 client's Finished before its first request, session
 * tickets before a first response). The first unclaimed application-data
 * record whose length is n plus an AEAD overhead is taken; else
 * consecutive ones whose plaintexts add up to n (sp: emitted one per
 * record). The buffer is the caller's while the library decrypts it
 * (Node's libuv buffer, OpenSSL's read-ahead buffer); its headers are read
 * once, at the first call after the read. Returns false when nothing
 * matches (CBC ciphers; OpenSSL without read-ahead reads a record body
 * alone). */
static __always_inline bool tls_read_seq(struct tls_thr *t, __u64 n, __u32 *seq, struct tls_split *sp)
{
	int i, j;

	if (!t->last_buf)
		return false;
	if (!t->rq_ok)
		tls_rq_snap(t);
	for (i = 0; i < TLS_RQ; i++) {
		__u32 rl;

		if (i < t->rq_i)
			continue;
		if (i >= t->rq_n)
			break;
		rl = t->rq_len[i & (TLS_RQ - 1)];
		if (rl && (rl == n + 16 || rl == n + 17 || rl == n + 24)) {
			*seq = t->rq_seq[i & (TLS_RQ - 1)];
			t->rq_i = (__u8)(i + 1);
			return true;
		}
	}
	for (j = 0; j < 3; j++) {
		__u32 o = tls_ovh(j), k = 0;
		__u64 sum = 0;

		for (i = 0; i < TLS_RQ; i++) {
			__u32 rl;

			if (i < t->rq_i)
				continue;
			if (i >= t->rq_n || k >= TLS_SPLIT_MAX)
				break;
			rl = t->rq_len[i & (TLS_RQ - 1)];
			if (rl <= o)
				break;
			sp->seq[k & (TLS_SPLIT_MAX - 1)] = t->rq_seq[i & (TLS_RQ - 1)];
			sp->len[k & (TLS_SPLIT_MAX - 1)] = rl - o;
			k++;
			sum += rl - o;
			if (sum == n) {
				sp->k = k;
				t->rq_i = (__u8)(i + 1);
				*seq = sp->seq[0];
				return true;
			}
			if (sum > n)
				break;
		}
	}
	sp->k = 0;
	return false;
}

/* The pending write (rule 3) meets its ciphertext write: emitted with this
 * socket, and the seq of its record in that write (buf, avail: the write's
 * first buffer) or the write's own. */
static __always_inline void tls_flush_pend(struct tls_thr *t, __u64 id, const struct tls_sock *so, __u32 seq,
					   __u64 buf, __u64 avail)
{
	struct tls_pend *p = bpf_map_lookup_elem(&zt_tls_pend, &id);
	__u32 size, reclen;
	int off;

	t->pend = 0;
	if (!p)
		return;
	tls_remember(t->pend_ssl, so);
	tls_mark(so);
	if (tls_quiet(so)) {
		count(ZT_CNT_QUIET);
		return;
	}
	tls_fill_sock(&p->ev, so);
	off = tls_rec_offset(buf, avail > 0xffff ? 0xffff : (__u32)avail, p->ev.bytes, 0, &reclen);
	p->ev.tcp_seq = off < 0 ? seq : seq + (__u32)off;
	p->ev.flags |= ZT_DF_HAS_SEQ;
	size = p->ev.cap_len;
	if (size > ZT_PAYLOAD_MAX)
		size = ZT_PAYLOAD_MAX;
	size += sizeof(struct zt_data_ev);
	p->ev.hdr.size = size;
	if (bpf_ringbuf_output(&zt_events, p, size, wakeup_flag())) {
		count(ZT_CNT_RING_FULL);
	} else {
		count(ZT_CNT_EVENTS);
		count(ZT_CNT_TLS_EVENTS);
	}
}

/* Called at the entry of every labelled TCP/UDP socket syscall (io holds
 * the labels and seq; sys, ubuf, ucnt: the syscall and its buffer
 * arguments). Returns 1 when the syscall is a library's ciphertext and
 * must not be captured. */
static __always_inline int tls_on_syscall(struct sock *sk, const struct inflight *io, int fd, __u8 sys, __u64 ubuf,
					  __u64 ucnt)
{
	__u64 id = bpf_get_current_pid_tgid();
	bool plain_buf = sys == ZT_SYS_READ || sys == ZT_SYS_RECVFROM || sys == ZT_SYS_WRITE || sys == ZT_SYS_SENDTO;
	struct tls_thr *t;

	if (io->l4 != IPPROTO_TCP)
		return 0;
	t = bpf_map_lookup_elem(&zt_tls_thr, &id);
	if (!t)
		return 0;
	if (io->dir == ZT_DIR_INGRESS) {
		tls_sock_of(&t->last_in, (__u64)sk, io, fd);
		t->last_seq = io->seq;
		t->last_buf = plain_buf ? ubuf : 0;
		t->rq_ok = 0;
		t->last_ok = 1;
	}
	if (t->active && bpf_ktime_get_ns() - t->enter_ns < TLS_CALL_STALE_NS) {
		if (!t->bound) {
			tls_sock_of(&t->sock, (__u64)sk, io, fd);
			t->seq = io->seq;
			t->call_buf = io->dir == ZT_DIR_INGRESS && plain_buf ? ubuf : 0;
			t->bound = 1;
			tls_mark(&t->sock);
		}
		/* OpenSSL reads a record's 5-byte header alone, then its body
		 * (unless read-ahead is on): the plaintext a read returns is
		 * the last record's, after any the call consumed first (TLS
		 * 1.3 session tickets before the first response) */
		if (io->dir == ZT_DIR_INGRESS && plain_buf && ucnt == 5) {
			t->rec_seq = io->seq;
			t->rec_ok = 1;
		}
		count(ZT_CNT_TLS_CIPHER);
		return 1;
	}
	if (t->pend && io->dir == ZT_DIR_EGRESS) {
		struct tls_sock so;
		__u64 buf = 0, avail = 0;

		if (plain_buf) {
			buf = ubuf;
			avail = ucnt;
		} else if (sys == ZT_SYS_WRITEV && ucnt > 0) {
			struct iovec iov;
			if (!bpf_probe_read_user(&iov, sizeof(iov), (void *)ubuf)) {
				buf = (__u64)iov.iov_base;
				avail = iov.iov_len;
			}
		}
		tls_sock_of(&so, (__u64)sk, io, fd);
		tls_flush_pend(t, id, &so, io->seq, buf, avail);
		count(ZT_CNT_TLS_CIPHER);
		return 1;
	}
	return 0;
}

/* ---- the library calls ---- */

/* Entry of a library read/write on this thread. ssl: the connection
 * object (the key of rule 2), buf: the plaintext buffer, lenp: where an
 * _ex call stores the length (0 otherwise). */
static __always_inline int tls_call_begin(__u64 ssl, __u64 buf, __u64 lenp, __u8 dir, __u8 lib)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_thr *t;

	if ((id >> 32) == self_tgid)
		return 0;
	t = bpf_map_lookup_elem(&zt_tls_thr, &id);
	if (!t) {
		struct tls_thr z = {};
		if (use_fast_path) {
			/* the thread's syscalls look its entry up only when
			 * told so (on_enter in ztrace.bpf.c) */
			struct inflight *sl = bpf_task_storage_get(&zt_task_io, bpf_get_current_task_btf(), 0,
								   BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (!sl) {
				count(ZT_CNT_MAP_FULL);
				return 0;
			}
			sl->tls_thr = 1;
		}
		bpf_map_update_elem(&zt_tls_thr, &id, &z, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&zt_tls_thr, &id);
		if (!t) {
			count(ZT_CNT_MAP_FULL);
			return 0;
		}
	}
	t->ssl = ssl;
	t->buf = buf;
	t->lenp = lenp;
	t->dir = dir;
	t->lib = lib;
	t->bound = 0;
	t->rec_ok = 0;
	t->enter_ns = bpf_ktime_get_ns();
	t->active = 1;
	return 0;
}

/* Return of the call begun on this thread: len plaintext bytes at the
 * saved buffer (0: nothing moved, only the binding is kept). */
static __always_inline int tls_call_end(__u64 len)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_thr *t = bpf_map_lookup_elem(&zt_tls_thr, &id);
	struct tls_ssl_key k = {};
	struct tls_split sp = {};
	struct tls_sock *so = NULL;
	struct zt_data_ev *ev;
	struct scratch *s;
	__u32 zero = 0, n, seq = 0;
	bool has_seq = false;

	if (!t || !t->active)
		return 0;
	t->active = 0;
	k.ssl = t->ssl;
	k.tgid = id >> 32;
	if (t->bound) {
		/* rule 1; the SSL object's socket is written only when it changed
		 * (an LRU hash update per call costs) */
		struct tls_sock *old = bpf_map_lookup_elem(&zt_tls_ssl, &k);
		if (!old || old->sk != t->sock.sk || old->ino != t->sock.ino)
			bpf_map_update_elem(&zt_tls_ssl, &k, &t->sock, BPF_ANY);
		so = &t->sock;
		seq = t->dir == ZT_DIR_INGRESS && t->rec_ok ? t->rec_seq : t->seq;
		/* read-ahead: the records the reads under the call brought.
		 * When they filled one buffer one after the other (OpenSSL's
		 * read buffer), it is walked from the first read's start. */
		if (t->dir == ZT_DIR_INGRESS && len > 0 && t->last_in.sk == so->sk) {
			if (t->call_buf && t->call_buf + (__u32)(t->last_seq - t->seq) == t->last_buf) {
				t->last_buf = t->call_buf;
				t->last_seq = t->seq;
				t->rq_ok = 0;
			}
			tls_read_seq(t, len, &seq, &sp);
		}
		has_seq = true;
	} else {
		so = bpf_map_lookup_elem(&zt_tls_ssl, &k);
		if (so && !tls_sock_live(so)) {
			/* the remembered socket closed: the SSL object's address
			 * now belongs to a new connection (Node frees and
			 * reallocates them) */
			bpf_map_delete_elem(&zt_tls_ssl, &k);
			so = NULL;
		}
		if (len == 0)
			return 0;
		if (so && t->dir == ZT_DIR_INGRESS) {
			/* rule 2 */
			if (t->last_ok && t->last_in.sk == so->sk && t->last_in.ino == so->ino) {
				seq = t->last_seq;
				tls_read_seq(t, len, &seq, &sp);
				has_seq = true;
			}
		} else if (t->dir == ZT_DIR_INGRESS) {
			/* rule 3, read */
			if (!t->last_ok) {
				count(ZT_CNT_TLS_UNBOUND);
				return 0;
			}
			so = &t->last_in;
			bpf_map_update_elem(&zt_tls_ssl, &k, so, BPF_ANY);
			tls_mark(so);
			seq = t->last_seq;
			tls_read_seq(t, len, &seq, &sp);
			has_seq = true;
		} else {
			/* a write: its ciphertext goes out with the thread's next
			 * write syscall (rules 2 and 3), where its record is found */
			so = NULL;
		}
	}
	/* so == NULL here: rule 3, write (kept below) */
	if (len == 0)
		return 0;
	if (so && tls_quiet(so)) {
		count(ZT_CNT_QUIET);
		return 0;
	}
	s = bpf_map_lookup_elem(&zt_scratch, &zero);
	if (!s)
		return 0;
	ev = &s->ev;
	fill_hdr(&ev->hdr, ZT_EV_DATA, 0);
	ev->enter_ns = t->enter_ns;
	ev->exit_ns = ev->hdr.ts_ns;
	ev->bytes = len;
	ev->tcp_seq = seq;
	ev->flags = ZT_DF_TLS | (has_seq ? ZT_DF_HAS_SEQ : 0);
	ev->dir = t->dir;
	ev->syscall = t->dir == ZT_DIR_EGRESS ? ZT_SYS_TLS_WRITE : ZT_SYS_TLS_READ;
	ev->tls_lib = t->lib;
	__builtin_memset(ev->_pad, 0, sizeof(ev->_pad));
	n = want_bytes(len);
	if (n > ZT_PAYLOAD_MAX)
		n = ZT_PAYLOAD_MAX;
	if (bpf_probe_read_user(s->payload, n, (void *)t->buf))
		n = 0;
	if (!so) {
		/* rule 3, write: the socket comes with the next write syscall */
		ev->sk = 0;
		ev->sock_ino = 0;
		ev->cap_len = n;
		ev->hdr.size = sizeof(struct zt_data_ev) + n;
		if (n < len) {
			ev->flags |= ZT_DF_TRUNCATED;
			count(ZT_CNT_PAYLOAD_TRUNC);
		}
		if (t->pend)
			count(ZT_CNT_TLS_UNBOUND); /* the older one never met its write */
		if (bpf_map_update_elem(&zt_tls_pend, &id, s, BPF_ANY)) {
			count(ZT_CNT_TLS_UNBOUND);
			return 0;
		}
		t->pend = 1;
		t->pend_ssl = t->ssl;
		return 0;
	}
	tls_fill_sock(ev, so);
	if (sp.k < 2) {
		output(s, n);
		count(ZT_CNT_TLS_EVENTS);
		return 0;
	}
	/* one record per TLS record (tls_read_seq) */
	__u64 pos = 0;
	for (int i = 0; i < TLS_SPLIT_MAX; i++) {
		__u32 l;

		if (i >= sp.k)
			break;
		l = sp.len[i];
		ev->bytes = l;
		ev->tcp_seq = sp.seq[i];
		ev->flags = ZT_DF_TLS | ZT_DF_HAS_SEQ;
		n = want_bytes(l);
		if (n > ZT_PAYLOAD_MAX)
			n = ZT_PAYLOAD_MAX;
		if (bpf_probe_read_user(s->payload, n, (void *)(t->buf + pos)))
			n = 0;
		output(s, n);
		count(ZT_CNT_TLS_EVENTS);
		pos += l;
	}
	return 0;
}

/* OpenSSL: int SSL_write(SSL *, const void *buf, int num),
 * int SSL_read(SSL *, void *buf, int num): the length is the return value.
 * int SSL_write_ex(SSL *, const void *, size_t, size_t *written),
 * int SSL_read_ex(SSL *, void *, size_t, size_t *readbytes): 1 on success,
 * the length in *written / *readbytes. The attach cookie is the library
 * (enum zt_tls_lib). */
SEC("uprobe")
int BPF_KPROBE(zt_ssl_write_enter, void *ssl, const void *buf, int num)
{
	return tls_call_begin((__u64)ssl, (__u64)buf, 0, ZT_DIR_EGRESS, (__u8)bpf_get_attach_cookie(ctx));
}

SEC("uprobe")
int BPF_KPROBE(zt_ssl_read_enter, void *ssl, void *buf, int num)
{
	return tls_call_begin((__u64)ssl, (__u64)buf, 0, ZT_DIR_INGRESS, (__u8)bpf_get_attach_cookie(ctx));
}

SEC("uprobe")
int BPF_KPROBE(zt_ssl_write_ex_enter, void *ssl, const void *buf, __u64 num, __u64 *written)
{
	return tls_call_begin((__u64)ssl, (__u64)buf, (__u64)written, ZT_DIR_EGRESS,
			      (__u8)bpf_get_attach_cookie(ctx));
}

SEC("uprobe")
int BPF_KPROBE(zt_ssl_read_ex_enter, void *ssl, void *buf, __u64 num, __u64 *readbytes)
{
	return tls_call_begin((__u64)ssl, (__u64)buf, (__u64)readbytes, ZT_DIR_INGRESS,
			      (__u8)bpf_get_attach_cookie(ctx));
}

SEC("uretprobe")
int BPF_KRETPROBE(zt_ssl_ret, int ret)
{
	return tls_call_end(ret > 0 ? (__u64)ret : 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(zt_ssl_ex_ret, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_thr *t = bpf_map_lookup_elem(&zt_tls_thr, &id);
	__u64 len = 0;

	if (!t)
		return 0;
	if (ret == 1 && t->lenp)
		bpf_probe_read_user(&len, sizeof(len), (void *)t->lenp);
	return tls_call_end(len);
}

#endif /* ZT_TLS_BPF_H */
