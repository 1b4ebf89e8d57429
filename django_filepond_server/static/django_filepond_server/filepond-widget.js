// django-filepond-server's form widget: turns every <input type="file" data-filepond> into
// FilePond, with the options the server rendered into data-filepond. FilePond itself (and
// any of its plugins) must be loaded before this script; the widget's Media does that.
(() => {
  'use strict';

  const SELECTOR = 'input[type="file"][data-filepond]';
  // Other ways to send files (a field's `transport`) register here, in scripts of this
  // package loaded before this one: name -> (config, options) => FilePond server.process.
  const registry = (window.DjangoFilePond = window.DjangoFilePond || {});
  registry.transports = registry.transports || {};
  // FilePond's validation plugins, when the page loads them, check types and sizes before
  // anything is sent; the server checks them again in any case.
  const PLUGINS = [
    'FilePondPluginFileValidateType',
    'FilePondPluginFileValidateSize',
  ];
  const plugins = PLUGINS.map((name) => window[name]).filter(Boolean);
  if (plugins.length) window.FilePond.registerPlugin(...plugins);

  // Locale modules (filepond/locale/*.js) are ES modules: import each once.
  const locales = new Map();
  const labelsOf = (url) => {
    if (!url) return Promise.resolve({});
    if (!locales.has(url)) {
      locales.set(url, import(url).then((module) => module.default || {}, () => ({})));
    }
    return locales.get(url);
  };

  // FilePond puts what onerror returns into error.body: the server's answer is one sentence
  // meant for the user ("The file is larger than ...").
  const serverMessage = (body) => body;

  const setUp = async (input) => {
    // The admin's template row of an inline formset is copied when a row is added; only
    // the copies become ponds (on `formset:added`).
    if (input.dataset.filepondReady || input.closest('.empty-form')) return;
    if (input.name.includes('__prefix__')) return;
    input.dataset.filepondReady = 'true';
    const config = JSON.parse(input.dataset.filepond);
    const labels = await labelsOf(config.locale);
    const options = { ...labels, ...config.options };
    const server = { ...options.server };
    server.process = { onerror: serverMessage, ...server.process };
    if (config.transport) {
      const transport = registry.transports[config.transport];
      if (!transport) throw new Error(`No FilePond transport "${config.transport}" is loaded.`);
      server.process = transport(config, options);
    }
    server.patch = { onerror: serverMessage, ...server.patch };
    // A stored (local) file removed in the pond is detached when the form is saved, never
    // deleted right away: answer FilePond's remove here instead of sending a revert.
    server.remove = (source, load) => load();
    options.server = server;
    const fallback = labels.labelFileProcessingError || 'Error during upload';
    options.labelFileProcessingError = (error) => (error && error.body) || fallback;

    const form = input.form;
    const wrapper = input.closest('.filepond-widget');
    // A formset row added in the admin renamed the input (photos-__prefix__-image ->
    // photos-1-image): the wrapper says which field it holds.
    if (wrapper) wrapper.dataset.name = input.name;
    const busy = wrapper && wrapper.querySelector('.filepond-widget-busy');
    const pond = window.FilePond.create(input, options);
    if (form) {
      // A file still uploading has an empty hidden input and would be lost on submit.
      form.addEventListener('submit', (event) => {
        const uploading = pond.status === window.FilePond.Status.BUSY;
        if (busy) busy.hidden = !uploading;
        if (uploading) event.preventDefault();
      });
    }
  };

  const setUpAll = (root) => root.querySelectorAll(SELECTOR).forEach(setUp);

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', () => setUpAll(document));
  } else {
    setUpAll(document);
  }
  // Django's admin announces each inline row added in the browser.
  document.addEventListener('formset:added', (event) => setUpAll(event.target));
})();
