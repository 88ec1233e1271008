// Node's TLS call cost, for bench/tls.py: a tls server and client in this
// process (node's own OpenSSL) on loopback TCP, ITERS ping-pong round trips
// of SIZE bytes. Each round trip is 2 SSL_write and 4 SSL_read calls in
// node's TLSWrap (each read event: SSL_read until it returns WANT_READ).
// Prints "rt_cpu_ns N": CPU time (user+system of the process) per round
// trip, median of 5 slices.
//   node tls_node_calls.js CERT KEY ITERS SIZE
'use strict';
const tls = require('tls');
const fs = require('fs');
const [cert, key, itersS, sizeS] = process.argv.slice(2);
const iters = +itersS, size = +sizeS, slices = 5;
const msg = Buffer.alloc(size, 'x');

const server = tls.createServer({cert: fs.readFileSync(cert), key: fs.readFileSync(key)}, (s) => {
  s.setNoDelay(true);
  let got = 0;
  s.on('data', (d) => { got += d.length; while (got >= size) { got -= size; s.write(msg); } });
});
server.listen(0, '127.0.0.1', () => {
  const c = tls.connect({port: server.address().port, host: '127.0.0.1', rejectUnauthorized: false}, () => {
    c.setNoDelay(true);
    const per = Math.floor(iters / slices), res = [];
    let n = 0, got = 0, cpu0 = process.cpuUsage();
    c.on('data', (d) => {
      got += d.length;
      while (got >= size) {
        got -= size;
        n++;
        if (n % per === 0) {
          const u = process.cpuUsage(cpu0);
          res.push((u.user + u.system) * 1000 / per);
          cpu0 = process.cpuUsage();
          if (res.length === slices) {
            res.sort((a, b) => a - b);
            console.log('rt_cpu_ns', Math.round(res[2]));
            c.destroy(); server.close();
            return;
          }
        }
        c.write(msg);
      }
    });
    c.write(msg);
  });
});
