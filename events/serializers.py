"""DRF serializers applying the CloudEvents attribute rules of `cloudevent.validate_event`."""

from rest_framework import serializers

from .cloudevent import InvalidEvent, json_type, validate_event


class CloudEventBatchSerializer(serializers.ListSerializer):
    """A batch, all or nothing: errors are keyed by the index of each invalid event."""

    def run_validation(self, data=serializers.empty):
        # A null body is judged like any other non-array, not as DRF's "No data provided".
        return self.to_internal_value(data)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            raise serializers.ValidationError(
                {"batch": f"a batch must be a JSON array of events, not {json_type(data)}"}
            )
        valid, errors = [], {}
        for index, item in enumerate(data):
            try:
                valid.append(self.child.run_validation(item))
            except serializers.ValidationError as exc:
                errors[str(index)] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        return valid


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
