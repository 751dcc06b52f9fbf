"""WhiteNoise serving the admin's static files, without costing POST /events a thread hop.

WhiteNoise's middleware is sync-only, and in an ASGI stack Django runs a sync-only middleware, and
so every request that passes it, through a worker thread. This subclass looks a path up in
WhiteNoise's in-memory table of collected files on the event loop; only a hit goes to a thread.
"""

from asgiref.sync import markcoroutinefunction, sync_to_async
from django.http import HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    sync_capable = False
    async_capable = True

    def __init__(self, get_response, *args, **kwargs):
        super().__init__(get_response, *args, **kwargs)
        markcoroutinefunction(self)

    async def __call__(self, request):
        if self.autorefresh:  # DEBUG: WhiteNoise looks on disk for every request
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is None:
            return await self.get_response(request)
        return await sync_to_async(self._serve_buffered)(static_file, request)

    @classmethod
    def _serve_buffered(cls, static_file, request) -> HttpResponse:
        """WhiteNoise's response read into memory: the admin's files are small, and Django would
        otherwise iterate the file on the event loop (and warn about it)."""
        streamed = cls.serve(static_file, request)
        try:
            response = HttpResponse(b"".join(streamed), status=streamed.status_code)
        finally:
            streamed.close()
        for header, value in streamed.items():
            response[header] = value
        return response
