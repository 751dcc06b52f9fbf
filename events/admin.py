"""The Django admin's "Relay settings" (one row), "Producer keys" and "Subscriber keys" pages."""

from django.contrib import admin
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import escape

from . import config, producer_keys
from .models import ProducerKey, RelaySettings, SubscriberKey


@admin.register(RelaySettings)
class RelaySettingsAdmin(admin.ModelAdmin):
    """One row: the list page opens it, nothing is added or deleted; each field says what an
    empty value falls back to."""

    readonly_fields = ["updated"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        row = RelaySettings.load()
        return redirect(reverse("admin:relayman_events_relaysettings_change", args=[row.pk]))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        name = db_field.name.upper()
        if field is not None and name in config.DEFAULTS:
            # The admin renders help texts as HTML, and the setting may come from anywhere.
            fallback = f"the server's setting ({escape(_describe(name, config.default(name)))})"
            field.help_text = f"{field.help_text} Empty means {fallback}."
            if getattr(field, "choices", None):
                field.choices = [("", "T" + fallback[1:])] + [
                    choice for choice in field.choices if choice[0] != ""
                ]
        return field


def _describe(name: str, value) -> str:
    if name == "ALLOWED_ORIGINS":
        return ", ".join(value) if value else "any origin"
    if name == "PRIVATE_SOURCES":
        return ", ".join(value) if value else "none: every source is public"
    if name == "HISTORY_SOURCES":
        return ", ".join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@admin.register(ProducerKey)
class ProducerKeyAdmin(admin.ModelAdmin):
    """Adding a key shows it once, on the page after saving; afterwards only its id is known."""

    list_display = ["name", "key", "allowed_source_prefixes", "active", "created", "last_used"]
    list_filter = ["active"]
    search_fields = ["name", "key_id", "source_prefixes"]
    readonly_fields = ["key", "created", "last_used"]
    fields = ["name", "source_prefixes", "active", "key", "created", "last_used"]

    @admin.display(description="key")
    def key(self, obj):
        return producer_keys.display(obj.key_id) if obj.key_id else "shown once, after saving"

    @admin.display(description="allowed source prefixes")
    def allowed_source_prefixes(self, obj):
        return ", ".join(producer_keys.parse_prefixes(obj.source_prefixes))

    def save_model(self, request, obj, form, change):
        if not change:
            # Kept on the instance just long enough for response_add to show it.
            obj.issued_key = obj.issue()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "title": f"Copy the key of {obj.name}",
            "opts": self.opts,
            "original": obj,
            "key": obj.issued_key,
            "change_url": reverse("admin:relayman_events_producerkey_change", args=[obj.pk]),
            "changelist_url": reverse("admin:relayman_events_producerkey_changelist"),
        }
        return TemplateResponse(
            request, "admin/relayman_events/producerkey/key_created.html", context
        )


@admin.register(SubscriberKey)
class SubscriberKeyAdmin(admin.ModelAdmin):
    """Keys that verify subscriber tokens naming them in `kid`: add the new one, move the
    backend to it, then untick the old one once its tokens have expired."""

    list_display = ["key_id", "algorithm", "active", "created"]
    list_filter = ["active", "algorithm"]
    search_fields = ["key_id"]
    readonly_fields = ["created"]
    fields = ["key_id", "algorithm", "key", "active", "created"]
