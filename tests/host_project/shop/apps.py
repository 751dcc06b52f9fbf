from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "tests.host_project.shop"
    label = "shop"

    def ready(self):
        from . import signals  # noqa: F401  (connects the post_save receiver)
