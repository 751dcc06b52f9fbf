"""The host's join authorizer: `/shop/accounts/<username>/...` is for that user, signed in."""

from django.contrib.auth import get_user_model


def signed_in_owner(scope, source: str) -> bool:
    """Sync, and it queries the database: Relayman runs it off the event loop."""
    user = scope["user"]
    if not user.is_authenticated:
        return False
    owner = source.removeprefix("/shop/accounts/").partition("/")[0]
    return get_user_model().objects.filter(pk=user.pk, username=owner, is_active=True).exists()
