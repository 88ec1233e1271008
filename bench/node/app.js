// A small express service for bench/node.py: GET /api/users/:id returns a
// small JSON body after a little work (a lookup and a hash). Run bare with
// `node app.js`, or under OpenTelemetry's Node SDK with `node -r ./otel.js app.js`.
// PORT (default 3000) picks the port; it listens on 127.0.0.1 only.
'use strict';
const crypto = require('crypto');
const express = require('express');

const port = Number(process.env.PORT || 3000);
const app = express();
app.disable('x-powered-by');

const users = new Map();
for (let i = 0; i < 1000; i++) {
  users.set(String(i), { id: i, name: `user${i}`, email: `user${i}@example.com`, plan: i % 3 ? 'free' : 'pro' });
}

app.get('/api/users/:id', (req, res) => {
  const user = users.get(req.params.id);
  if (!user) {
    res.status(404).json({ error: 'no such user' });
    return;
  }
  const etag = crypto.createHash('sha1').update(user.email).digest('hex').slice(0, 16);
  res.set('ETag', `"${etag}"`).json({ ...user, etag, served: Date.now() });
});

app.get('/healthz', (req, res) => res.type('text').send('ok\n'));

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`app listening on 127.0.0.1:${port}`);
});

// Stop accepting and drop idle keep-alive connections; the process then exits
// once its event loop is empty (otel.js flushes its last batch first).
function stop() {
  server.close();
  server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
