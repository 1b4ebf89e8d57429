// django-filepond-server's "tus" transport: a FilePond server.process function that sends
// each file with tus-js-client (window.tus, loaded before this script) to the app's tus
// endpoint. tus-js-client remembers every unfinished upload's URL in localStorage, so a file
// picked again after a reload, a crash or a lost connection continues from the byte the
// server holds instead of starting over.
(() => {
  'use strict';

  const registry = (window.DjangoFilePond = window.DjangoFilePond || {});
  registry.transports = registry.transports || {};

  // What the server said (one sentence for the user), else tus-js-client's own message.
  const messageOf = (err) => {
    const response = err && err.originalResponse;
    const body = response && response.getBody && response.getBody();
    return body || (err && err.message) || String(err);
  };

  // tus metadata values are strings: FilePond's item metadata is sent as JSON where it is not.
  const metadataOf = (fieldName, file, itemMetadata) => {
    const metadata = {};
    Object.entries(itemMetadata || {}).forEach(([key, value]) => {
      metadata[key] = typeof value === 'string' ? value : JSON.stringify(value);
    });
    return {
      ...metadata,
      filename: file.name,
      filetype: file.type || '',
      fieldname: fieldName,
    };
  };

  // (config, options) => process: `options` are the pond's FilePond options. The endpoint is
  // `tus/` under server.url; server.headers (the CSRF token) go with every request; chunkSize
  // and chunkRetryDelays mean what they mean for FilePond's own chunks.
  registry.transports.tus = (config, options) => {
    const server = options.server || {};
    const base = new URL(typeof server.url === 'string' ? server.url : '/fp/', window.location.href);
    const endpoint = new URL('tus/', base).href;
    const chunkSize = options.chunkUploads === false ? Infinity : options.chunkSize || Infinity;
    const retryDelays = options.chunkRetryDelays || [500, 1000, 3000];

    return (fieldName, file, itemMetadata, load, error, progress, abort) => {
      if (!window.tus || !window.tus.isSupported) {
        error('tus-js-client is not loaded on this page.');
        return { abort };
      }
      const upload = new window.tus.Upload(file, {
        endpoint,
        chunkSize,
        retryDelays,
        headers: { ...(server.headers || {}) },
        metadata: metadataOf(fieldName, file, itemMetadata),
        // A finished upload is never resumed: picking the same file again sends it again.
        removeFingerprintOnSuccess: true,
        onProgress: (sent, total) => progress(true, sent, total),
        onSuccess: () => load(upload.url.split('/').filter(Boolean).pop()),
        onError: (err) => error(messageOf(err)),
      });
      let cancelled = false;
      upload
        .findPreviousUploads()
        .then((previous) => {
          if (cancelled) return;
          if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
          upload.start();
        })
        .catch((err) => error(messageOf(err)));
      return {
        // Cancelled in the pond: the server removes what it received.
        abort: () => {
          cancelled = true;
          upload.abort(true).catch(() => {});
          abort();
        },
      };
    };
  };
})();
