"""The README's post_save example: every saved order is announced once its transaction commits."""

from django.db.models.signals import post_save
from django.dispatch import receiver

import events

from .models import Order


@receiver(post_save, sender=Order)
def announce_order(sender, instance, created, **kwargs):
    events.publish_on_commit(
        source="/shop/orders",
        type="created" if created else "updated",
        subject=str(instance.pk),
        data={"id": instance.pk, "item": instance.item, "created": instance.created},
    )
