// Node.js https server and client for tests/e2e/tls.py (node 20, its
// statically linked OpenSSL; no npm packages).
//   node tls_node.js server PORT CERT KEY   -> prints "listening" when ready
//   node tls_node.js client URL...          -> one request per URL ("POST URL"
//                                              posts a small JSON body); a new
//                                              connection each (no keep-alive)
'use strict';
const https = require('https');
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
} else {
  console.error('usage: tls_node.js server PORT CERT KEY | client URL...');
  process.exit(2);
}
