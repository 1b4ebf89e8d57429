// django-filepond-server's direct uploads: a FilePond `server.process` function that sends a
// file's bytes straight to the temporary storage's S3 bucket (presigned requests), or to the
// app's own signed target where there is no S3, while the app checks everything before and
// after. FilePond's revert, restore and load stay the app's ordinary endpoints.
//
// With a form field: FilePondField(transport="direct") loads this script before the widget's.
// By hand, after FilePond:
//
//   FilePond.create(input, {
//     server: {
//       url: '/fp/',
//       headers: { 'X-CSRFToken': csrfToken },
//       process: DjangoFilePond.directProcess({ url: '/fp/', headers: { 'X-CSRFToken': csrfToken } }),
//     },
//   });
//
// 1. POST <url>direct/ with the file's name, size, type, form field and metadata: the app
//    checks them and answers with a key and where to send the bytes.
// 2. A file up to the part size goes in one form POST; a larger one in parts, `parallel` at
//    once, each part retried on its own after `retryDelays` (with a freshly signed URL).
// 3. POST <url>direct/complete/ with the key: the app checks the bytes and answers with the
//    upload id, which FilePond keeps like any other (revert, restore, the form's hidden input).
// Cancelling, or a failure, sends POST <url>direct/abort/ so nothing is left behind.
(() => {
  'use strict';

  const registry = (window.DjangoFilePond = window.DjangoFilePond || {});
  registry.transports = registry.transports || {};

  const DEFAULTS = { parallel: 4, retryDelays: [500, 1000, 3000], completeAttempts: 20 };

  class DirectError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // The app answers refusals with one plain sentence; S3 with XML whose <Message> says why.
  const messageOf = (text, status) => {
    if (text && text.trim().startsWith('<')) {
      const xml = new DOMParser().parseFromString(text, 'application/xml');
      const message = xml.querySelector('Message');
      if (message && message.textContent) return message.textContent;
    }
    return (text && text.trim()) || `The upload failed (${status || 'no answer'}).`;
  };

  // One XMLHttpRequest (for upload progress), resolved on 2xx, rejected with a DirectError.
  const send = (method, url, body, onProgress, requests) =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      requests.add(xhr);
      xhr.open(method, url);
      if (onProgress) xhr.upload.onprogress = (event) => onProgress(event.loaded);
      const done = () => requests.delete(xhr);
      xhr.onload = () => {
        done();
        if (xhr.status >= 200 && xhr.status < 300) resolve(xhr);
        else reject(new DirectError(messageOf(xhr.responseText, xhr.status), xhr.status));
      };
      xhr.onerror = () => {
        done();
        reject(new DirectError('The connection to the storage failed.', 0));
      };
      xhr.onabort = () => {
        done();
        reject(new DirectError('Aborted.', 0));
      };
      xhr.send(body);
    });

  const directProcess = (server, settings) => {
    const config = { ...DEFAULTS, ...(settings || {}) };
    const base = (server && server.url) || '/fp/';
    const root = base.endsWith('/') ? base : `${base}/`;
    const headers = (server && typeof server.headers === 'object' && server.headers) || {};

    return (fieldName, file, metadata, load, error, progress, abort) => {
      const requests = new Set();
      const controller = new AbortController();
      let key = null;
      let stopped = false; // no new request starts
      let cancelled = false; // FilePond cancelled the upload

      // The app's own endpoints: small JSON requests with the visitor's session and CSRF token.
      const app = async (path, body, as) => {
        const response = await fetch(root + path, {
          method: 'POST',
          headers: { ...headers, 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
          credentials: config.withCredentials ? 'include' : 'same-origin',
          signal: path === 'direct/abort/' ? undefined : controller.signal,
        });
        if (!response.ok) {
          const error = new DirectError(messageOf(await response.text(), response.status), response.status);
          error.retryAfter = Number(response.headers.get('Retry-After')) || 1;
          throw error;
        }
        return as === 'json' ? response.json() : response.text();
      };

      const stopAll = () => {
        stopped = true;
        controller.abort();
        for (const xhr of [...requests]) xhr.abort();
      };
      const forget = () => {
        if (key) app('direct/abort/', { key }).catch(() => {});
      };

      // Retries `attempt` after each of the delays, as FilePond retries a chunk.
      const withRetries = async (attempt) => {
        for (let index = 0; ; index += 1) {
          try {
            return await attempt(index);
          } catch (failure) {
            if (stopped || index >= config.retryDelays.length) throw failure;
            await sleep(config.retryDelays[index]);
          }
        }
      };

      // A retry that the app's target answers with 409 found the bytes there already: the
      // first try arrived, only its answer was lost.
      const arrivedBefore = (attempt, failure) => attempt > 0 && failure.status === 409;

      const sendWhole = (post) =>
        withRetries(async (attempt) => {
          const form = new FormData();
          for (const [name, value] of Object.entries(post.fields)) form.append(name, value);
          form.append('file', file); // S3 reads the fields before the file: it comes last
          const report = (loaded) => progress(true, Math.min(loaded, file.size), file.size);
          try {
            await send('POST', post.url, form, report, requests);
          } catch (failure) {
            if (!arrivedBefore(attempt, failure)) throw failure;
          }
        });

      const sendParts = async (begun) => {
        const urls = new Map(Object.entries(begun.urls).map(([n, url]) => [Number(n), url]));
        const signing = new Map(); // part number -> the request signing it
        const loaded = new Map();
        const report = () => {
          let sum = 0;
          for (const bytes of loaded.values()) sum += bytes;
          progress(true, Math.min(sum, file.size), file.size);
        };
        // A fresh batch of URLs from the app: the next parts without one, from `number` on.
        const urlFor = async (number) => {
          if (!urls.has(number) && !signing.has(number)) {
            const batch = [];
            for (let n = number; n <= begun.parts && batch.length < 16; n += 1) {
              if (!urls.has(n) && !signing.has(n)) batch.push(n);
            }
            const request = app('direct/parts/', { key, parts: batch }, 'json').then((answer) => {
              for (const [n, url] of Object.entries(answer.urls)) urls.set(Number(n), url);
            });
            for (const n of batch) signing.set(n, request);
            try {
              await request;
            } finally {
              for (const n of batch) signing.delete(n);
            }
          } else if (signing.has(number)) {
            await signing.get(number);
          }
          return urls.get(number);
        };
        const sendPart = (number) =>
          withRetries(async (attempt) => {
            if (attempt > 0) urls.delete(number); // it may have expired: sign it again
            const url = await urlFor(number);
            const start = (number - 1) * begun.partSize;
            const blob = file.slice(start, Math.min(start + begun.partSize, file.size));
            try {
              await send('PUT', url, blob, (bytes) => {
                loaded.set(number, bytes);
                report();
              }, requests);
            } catch (failure) {
              loaded.set(number, 0);
              if (!arrivedBefore(attempt, failure)) throw failure;
            }
            loaded.set(number, blob.size);
            report();
          });
        let next = 1;
        const worker = async () => {
          while (next <= begun.parts && !stopped) {
            const number = next;
            next += 1;
            await sendPart(number);
          }
        };
        const workers = Array.from({ length: Math.min(config.parallel, begun.parts) }, worker);
        try {
          await Promise.all(workers);
        } catch (failure) {
          stopAll(); // one part failed for good: the others stop too
          throw failure;
        }
      };

      const complete = async () => {
        for (let attempt = 1; ; attempt += 1) {
          try {
            return await app('direct/complete/', { key }, 'text');
          } catch (failure) {
            // 503: the file is still being checked (another request runs the checks).
            if (failure.status !== 503 || attempt >= config.completeAttempts) throw failure;
            await sleep(1000 * failure.retryAfter);
          }
        }
      };

      const run = async () => {
        const begun = await app(
          'direct/',
          {
            name: file.name,
            size: file.size,
            type: file.type,
            field: fieldName,
            metadata: JSON.stringify(metadata || {}),
          },
          'json',
        );
        key = begun.key;
        progress(true, 0, file.size);
        if (begun.post) await sendWhole(begun.post);
        else await sendParts(begun);
        return complete();
      };

      run().then(
        (uploadId) => load(uploadId),
        (failure) => {
          if (cancelled) return;
          stopAll();
          forget();
          error(failure.message || String(failure));
        },
      );

      return {
        abort: () => {
          cancelled = true;
          stopAll();
          forget();
          abort();
        },
      };
    };
  };

  registry.directProcess = directProcess;
  // The form widget's way in: (the field's config, FilePond's options) -> server.process.
  registry.transports.direct = (config, options) => directProcess(options.server);
})();
