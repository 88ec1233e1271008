/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * gotls.bpf.h - plaintext of Go crypto/tls connections (included by
 * ztrace.bpf.c after the syscall programs, whose helpers it uses).
 *
 * Probes, all uprobes placed by src/agent/gotls.c at file offsets that
 * src/agent/gobin.c found; the attach cookie indexes gotls_cfgs (one entry
 * per probed executable):
 *   zt_gotls_write_enter  crypto/tls.(*Conn).Write entry: emits the record
 *   zt_gotls_read_enter   crypto/tls.(*Conn).Read entry
 *   zt_gotls_read_ret     every RET instruction of (*Conn).Read
 *   zt_gotls_decrypt      crypto/tls.(*halfConn).decrypt entry
 * No uretprobes: Go copies a goroutine's stack elsewhere when it grows,
 * taking a uretprobe's planted return address with it (gobin.h).
 *
 * Go's register ABI (1.17+, ABIInternal): arguments and results in
 * RAX, RBX, RCX, RDI... on x86-64 (R0.. on arm64); the current g is in R14
 * (R28 on arm64) at every instruction of Go code. (*Conn).Read(b) gets
 * c=RAX, b.ptr=RBX, b.len=RCX and returns n=RAX, err=(RBX,RCX).
 *
 * A Write is emitted at its entry, with the whole buffer: Go's Write
 * writes all of it or fails with the connection broken. At its return
 * would be too late: the peer's answer can be read (and emitted) by
 * another goroutine on another CPU before the writing goroutine runs its
 * RET, and the session would see the response before its request (seen
 * on loopback: one exchange in ten on a keep-alive connection). The cost
 * of emitting at entry: a failed Write's bytes are reported as sent.
 *
 * A Read is emitted at its return (the bytes are there only then). State
 * from entry to return is keyed by (tgid, g), not by thread: a Read that
 * finds no data parks its goroutine in the netpoller and may resume on
 * another thread (M), but the g pointer stays the goroutine's for its
 * life, and a goroutine runs one Read at a time.
 *
 * Socket: from the Go structures, not from a syscall under the call. The
 * syscall would have to be matched to the goroutine (the netpoller again),
 * and a Read served from bytes Go buffered earlier makes no syscall at all.
 * (tls.bpf.h's tls_call_begin/tls_call_end bind by the thread's syscalls
 * between entry and return: right for OpenSSL, wrong for Go on both
 * counts.) The chain tls.Conn.conn (net.Conn interface at offset 0) -> data pointer
 * (*net.TCPConn, whose first word is its *netFD) -> netFD.pfd.Sysfd (offset
 * 16) has been the same from Go 1.9 to 1.22; when the binary has a symbol
 * table the interface's itab is checked to be *net.TCPConn's first. The fd
 * then resolves to the socket in the process's own fd table, as for a
 * syscall, and the socket is marked TLS (tls_mark): its ciphertext
 * syscalls are no longer captured.
 *
 * TCP sequence (so that client and server spans link, joiner.h): the seq of
 * the first byte of the TLS record that carries the plaintext's first byte.
 *   Write: write_seq at entry. Go writes its records synchronously under
 *          the connection's write lock, so the first record starts there
 *          (provided the handshake was done before: net/http does it
 *          explicitly on both sides).
 *   Read:  a Read returns bytes of one record only (tls.Conn.input holds
 *          one decrypted record), the last one decrypted on the connection
 *          before the Read returned. At (*halfConn).decrypt entry the record
 *          was just cut off the front of Conn.rawInput, so it started at
 *          copied_seq - rawInput.Len() - len(record); kept per tls.Conn in
 *          gotls_recseq. Needs offsetof(Conn, in) and offsetof(Conn,
 *          rawInput), per Go version (gotls.c); where they are unknown
 *          reads come without a seq (they still become spans, unlinked).
 */
#ifndef ZT_GOTLS_BPF_H
#define ZT_GOTLS_BPF_H

#define ZT_GOTLS_MAX_BIN 256
#define GO_REC_APPDATA 23 /* TLS record type application_data */

#if defined(__TARGET_ARCH_x86)
#define GO_ARG1(r) ((r)->ax)
#define GO_ARG2(r) ((r)->bx)
#define GO_ARG3(r) ((r)->cx)
#define GO_G(r) ((r)->r14)
#elif defined(__TARGET_ARCH_arm64)
#define GO_ARG1(r) ((r)->regs[0])
#define GO_ARG2(r) ((r)->regs[1])
#define GO_ARG3(r) ((r)->regs[2])
#define GO_G(r) ((r)->regs[28])
#else
#error "Go TLS probes: x86-64 or arm64 only"
#endif
#define GO_RET_N(r) GO_ARG1(r)

/* Per probed executable (user space fills it before attaching). */
struct gotls_cfg {
	__u64 itab_tcpconn; /* go.itab.*net.TCPConn,net.Conn; 0: not checked */
	__u32 off_in;       /* offsetof(tls.Conn, in); 0: unknown (reads get no seq) */
	__u32 off_rawinput; /* offsetof(tls.Conn, rawInput) (a bytes.Buffer) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZT_GOTLS_MAX_BIN);
	__type(key, __u32);
	__type(value, struct gotls_cfg);
} zt_gotls_cfgs SEC(".maps");

struct gotls_key {
	__u32 tgid;
	__u32 dir; /* ZT_DIR_INGRESS: only Reads keep state (Writes emit at entry) */
	__u64 g; /* runtime.g of the calling goroutine */
};

struct gotls_call {
	struct tls_sock so;
	__u64 conn;     /* *tls.Conn */
	__u64 buf, len; /* the []byte argument */
	__u64 enter_ns;
};

/* LRU: a call whose return we never see (a panic unwinding through it)
 * ages out instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct gotls_key);
	__type(value, struct gotls_call);
} zt_gotls_calls SEC(".maps");

struct gotls_rkey {
	__u32 tgid;
	__u32 _pad;
	__u64 conn; /* *tls.Conn */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct gotls_rkey);
	__type(value, __u32); /* seq of the last application-data record decrypted */
} zt_gotls_recseq SEC(".maps");

static __always_inline struct gotls_cfg *gotls_cfg(void *ctx)
{
	__u32 idx = (__u32)bpf_get_attach_cookie(ctx);
	return bpf_map_lookup_elem(&zt_gotls_cfgs, &idx);
}

/* tls.Conn -> the fd of its *net.TCPConn (see the top), or -1. */
static __always_inline int gotls_fd(__u64 conn, const struct gotls_cfg *cfg)
{
	struct {
		__u64 tab;
		__u64 data;
	} iface;
	__u64 netfd = 0;
	__s64 fd = -1;

	if (bpf_probe_read_user(&iface, sizeof(iface), (void *)conn) || !iface.data)
		return -1;
	if (cfg->itab_tcpconn && iface.tab != cfg->itab_tcpconn)
		return -1;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)iface.data) || !netfd)
		return -1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(netfd + 16)))
		return -1;
	return fd >= 0 && fd < (1 << 24) ? (int)fd : -1;
}

/* The socket under a tls.Conn, TCP only, into so; marks it TLS. Unlike a
 * syscall, a socket user space set quiet before it carried plaintext (its
 * handshake matched nothing) is labelled: tls_mark clears that. */
static __always_inline int gotls_sock(__u64 conn, const struct gotls_cfg *cfg, struct tls_sock *so)
{
	struct inflight io = {};
	struct zt_sock_lbl *l;
	struct sock *sk;
	__u64 key;
	int fd = gotls_fd(conn, cfg);

	sk = fd_to_sock(fd, &io.ino);
	if (!sk)
		return -1;
	key = (__u64)sk;
	l = bpf_map_lookup_elem(&zt_socks, &key);
	if (l && l->sock_ino == io.ino) {
		io.family = l->family;
		io.l4 = IPPROTO_TCP;
		io.lport = l->lport;
		io.rport = l->rport;
		io.netns = l->netns;
		__builtin_memcpy(io.laddr, l->laddr, 16);
		__builtin_memcpy(io.raddr, l->raddr, 16);
	} else if (label_sock(sk, &io) || io.l4 != IPPROTO_TCP) {
		return -1;
	}
	tls_sock_of(so, key, &io, fd);
	tls_mark(so);
	return 0;
}

static __always_inline __u32 gotls_write_seq(__u64 sk)
{
	struct tcp_sock *tp = (void *)sk;

	if (use_fast_path) {
		tp = bpf_rdonly_cast((void *)sk, bpf_core_type_id_kernel(struct tcp_sock));
		return tp->write_seq;
	}
	return BPF_CORE_READ(tp, write_seq);
}

/* copied_seq as a count of data bytes read: the peer's FIN takes a
 * sequence number too, which the read that meets it adds to copied_seq (a
 * response followed by the server's close comes in one read). Consumed iff
 * a FIN came (RCV_SHUTDOWN) and copied_seq caught up with rcv_nxt, which
 * the FIN advanced. */
static __always_inline __u32 gotls_read_seq(__u64 skp)
{
	struct tcp_sock *tp = (void *)skp;
	struct sock *sk = (void *)skp;
	__u32 copied = BPF_CORE_READ(tp, copied_seq);
	__u8 shut = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown);

	if ((shut & 1) && copied == BPF_CORE_READ(tp, rcv_nxt))
		copied--;
	return copied;
}

/* Emits one plaintext record of so (ZT_DF_TLS, tls_lib Go). */
static __always_inline void gotls_emit(const struct tls_sock *so, __u8 dir, __u64 enter_ns, __u64 buf, __u64 len,
				       __u32 seq, bool has_seq)
{
	struct zt_data_ev *ev;
	struct scratch *s;
	__u32 zero = 0, n;

	if (tls_quiet(so)) {
		count(ZT_CNT_QUIET);
		return;
	}
	s = bpf_map_lookup_elem(&zt_scratch, &zero);
	if (!s)
		return;
	ev = &s->ev;
	fill_hdr(&ev->hdr, ZT_EV_DATA, 0);
	ev->enter_ns = enter_ns;
	ev->exit_ns = ev->hdr.ts_ns;
	tls_fill_sock(ev, so);
	ev->tcp_seq = seq;
	ev->flags = ZT_DF_TLS | (has_seq ? ZT_DF_HAS_SEQ : 0);
	ev->dir = dir;
	ev->syscall = dir == ZT_DIR_EGRESS ? ZT_SYS_TLS_WRITE : ZT_SYS_TLS_READ;
	ev->tls_lib = ZT_TLS_GO;
	__builtin_memset(ev->_pad, 0, sizeof(ev->_pad));
	ev->bytes = len;
	n = want_bytes(len);
	if (n > ZT_PAYLOAD_MAX)
		n = ZT_PAYLOAD_MAX;
	if (bpf_probe_read_user(s->payload, n, (void *)buf))
		n = 0;
	output(s, n);
	count(ZT_CNT_TLS_EVENTS);
}

SEC("uprobe")
int zt_gotls_write_enter(struct pt_regs *ctx)
{
	struct gotls_cfg *cfg = gotls_cfg(ctx);
	__u64 len = GO_ARG3(ctx);
	struct tls_sock so;
	__u64 t0;

	if (!cfg || (bpf_get_current_pid_tgid() >> 32) == self_tgid || len == 0)
		return 0;
	t0 = bpf_ktime_get_ns();
	if (gotls_sock(GO_ARG1(ctx), cfg, &so)) {
		count(ZT_CNT_TLS_UNBOUND);
		return 0;
	}
	gotls_emit(&so, ZT_DIR_EGRESS, t0, GO_ARG2(ctx), len, gotls_write_seq(so.sk), true);
	return 0;
}

SEC("uprobe")
int zt_gotls_read_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct gotls_key key = {.tgid = id >> 32, .dir = ZT_DIR_INGRESS, .g = GO_G(ctx)};
	struct gotls_cfg *cfg = gotls_cfg(ctx);
	struct gotls_call c = {};

	if (!cfg || key.tgid == self_tgid)
		return 0;
	c.conn = GO_ARG1(ctx);
	if (gotls_sock(c.conn, cfg, &c.so)) {
		count(ZT_CNT_TLS_UNBOUND);
		return 0;
	}
	c.enter_ns = bpf_ktime_get_ns();
	c.buf = GO_ARG2(ctx);
	c.len = GO_ARG3(ctx);
	if (bpf_map_update_elem(&zt_gotls_calls, &key, &c, BPF_ANY))
		count(ZT_CNT_MAP_FULL);
	return 0;
}

/* At every RET of (*Conn).Read: n in the first result register. (0, EOF)
 * is the peer's close_notify: nothing to report (the socket's close comes
 * from its state change). */
SEC("uprobe")
int zt_gotls_read_ret(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct gotls_key key = {.tgid = id >> 32, .dir = ZT_DIR_INGRESS, .g = GO_G(ctx)};
	struct gotls_call *c = bpf_map_lookup_elem(&zt_gotls_calls, &key);
	__s64 ret = (__s64)GO_RET_N(ctx);
	struct gotls_cfg *cfg = gotls_cfg(ctx);

	if (!c)
		return 0;
	if (cfg && ret > 0 && (__u64)ret <= c->len) {
		struct gotls_rkey rk = {.tgid = key.tgid, .conn = c->conn};
		__u32 *seq = cfg->off_in ? bpf_map_lookup_elem(&zt_gotls_recseq, &rk) : NULL;
		gotls_emit(&c->so, ZT_DIR_INGRESS, c->enter_ns, c->buf, ret, seq ? *seq : 0, seq != NULL);
	}
	bpf_map_delete_elem(&zt_gotls_calls, &key);
	return 0;
}

/* (*halfConn).decrypt(record []byte): hc=ARG1, record=(ARG2, ARG3). Only
 * c.in decrypts, so the tls.Conn is hc - offsetof(Conn, in). */
SEC("uprobe")
int zt_gotls_decrypt(struct pt_regs *ctx)
{
	struct gotls_cfg *cfg = gotls_cfg(ctx);
	struct tls_sock so;
	struct {
		__u64 ptr, len, cap, off; /* bytes.Buffer: buf []byte, off int */
	} raw;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 reclen = GO_ARG3(ctx), conn;
	__u8 type = 0;
	__u32 seq;

	if (!cfg || !cfg->off_in || (id >> 32) == self_tgid)
		return 0;
	/* TLS 1.2 alerts come in records of their own type; TLS 1.3 hides
	 * every type behind application_data, and then the Read that gets
	 * data from a later record overwrites this one */
	if (bpf_probe_read_user(&type, 1, (void *)GO_ARG2(ctx)) || type != GO_REC_APPDATA)
		return 0;
	conn = GO_ARG1(ctx) - cfg->off_in;
	if (bpf_probe_read_user(&raw, sizeof(raw), (void *)(conn + cfg->off_rawinput)) || raw.off > raw.len)
		return 0;
	if (gotls_sock(conn, cfg, &so))
		return 0;
	seq = gotls_read_seq(so.sk) - (__u32)(raw.len - raw.off) - (__u32)reclen;
	struct gotls_rkey rk = {.tgid = id >> 32, .conn = conn};
	bpf_map_update_elem(&zt_gotls_recseq, &rk, &seq, BPF_ANY);
	return 0;
}

#endif /* ZT_GOTLS_BPF_H */
