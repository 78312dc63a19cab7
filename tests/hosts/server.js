'use strict';
// A node host for tests/integration/test_hosts.py: node server.js PORT.
// An http server plus a worker_threads Worker, as in HOSTS.md: every answer
// is computed by the Worker. On SIGTERM it closes, prints "bye <requests>"
// and exits 7.
const http = require('http');
const { Worker } = require('worker_threads');

const worker = new Worker(`
const { parentPort } = require('worker_threads');
parentPort.on('message', (n) => {
  let a = 0;
  for (let i = 0; i < n; i++) a = (a * 31 + i) % 1000003;
  parentPort.postMessage(a);
});
`, { eval: true, name: 'gmr-worker' });

let requests = 0;
const server = http.createServer((req, res) => {
  requests++;
  const n = 1000 + requests;
  worker.once('message', (a) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`hello ${req.url} ${n} ${a}\n`);
  });
  worker.postMessage(n);
});

server.listen(Number(process.argv[2]), '127.0.0.1', () => {
  console.log(`ready ${process.pid}`);
});

process.on('SIGTERM', () => {
  server.close(() => {
    worker.terminate().then(() => {
      console.log(`bye ${requests}`);
      process.exit(7);
    });
  });
});
