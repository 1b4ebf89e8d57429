"""The FilePond widget: a file input carrying FilePond's configuration, and the media that
turns it into FilePond."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from django_filepond_server.conf import conf

#: The package's own script: it creates FilePond on every widget (and on formset rows added
#: later) from the configuration the widget rendered. It is not FilePond.
WIDGET_SCRIPT = "django_filepond_server/filepond-widget.js"
#: Its style sheet: the widget's width in the admin's rows, the busy message.
WIDGET_STYLE = "django_filepond_server/filepond-widget.css"
#: The client of direct uploads (``transport="direct"``).
DIRECT_SCRIPT = "django_filepond_server/direct.js"

#: Other ways to send a file than FilePond's own process and PATCH requests: a field's
#: ``transport`` names one, and this maps the name to the scripts its pages load (before
#: the widget's script) to register it as ``window.DjangoFilePond.transports[name]``.
TRANSPORTS: dict[str, Callable[[], list[Any]]] = {
    # Straight to the temporary storage's S3 bucket, or the app's own target (docs: direct).
    "direct": lambda: [DIRECT_SCRIPT],
}


#: Django language codes -> FilePond 4.32 locale modules (``filepond/locale/<name>.js``).
#: English is FilePond's own default, so it loads nothing.
FILEPOND_LOCALES = {
    "am": "am-et",
    "ar": "ar-ar",
    "az": "az-az",
    "ca": "ca-ca",
    "ckb": "ku-ckb",
    "cs": "cs-cz",
    "cy": "cy-cy",
    "da": "da-dk",
    "de": "de-de",
    "el": "el-el",
    "es": "es-es",
    "et": "et-ee",
    "fa": "fa_ir",
    "fi": "fi-fi",
    "fr": "fr-fr",
    "he": "he-he",
    "hr": "hr-hr",
    "hu": "hu-hu",
    "id": "id-id",
    "it": "it-it",
    "ja": "ja-ja",
    "km": "km-km",
    "ko": "ko-kr",
    "lt": "lt-lt",
    "lus": "lus-lus",
    "lv": "lv-lv",
    "nb": "no_nb",
    "nl": "nl-nl",
    "no": "no_nb",
    "pl": "pl-pl",
    "pt": "pt-pt",
    "pt-br": "pt-br",
    "ro": "ro-ro",
    "ru": "ru-ru",
    "sk": "sk-sk",
    "sl": "sl-si",
    "sr": "sr-rs",
    "sv": "sv_se",
    "tr": "tr-tr",
    "uk": "uk-ua",
    "ur": "ur-ur",
    "vi": "vi-vi",
    "zh-cn": "zh-cn",
    "zh-hans": "zh-cn",
    "zh-hant": "zh-tw",
    "zh-hk": "zh-hk",
    "zh-tw": "zh-tw",
}


def asset_url(path: str) -> str:
    """A URL as ``Media`` makes it: absolute URLs and paths as they are, others ``static()``."""
    if path.startswith(("http://", "https://", "/")):
        return path
    return static(path)


class Asset:
    """A ``<script>`` or ``<link>`` with attributes of its own (``integrity``,
    ``crossorigin``...), as ``Media`` renders objects with ``__html__``."""

    def __init__(self, tag: str, url_key: str, attributes: Mapping[str, Any]) -> None:
        self.tag = tag
        self.attributes = {**attributes, url_key: asset_url(str(attributes[url_key]))}

    def __html__(self) -> SafeString:
        attrs = format_html_join(
            "",
            ' {}="{}"',
            ((name, value) for name, value in self.attributes.items() if value is not True),
        )
        bare = format_html_join("", " {}", ((n,) for n, v in self.attributes.items() if v is True))
        if self.tag == "script":
            return format_html("<script{}{}></script>", attrs, bare)
        return format_html("<link{}{}>", attrs, bare)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Asset) and (self.tag, self.attributes) == (
            other.tag,
            other.attributes,
        )

    def __hash__(self) -> int:
        return hash((self.tag, tuple(sorted(self.attributes.items()))))


def _script(entry: Any) -> Any:
    return Asset("script", "src", entry) if isinstance(entry, Mapping) else entry


def _style(entry: Any) -> Any:
    if isinstance(entry, Mapping):
        return Asset("link", "href", {"rel": "stylesheet", **entry})
    return entry


def locale_url() -> str | None:
    """The FilePond locale module of Django's active language, if FilePond has one."""
    base = conf.WIDGET_LOCALE_URL
    language = (get_language() or settings.LANGUAGE_CODE or "en").lower()
    name = FILEPOND_LOCALES.get(language) or FILEPOND_LOCALES.get(language.split("-")[0])
    if base is None or name is None:
        return None
    return asset_url(f"{base}{name}.js")


def csrf_header_name() -> str:
    """The request header Django reads the CSRF token from (``X-CSRFToken`` by default)."""
    meta = settings.CSRF_HEADER_NAME
    if meta == "HTTP_X_CSRFTOKEN":
        return "X-CSRFToken"
    return meta.removeprefix("HTTP_").replace("_", "-")


class FilePondWidget(forms.Widget):
    """A file input that the page's FilePond turns into a pond.

    It renders ``<input type="file">`` with FilePond's options in ``data-filepond``: the
    server URL, the CSRF token in ``server.headers``, the chunk size, the field's rules for
    FilePond's validation plugins and the files to show. ``options`` are more FilePond
    options, passed through as they are (they win over the computed ones).
    """

    template_name = "django_filepond_server/widget.html"
    multiple = False

    def __init__(
        self, attrs: dict[str, Any] | None = None, options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(attrs)
        self.options: dict[str, Any] = dict(options or {})
        #: How files are sent: ``None`` for FilePond's own requests, else a key of
        #: :data:`TRANSPORTS`. Set by the field.
        self.transport: str | None = None
        #: Set by the field when it is bound to a form: the request the page is for.
        self.request: Any = None
        #: Set by the field: the options its rules give (types, size, number of files).
        self.rule_options: dict[str, Any] = {}

    @property
    def media(self) -> forms.Media:
        return forms.Media(
            css={"all": [*(_style(entry) for entry in conf.WIDGET_CSS), WIDGET_STYLE]},
            js=[
                *(_script(entry) for entry in conf.WIDGET_JS),
                *(_script(entry) for entry in self.transport_scripts()),
                WIDGET_SCRIPT,
            ],
        )

    def transport_scripts(self) -> list[Any]:
        if self.transport is None:
            return []
        return TRANSPORTS[self.transport]()

    def use_required_attribute(self, initial: Any) -> bool:
        # FilePond would put `required` on its browse input, which stays empty after
        # uploads; the field checks that files were submitted.
        return False

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if values is None:
            return []
        if isinstance(values, str):
            values = [values]
        return [str(value) for value in values]

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False  # no hidden input at all means every file was removed

    def filepond_options(self, files: list[dict[str, Any]]) -> dict[str, Any]:
        if self.request is None:
            raise ImproperlyConfigured(
                "A FilePondWidget is rendered without the request, so it cannot give FilePond "
                "the CSRF token; render it through a FilePond field of a form made with "
                "request=request."
            )
        return {
            "server": {
                "url": reverse("django_filepond_server:root"),
                "headers": {csrf_header_name(): get_token(self.request)},
            },
            "chunkUploads": True,
            "chunkSize": conf.WIDGET_CHUNK_SIZE,
            "allowMultiple": self.multiple,
            "files": files,
            **self.rule_options,
            **self.options,
        }

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        files = list(value) if isinstance(value, list) else []
        config = {
            "locale": locale_url(),
            "transport": self.transport,
            "options": self.filepond_options(files),
        }
        context["widget"].update(
            {
                "multiple": self.multiple,
                "config": json.dumps(config, separators=(",", ":")),
                "busy_message": _("Wait until every file has finished uploading."),
            }
        )
        return context


class FilePondMultipleWidget(FilePondWidget):
    """The widget of several files."""

    multiple = True


#: The ``"tus"`` transport's own script: a FilePond process function that uploads through
#: tus-js-client, which ``FILEPOND_SERVER_TUS_CLIENT_JS`` loads before it.
TUS_SCRIPT = "django_filepond_server/tus.js"


def _tus_scripts() -> list[Any]:
    return [*conf.TUS_CLIENT_JS, TUS_SCRIPT]


TRANSPORTS["tus"] = _tus_scripts
