"""The admin's add and change pages with FilePond fields: the forms get the request."""

from __future__ import annotations

from typing import Any

from django_filepond_server.forms.forms import FilePondFormMixin


def with_request(form_class: type[Any], request: Any) -> type[Any]:
    """``form_class`` made with ``request=request`` whenever it is instantiated, if it is
    a FilePond form; any other form class as it is."""
    if not issubclass(form_class, FilePondFormMixin):
        return form_class

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("request", request)
        form_class.__init__(self, *args, **kwargs)

    return type(form_class.__name__, (form_class,), {"__init__": __init__})


class FilePondAdminMixin:
    """Mix into a ``ModelAdmin`` (and its inlines, ``StackedInline`` or ``TabularInline``)
    whose ``form`` is a :class:`~django_filepond_server.forms.FilePondModelForm`."""

    def get_form(self, request: Any, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)  # type: ignore[misc]
        return with_request(form, request)

    def get_formset(self, request: Any, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        formset.form = with_request(formset.form, request)
        return formset
