"""DRF serializers applying the CloudEvents attribute rules of `events.cloudevent`.

Both hand the decoded value to the pure rules whole, with no per-field machinery: the rules
already name each offending attribute, and a batch is judged in one call rather than one child
serializer call per event.
"""

from rest_framework import serializers

from .cloudevent import InvalidEvent, validate_batch, validate_event


def judge(rule, *args):
    """Apply a pure rule; what it refuses (InvalidEvent) becomes DRF's ValidationError, a 400
    carrying the same errors, keyed by attribute (and by index in a batch)."""
    try:
        return rule(*args)
    except InvalidEvent as exc:
        raise serializers.ValidationError(exc.errors) from None


class _JudgedWhole:
    """Judge the whole value with `rule`. A null body too: the rules refuse null and other
    non-objects themselves, with keyed errors, instead of DRF's "No data provided"."""

    rule = None

    def run_validation(self, data=serializers.empty):
        return judge(self.rule, data)


class CloudEventBatchSerializer(_JudgedWhole, serializers.ListSerializer):
    """A batch, all or nothing: errors are keyed by the index of each invalid event."""

    rule = staticmethod(validate_batch)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # DRF binds the child to this serializer (`child.parent`), a reference cycle holding the
        # decoded batch until the cyclic collector finds it: freeing a batch's events there, cold,
        # cost a fifth of its CPU. The batch is judged whole and the child is never asked.
        self.child.parent = None


class CloudEventSerializer(_JudgedWhole, serializers.Serializer):
    """One event: errors are keyed by attribute name, each with one message."""

    rule = staticmethod(validate_event)

    class Meta:
        list_serializer_class = CloudEventBatchSerializer

    def to_representation(self, instance):
        return instance
