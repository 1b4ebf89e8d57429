"""Driving pages whose ponds come from FilePond form fields (``{{ form.media }}`` and the
form, nothing else): several ponds per page, found by their field's name."""

from __future__ import annotations

from typing import Any

# What the page knows about the items of the pond of field ``name``: FilePond's API, the
# item's DOM state and the hidden inputs the form submits.
_ITEMS_JS = """(name) => {
  const wrapper = document.querySelector(`.filepond-widget[data-name="${name}"]`);
  const root = wrapper && wrapper.querySelector('.filepond--root');
  if (!root) return null;
  const pond = FilePond.find(root);
  const inputs = [...root.querySelectorAll(`input[type="hidden"][name="${name}"]`)];
  return pond.getFiles().map((item, index) => {
    const el = document.getElementById('filepond--item-' + item.id);
    return {
      name: item.filename,
      serverId: item.serverId,
      origin: item.origin,
      state: el ? el.dataset.filepondItemState || '' : null,
      status: el ? (el.querySelector('.filepond--file-status-main') || {}).textContent : null,
      hidden: inputs[index] === undefined ? null : inputs[index].value,
    };
  });
}"""

_STATES_JS = """([name, expected]) => {
  const wrapper = document.querySelector(`.filepond-widget[data-name="${name}"]`);
  if (!wrapper) return false;
  const items = [...wrapper.querySelectorAll('.filepond--list .filepond--item')];
  const states = items.map((el) => el.dataset.filepondItemState || '').sort();
  return JSON.stringify(states) === JSON.stringify([...expected].sort());
}"""

#: FilePond's ``item.origin`` values.
INPUT, LIMBO, LOCAL = 1, 2, 3


class FormPage:
    """A page with FilePond form fields, read and driven by field name."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def goto(self, path: str, ponds: int) -> FormPage:
        self.page.goto(path)
        self.wait_for_ponds(ponds)
        return self

    def wait_for_ponds(self, count: int) -> None:
        self.page.wait_for_function(
            "(count) => document.querySelectorAll('.filepond-widget .filepond--root').length "
            "=== count",
            arg=count,
        )

    def add(self, name: str, *paths: Any) -> None:
        browse = self.page.locator(f'.filepond-widget[data-name="{name}"] .filepond--browser')
        browse.set_input_files([str(path) for path in paths])

    def items(self, name: str) -> list[dict[str, Any]]:
        return self.page.evaluate(_ITEMS_JS, name)  # type: ignore[no-any-return]

    def wait_for_states(self, name: str, *states: str) -> list[dict[str, Any]]:
        try:
            self.page.wait_for_function(_STATES_JS, arg=[name, list(states)])
        except Exception as exc:
            raise AssertionError(
                f"expected {name} items {sorted(states)}; the page shows {self.items(name)}"
            ) from exc
        return self.items(name)

    def remove(self, name: str, file_name: str) -> None:
        """Press the remove (x) button of the item called ``file_name``."""
        item = self.page.locator(f'.filepond-widget[data-name="{name}"] .filepond--item').filter(
            has=self.page.locator(".filepond--file-info-main", has_text=file_name)
        )
        item.locator(".filepond--action-remove-item").click()
