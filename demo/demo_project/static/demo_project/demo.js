// Turns the page's file input into FilePond, set up from the JSON the view wrote into
// <script id="filepond-config"> with Django's json_script (so nothing here is templated).
(() => {
  'use strict';

  const config = JSON.parse(document.getElementById('filepond-config').textContent);
  const input = document.querySelector('input[type="file"][name="filepond"]');
  const form = input.form; // read now: FilePond replaces the input with its own element

  // FilePond puts what onerror returns into error.body; the server's body is one sentence
  // meant for the user (e.g. "The file is larger than ...").
  const serverMessage = (body) => body;

  const pond = FilePond.create(input, {
    server: {
      url: config.server, // FilePond's single-URL defaults: ?patch=, ?restore=, ?load=
      // Global headers as an OBJECT: FilePond sends them on every request. A function or
      // headers on `process` only would leave revert (DELETE) without the CSRF token.
      headers: { 'X-CSRFToken': config.csrfToken },
      process: { onerror: serverMessage },
      patch: { onerror: serverMessage },
    },
    allowMultiple: true,
    allowRevert: true,
    chunkUploads: true,
    chunkSize: config.chunkSize,
    files: config.files,
    fileSizeBase: 1024, // the same sizes as Django's filesizeformat on the document page
    labelFileProcessingError: (error) => (error && error.body) || 'Error during upload',
  });

  // A file still uploading has an empty hidden input and would be lost on submit.
  const busyMessage = document.getElementById('busy-message');
  form.addEventListener('submit', (event) => {
    const busy = pond.status === FilePond.Status.BUSY;
    busyMessage.hidden = !busy;
    if (busy) event.preventDefault();
  });
})();
