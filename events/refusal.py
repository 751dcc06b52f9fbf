"""An answer to POST /events other than 201: a status and a JSON body that names the problem."""

from django.http import JsonResponse


class Refusal(Exception):
    """Raised anywhere on the way to publishing; the view answers with `response()`.

    The body is `{"detail": <message>}`, or `errors` as given (attribute -> message, or batch
    index -> those), in ASCII: a message may quote producer input.
    """

    def __init__(self, status: int, detail: str = "", *, errors: dict | None = None, headers=None):
        super().__init__(detail or errors)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers

    def response(self) -> JsonResponse:
        body = self.errors if self.errors is not None else {"detail": self.detail}
        return JsonResponse(
            body,
            status=self.status,
            headers=self.headers,
            json_dumps_params={"separators": (",", ":")},
        )
