"""A URLconf whose /plain answers "other": for tests that switch URLconfs."""

from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("plain", lambda request: HttpResponse("other"))]
