// Node.js https server and client for tests/e2e/tls.py (node 20, its
// statically linked OpenSSL; no npm packages).
//   node tls_node.js server PORT CERT KEY   -> prints "listening" when ready
//   node tls_node.js client URL...          -> one request per URL ("POST URL"
//                                              posts a small JSON body); a new
//                                              connection each (no keep-alive)
//   node tls_node.js h2server PORT CERT KEY -> http2.createSecureServer (ALPN
//                                              h2): /missing 404, /reset the
//                                              server resets the stream
//                                              (NGHTTP2_INTERNAL_ERROR), POST 201
//   node tls_node.js h2client ORIGIN REQ... -> http2.connect, one session, one
//                                              stream per REQ in turn: "GET /p",
//                                              "POST /p", "CANCEL /p" (the client
//                                              sends RST_STREAM CANCEL once the
//                                              response headers came); with
//                                              H2_AUTH set, each request carries
//                                              it as its authorization header
'use strict';
const https = require('https');
const http2 = require('http2');
const fs = require('fs');
const [mode, ...args] = process.argv.slice(2);

if (mode === 'server') {
  const [port, cert, key] = args;
  https.createServer({cert: fs.readFileSync(cert), key: fs.readFileSync(key)}, (req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.url.startsWith('/missing')) {
        res.writeHead(404, {'content-type': 'text/plain'});
        res.end('not here');
      } else if (req.method === 'POST') {
        res.writeHead(201, {'content-type': 'application/json'});
        res.end(JSON.stringify({got: body.length}));
      } else {
        res.writeHead(200, {'content-type': 'text/plain'});
        res.end('node says hi to ' + req.url);
      }
    });
  }).listen(+port, '127.0.0.1', () => console.log('listening'));
} else if (mode === 'client') {
  (async () => {
    for (const a of args) {
      const parts = a.split(' ');
      const method = parts.length > 1 ? parts[0] : 'GET';
      const url = parts[parts.length - 1];
      await new Promise((resolve, reject) => {
        const req = https.request(url, {method, rejectUnauthorized: false, agent: false}, (res) => {
          let n = 0;
          res.on('data', (d) => { n += d.length; });
          res.on('end', () => { console.log(method, url, res.statusCode, n); resolve(); });
        });
        req.on('error', reject);
        if (method === 'POST') req.write(JSON.stringify({hello: 'from node', n: 42}));
        req.end();
      });
    }
  })().catch((e) => { console.error(e); process.exit(1); });
} else if (mode === 'h2server') {
  const [port, cert, key] = args;
  const srv = http2.createSecureServer({cert: fs.readFileSync(cert), key: fs.readFileSync(key)});
  srv.on('stream', (stream, headers) => {
    const path = headers[':path'];
    const method = headers[':method'];
    let n = 0;
    stream.on('data', (d) => { n += d.length; });
    stream.on('error', () => {});
    stream.on('end', () => {
      if (path.startsWith('/reset')) {
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      } else if (path.startsWith('/missing')) {
        stream.respond({':status': 404, 'content-type': 'text/plain'});
        stream.end('not here');
      } else if (path.startsWith('/cancel')) {
        // headers now, the body never: the client cancels the stream
        stream.respond({':status': 200, 'content-type': 'text/plain'});
        stream.write('part one ');
      } else if (method === 'POST') {
        stream.respond({':status': 201, 'content-type': 'application/json'});
        stream.end(JSON.stringify({got: n}));
      } else {
        stream.respond({':status': 200, 'content-type': 'text/plain'});
        stream.end('node h2 says hi to ' + path);
      }
    });
  });
  srv.listen(+port, '127.0.0.1', () => console.log('listening'));
} else if (mode === 'h2client') {
  const [origin, ...reqs] = args;
  const session = http2.connect(origin, {rejectUnauthorized: false});
  session.on('error', (e) => { console.error(e); process.exit(1); });
  (async () => {
    for (const a of reqs) {
      const [verb, path] = a.split(' ');
      const method = verb === 'CANCEL' ? 'GET' : verb;
      await new Promise((resolve) => {
        const hdrs = {':method': method, ':path': path};
        if (process.env.H2_AUTH) hdrs.authorization = process.env.H2_AUTH; // the recording check
        const req = session.request(hdrs);
        let n = 0, status = 0;
        req.on('response', (h) => {
          status = h[':status'];
          if (verb === 'CANCEL') {
            req.close(http2.constants.NGHTTP2_CANCEL);
          }
        });
        req.on('data', (d) => { n += d.length; });
        req.on('error', () => {}); // 'close' follows and says it
        req.on('close', () => {
          if (req.rstCode) console.log(verb, path, 'rst', req.rstCode, status);
          else console.log(verb, path, status, n);
          resolve();
        });
        if (method === 'POST') req.write(JSON.stringify({hello: 'from node h2', n: 42}));
        req.end();
      });
    }
    session.close();
  })().catch((e) => { console.error(e); process.exit(1); });
} else {
  console.error('usage: tls_node.js server|h2server PORT CERT KEY | client URL... | h2client ORIGIN REQ...');
  process.exit(2);
}
