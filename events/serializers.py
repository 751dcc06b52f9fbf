"""DRF serializers applying the CloudEvents attribute rules of `events.cloudevent`.

Both hand the decoded value to the pure rules whole, with no per-field machinery: the rules
already name each offending attribute, and a batch is judged in one call rather than one child
serializer call per event.
"""

from rest_framework import serializers

from .cloudevent import InvalidEvent, validate_batch, validate_event


class CloudEventBatchSerializer(serializers.ListSerializer):
    """A batch, all or nothing: errors are keyed by the index of each invalid event."""

    def run_validation(self, data=serializers.empty):
        # A null body is judged like any other non-array, not as DRF's "No data provided".
        return self.to_internal_value(data)

    def to_internal_value(self, data):
        try:
            return validate_batch(data)
        except InvalidEvent as exc:
            raise serializers.ValidationError(exc.errors) from None


class CloudEventSerializer(serializers.Serializer):
    """One event: errors are keyed by attribute name, each with one message."""

    class Meta:
        list_serializer_class = CloudEventBatchSerializer

    def run_validation(self, data=serializers.empty):
        # The rules judge null and non-object bodies themselves, with attribute-keyed errors.
        return self.to_internal_value(data)

    def to_internal_value(self, data):
        try:
            return validate_event(data)
        except InvalidEvent as exc:
            raise serializers.ValidationError(exc.errors) from None

    def to_representation(self, instance):
        return instance
