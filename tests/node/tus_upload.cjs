// Upload a file with tus-js-client in Node, as a Node service would, and print what happened
// as JSON: the upload's URL and the offsets its PATCH requests started at.
//
//   node tus_upload.cjs <endpoint> <file> <chunkSize> [authorization] [stopAfterChunks]
//
// With stopAfterChunks, the first upload is aborted after that many chunks and a second
// tus.Upload continues it from its URL (uploadUrl), as a restarted process would.
'use strict';

const fs = require('fs');
const tus = require('tus-js-client');

const [endpoint, path, chunkSizeText, authorization, stopAfterText] = process.argv.slice(2);
const chunkSize = Number(chunkSizeText) || Infinity;
const stopAfter = Number(stopAfterText) || 0;
const headers = authorization ? { Authorization: authorization } : {};
const size = fs.statSync(path).size;
const patches = [];

const options = (extra) => ({
  endpoint,
  chunkSize,
  headers,
  retryDelays: [],
  uploadSize: size,
  metadata: { filename: 'node upload.bin', filetype: 'application/octet-stream', origin: 'node' },
  onBeforeRequest: (req) => {
    if (req.getMethod() === 'PATCH') patches.push(Number(req.getHeader('Upload-Offset')));
  },
  ...extra,
});

const run = (extra) =>
  new Promise((resolve, reject) => {
    let chunks = 0;
    const upload = new tus.Upload(fs.createReadStream(path), {
      ...options(extra),
      onChunkComplete: () => {
        chunks += 1;
        if (stopAfter && !extra.uploadUrl && chunks === stopAfter) {
          upload.abort().then(() => resolve({ url: upload.url, stopped: true }));
        }
      },
      onSuccess: () => resolve({ url: upload.url, stopped: false }),
      onError: (err) => reject(err),
    });
    upload.start();
  });

(async () => {
  let result = await run({});
  if (result.stopped) result = await run({ uploadUrl: result.url });
  process.stdout.write(JSON.stringify({ url: result.url, patches }) + '\n');
})().catch((err) => {
  process.stderr.write(`tus upload failed: ${err.message}\n`);
  process.exit(1);
});
