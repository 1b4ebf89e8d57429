// Creates FilePond with the options the test put in ?config= (read by the view into
// <script id="config">); the functions JSON cannot carry are added here.
(() => {
  'use strict';

  const config = JSON.parse(document.getElementById('config').textContent);
  const options = config.options || {};
  const asObject = (value) => (typeof value === 'string' ? { url: value } : value || {});

  if (config.csrf || config.messages) options.server = asObject(options.server);
  if (config.csrf) {
    // Global headers as an object: FilePond sends them on every request, DELETE included.
    options.server.headers = { 'X-CSRFToken': config.csrfToken };
  }
  if (config.messages) {
    // As the form widget's script: FilePond puts what onerror returns into error.body.
    const serverMessage = (body) => body;
    options.server.process = { ...asObject(options.server.process), onerror: serverMessage };
    options.server.patch = { ...asObject(options.server.patch), onerror: serverMessage };
  }
  options.labelFileProcessingError = (error) => (error && error.body) || 'Error during upload';

  // What FilePond reported, for the test to read when an assertion fails.
  window.pondEvents = [];
  const input = document.querySelector('input[type="file"][name="filepond"]');
  window.pond = FilePond.create(input, options);
  for (const name of ['addfile', 'processfile', 'removefile', 'warning', 'error']) {
    window.pond.on(name, (error, item) => {
      window.pondEvents.push({
        event: name,
        error: error ? { code: error.code, body: String(error.body) } : null,
        file: item && item.filename,
      });
    });
  }
})();
