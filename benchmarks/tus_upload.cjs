// One tus upload with tus-js-client in Node, for `bench.py tus`: prints the upload's URL
// and the seconds from start() to onSuccess as JSON.
//
//   NODE_PATH=demo/node_modules node benchmarks/tus_upload.cjs <endpoint> <file> <chunkSize> <cookie>
'use strict';

const fs = require('fs');
const tus = require('tus-js-client');

const [endpoint, path, chunkSizeText, cookie] = process.argv.slice(2);
const upload = new tus.Upload(fs.createReadStream(path), {
  endpoint,
  chunkSize: Number(chunkSizeText) || Infinity,
  uploadSize: fs.statSync(path).size,
  headers: { Cookie: cookie },
  retryDelays: [],
  metadata: { filename: 'bench.bin', filetype: 'application/octet-stream' },
  onSuccess: () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    process.stdout.write(JSON.stringify({ url: upload.url, seconds }) + '\n');
  },
  onError: (err) => {
    process.stderr.write(`tus upload failed: ${err.message}\n`);
    process.exit(1);
  },
});
const started = process.hrtime.bigint();
upload.start();
