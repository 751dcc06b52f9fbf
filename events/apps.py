from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    # Namespaced so a host project's own "events" app does not collide with ours.
    label = "relayman_events"
    verbose_name = "Relayman events"
    # Pinned, so a host project's DEFAULT_AUTO_FIELD never asks for a migration of this app.
    default_auto_field = "django.db.models.BigAutoField"
